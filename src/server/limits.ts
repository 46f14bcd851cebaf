// Limits against slow or hostile clients, and the answers to requests Node's HTTP parser refuses before any route
// sees them. Node enforces the header and read timeouts, the keep-alive timeout and the connection cap; the
// per-request wall time is the server's (http.ts). Leaves out: the API key (auth.ts), body size (http.ts).

import * as http from 'node:http';
import { ApiError } from './protocol.js';

export interface ServerLimits {
  headerTimeoutMs: number;      // a client has this long from a request's first byte to the end of its headers
  readTimeoutMs: number;        // ... and this long to the end of its body (the whole request)
  keepAliveTimeoutMs: number;   // an idle kept-alive connection is closed after this
  maxConnections: number;       // connections past this many open ones are closed at once, unread
  maxRequestMs: number;         // a request still running this long after it arrived is stopped (504)
}

export const DEFAULT_LIMITS: ServerLimits = {
  headerTimeoutMs: 10_000,
  readTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 256,
  maxRequestMs: 600_000,
};

/** Each limit with the `qiusuo serve` flag that sets it, for error messages. */
const FLAGS: Record<keyof ServerLimits, string> = {
  headerTimeoutMs: '--header-timeout', readTimeoutMs: '--read-timeout', keepAliveTimeoutMs: '--keep-alive-timeout',
  maxConnections: '--max-connections', maxRequestMs: '--max-request-time',
};

/** The defaults with `given` over them; throws naming the limit (and its flag) when one is not a positive integer. */
export function resolveLimits(given: Partial<ServerLimits> = {}): ServerLimits {
  const l = { ...DEFAULT_LIMITS, ...given };
  for (const k of Object.keys(FLAGS) as (keyof ServerLimits)[]) {
    if (!Number.isSafeInteger(l[k]) || l[k] < 1) throw new Error(`limit ${k} (${FLAGS[k]}) must be a positive integer, got ${l[k]}`);
  }
  if (l.headerTimeoutMs > l.readTimeoutMs) {
    throw new Error(`limit headerTimeoutMs (${FLAGS.headerTimeoutMs}, ${l.headerTimeoutMs} ms) must be at most readTimeoutMs (${FLAGS.readTimeoutMs}, ${l.readTimeoutMs} ms): the headers are part of the request`);
  }
  return l;
}

/** An HTTP server that enforces `l`'s timeouts and connection cap. */
export function limitedServer(l: ServerLimits, handler: http.RequestListener): http.Server {
  const server = http.createServer({
    headersTimeout: l.headerTimeoutMs,
    requestTimeout: l.readTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    // Node checks the two timeouts on this period (30 s by default): a tenth of the shorter keeps them close.
    connectionsCheckingInterval: Math.min(1000, Math.max(25, Math.floor(l.headerTimeoutMs / 10))),
  }, handler);
  server.maxConnections = l.maxConnections;
  return server;
}

/**
 * The answer to a request Node's parser gave up on (bad syntax, headers too large, too slow), or null when
 * there is no one to answer (the connection broke).
 */
export function clientErrorAnswer(err: NodeJS.ErrnoException & { reason?: string }, l: ServerLimits): ApiError | null {
  const code = err.code ?? '';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new ApiError(408, `The request did not arrive in time: its headers must arrive within ${seconds(l.headerTimeoutMs)} s (--header-timeout) `
      + `and the whole request within ${seconds(l.readTimeoutMs)} s (--read-timeout) of its first byte.`, 'invalid_request_error', null, 'request_timeout');
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    return new ApiError(431, `The request headers are larger than this server accepts (${http.maxHeaderSize} bytes in all).`, 'invalid_request_error', null, 'headers_too_large');
  }
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
    return new ApiError(413, 'The chunk extensions of the request body (Transfer-Encoding: chunked) are too large.', 'invalid_request_error', null, 'request_too_large');
  }
  if (code.startsWith('HPE_')) {
    return new ApiError(400, `The request is not valid HTTP/1.1 (${code}: ${err.reason ?? err.message}).`, 'invalid_request_error', null, 'invalid_http');
  }
  return null;
}

/** A whole HTTP/1.1 response carrying an OpenAI error body, for a socket no ServerResponse writes to. */
export function rawErrorResponse(e: ApiError): string {
  const body = JSON.stringify(e.toJSON());
  return `HTTP/1.1 ${e.status} ${http.STATUS_CODES[e.status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\n`
    + `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

const seconds = (ms: number): string => String(ms / 1000);
