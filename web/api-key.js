// The API key for the pages of a server started with --api-key. The first request the server refuses (401) opens
// a small dialog that asks for the key; the key is then sent as "Authorization: Bearer KEY" with every request
// the page makes. It lives in this page's memory only: never localStorage, sessionStorage, cookies or the URL, so a
// reload asks again. A refused key shows the server's reason and asks again. Leaves out: the pages' own logic.

const STYLE = `
  #api-key-dialog { max-width: min(420px, 92vw); padding: 20px 22px; border: 1px solid rgb(127 127 127 / 0.35);
    border-radius: 12px; font: inherit; color: inherit; background: Canvas; box-shadow: 0 12px 40px rgb(0 0 0 / 0.25); }
  #api-key-dialog::backdrop { background: rgb(0 0 0 / 0.35); }
  #api-key-dialog h2 { margin: 0 0 6px; font-size: 16px; }
  #api-key-dialog p { margin: 0 0 12px; font-size: 14px; line-height: 1.45; }
  #api-key-dialog p[data-refused="true"] { color: #c62828; }
  #api-key-dialog input { box-sizing: border-box; width: 100%; padding: 8px 10px; font: inherit; border-radius: 8px;
    border: 1px solid rgb(127 127 127 / 0.5); background: Field; color: FieldText; }
  #api-key-dialog .actions { display: flex; justify-content: flex-end; margin-top: 14px; }
  #api-key-dialog button { padding: 7px 14px; font: inherit; border-radius: 8px; border: 1px solid rgb(127 127 127 / 0.5); cursor: pointer; }
`;

/** The dialog, built on first use: {dialog, reason, input}. */
function keyDialog() {
  const existing = document.getElementById('api-key-dialog');
  if (existing) return { dialog: existing, reason: existing.querySelector('#api-key-reason'), input: existing.querySelector('#api-key-input') };
  const style = document.createElement('style');
  style.textContent = STYLE;
  document.head.append(style);
  const dialog = document.createElement('dialog');
  dialog.id = 'api-key-dialog';
  dialog.innerHTML = `<form method="dialog">
      <h2>API key</h2>
      <p id="api-key-reason" role="alert"></p>
      <input id="api-key-input" type="password" autocomplete="off" spellcheck="false" aria-label="API key" required>
      <div class="actions"><button id="api-key-submit" value="ok">Use this key</button></div>
    </form>`;
  document.body.append(dialog);
  return { dialog, reason: dialog.querySelector('#api-key-reason'), input: dialog.querySelector('#api-key-input') };
}

/** Opens the dialog with `message`; resolves with the key typed, or rejects when it is closed without one. */
function askForKey(message, refused) {
  const { dialog, reason, input } = keyDialog();
  reason.textContent = message;
  reason.dataset.refused = String(refused);
  input.value = '';
  dialog.showModal();
  input.focus();
  return new Promise((resolve, reject) => {
    dialog.addEventListener('close', () => {
      const key = input.value.trim();
      input.value = '';
      if (dialog.returnValue === 'ok' && key) resolve(key);
      else reject(new Error('This server needs an API key, and none was given.'));
    }, { once: true });
  });
}

/** The message of an OpenAI-style error body, or the HTTP status. */
async function refusalText(response) {
  const body = await response.json().catch(() => null);
  const message = body?.error?.message;
  return typeof message === 'string' && message ? message : `HTTP ${response.status}`;
}

/**
 * A fetch for this page's requests to its server: adds the key once there is one; on a 401 asks for a key (one
 * dialog however many requests were refused meanwhile) and sends the request again with it.
 */
export function createKeyedFetch() {
  let key = null;       // the key in use; null until the server first asks for one
  let asking = null;    // the open dialog's promise of a key
  return async function keyedFetch(url, init = {}) {
    for (;;) {
      const sent = key;
      const headers = new Headers(init.headers);
      if (sent !== null) headers.set('Authorization', `Bearer ${sent}`);
      const response = await fetch(url, { ...init, headers });
      if (response.status !== 401) return response;
      const why = await refusalText(response);
      if (key !== sent) continue;   // another request got a new key meanwhile: use it
      if (!asking) {
        const message = sent === null ? 'This server needs the API key it was started with (--api-key).'
          : `The server refused this key: ${why} Enter the key again.`;
        asking = askForKey(message, sent !== null).finally(() => { asking = null; });
      }
      key = await asking;
    }
  };
}
