// A raw HTTP/1.1 client over a TCP socket, for what fetch will not send: partial or stalled requests, bytes
// trickled slowly, odd request lines and headers, several requests on one connection. Not a test file itself.

import * as net from 'node:net';

export interface RawExchange {
  text: string;       // everything the server sent
  closedMs: number;   // when the server closed the connection (ms after connecting), or -1 when it did not
}

/** A pause of `ms` between the parts of a request. */
export interface Pause { waitMs: number }

/**
 * Connects to 127.0.0.1:port, writes `parts` in order (strings as they are, pauses as waits), and collects what
 * the server sends until it closes the connection or `giveUpMs` passes (then the socket is destroyed).
 */
export function exchange(port: number, parts: (string | Buffer | Pause)[], giveUpMs: number): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (closedMs: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('utf8'), closedMs });   // whole, so no character is split
    };
    const timer = setTimeout(() => finish(-1), giveUpMs);
    socket.on('data', (d) => chunks.push(d));
    socket.on('close', () => finish(performance.now() - t0));
    socket.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'ECONNRESET' || e.code === 'EPIPE') finish(performance.now() - t0); else if (!settled) { settled = true; reject(e); } });
    socket.once('connect', async () => {
      for (const p of parts) {
        if (settled) return;
        if (typeof p === 'object' && 'waitMs' in p) await new Promise((r) => setTimeout(r, p.waitMs));
        else socket.write(p);
      }
    });
  });
}

export interface RawResponse { status: number; headers: Record<string, string>; body: string }

/** The final responses in `text`, in order (bodies by Content-Length, or chunked, or to the end); 1xx are skipped. */
export function responses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = Buffer.from(text, 'utf8');
  const CRLF = Buffer.from('\r\n');
  while (rest.subarray(0, 9).toString('latin1') === 'HTTP/1.1 ') {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine, ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
    rest = rest.subarray(end + 4);
    const status = Number(statusLine.split(' ')[1]);
    if (status >= 100 && status < 200) continue;   // an interim response (100 Continue): no body
    const parts: Buffer[] = [];
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      parts.push(rest.subarray(0, n));
      rest = rest.subarray(n);
    } else if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const eol = rest.indexOf(CRLF);
        const size = eol < 0 ? NaN : parseInt(rest.subarray(0, eol).toString('latin1'), 16);
        if (!Number.isFinite(size)) { rest = Buffer.alloc(0); break; }
        parts.push(rest.subarray(eol + 2, eol + 2 + size));
        rest = rest.subarray(eol + 2 + size + 2);
        if (size === 0) break;
      }
    } else {
      parts.push(rest);
      rest = Buffer.alloc(0);
    }
    out.push({ status, headers, body: Buffer.concat(parts).toString('utf8') });
  }
  return out;
}

/** The one response of an exchange; fails when there is not exactly one. */
export function onlyResponse(x: RawExchange): RawResponse {
  const rs = responses(x.text);
  if (rs.length !== 1) throw new Error(`expected one response, got ${rs.length}: ${JSON.stringify(x.text.slice(0, 300))}`);
  return rs[0];
}
