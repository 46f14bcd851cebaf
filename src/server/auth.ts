// The API key of `--api-key`: a request passes when it carries `Authorization: Bearer KEY`, otherwise it gets
// OpenAI's 401 body (code "invalid_api_key"). The key is compared in constant time: both sides are hashed with
// SHA-256 first, so neither the key's length nor a matching prefix shows in the timing. Leaves out: which routes
// are open without a key (http.ts).

import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from './protocol.js';

/** Visible ASCII without spaces: what an Authorization header carries unchanged through every client. */
const KEY_CHARS = /^[\x21-\x7e]+$/;

/** Checks a key given by the user (`where` names the flag or variable it came from); returns it unchanged. */
export function validateApiKey(key: string, where: string): string {
  if (key.length === 0) throw new Error(`${where} is empty: give a key of at least 1 character, or leave it out`);
  if (!KEY_CHARS.test(key)) {
    const at = [...key].findIndex((c) => !KEY_CHARS.test(c));
    throw new Error(`${where} must be visible ASCII characters without spaces (letters, digits, punctuation); character ${at + 1} of the key is not`);
  }
  return key;
}

export class ApiKey {
  private readonly digest: Buffer;

  constructor(key: string) {
    this.digest = sha256(validateApiKey(key, 'the API key'));
  }

  /** null when `authorization` (the header's value) carries this key; otherwise the 401 error to answer with. */
  refusal(authorization: string | undefined): ApiError | null {
    if (authorization === undefined || authorization.trim() === '') {
      return unauthorized('No API key was given: this server needs one in the Authorization header (Authorization: Bearer YOUR_KEY).');
    }
    const bearer = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!bearer) return unauthorized('The Authorization header must read "Bearer YOUR_KEY" (the Bearer scheme, one key).');
    if (!timingSafeEqual(sha256(bearer[1]), this.digest)) return unauthorized('The API key in the Authorization header is not this server\'s key.');
    return null;
  }
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

const unauthorized = (message: string): ApiError => new ApiError(401, message, 'invalid_request_error', null, 'invalid_api_key');
