// The HTTP layer of `qiusuo serve` and `qiusuo dashboard`: routes, the API key, request bodies with a size limit,
// a wall-time limit per request, JSON and Server-Sent Events responses in OpenAI's format, the web pages, /health
// and /metrics, and a graceful close. Everything about generation is the Engine's; a bad request is always a 4xx
// with an OpenAI error body, also when Node's parser refuses it (limits.ts).

import * as http from 'node:http';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Engine } from './engine.js';
import { ApiError, invalid } from './protocol.js';
import { ApiKey } from './auth.js';
import { clientErrorAnswer, limitedServer, rawErrorResponse, resolveLimits, type ServerLimits } from './limits.js';
import { ServerMetrics } from './metrics.js';
import { readRunLog } from './run-log.js';
import type { RunSet, ShownRun } from './run-set.js';
import { staticAsset, type Asset } from './static.js';

export interface ServerOptions {
  engine?: Engine;           // the model served under /v1 (absent for a dashboard-only server)
  runDir?: string;           // a training run shown at /dashboard
  runs?: RunSet;             // or several, compared on one set of charts (run-set.ts)
  maxBodyBytes?: number;     // request bodies above this get 413 (default 1 MiB)
  apiKey?: string;           // when set, every route but /health and the page files needs `Authorization: Bearer KEY`
  limits?: Partial<ServerLimits>;   // timeouts and caps against slow or hostile clients (defaults in limits.ts)
  log?: (line: string) => void;
}

export const DEFAULT_MAX_BODY_BYTES = 1 << 20;
/** A body over the limit is read to its end (so the client sees the 413) up to this many bytes, then cut off. */
const DRAIN_LIMIT = 64 << 20;
const CLIENT_CLOSED = 499;
/** Served without the API key: the health check, and the page files (the same as in the npm package, no data). */
const isOpen = (pathname: string): boolean => pathname === '/health' || pathname === '/' || pathname === '/dashboard' || pathname.startsWith('/static/');

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void> | void;
interface Route { method: 'GET' | 'POST'; handler: Handler }

export class QiusuoServer {
  readonly http: http.Server;
  readonly metrics = new ServerMetrics();
  private readonly routes = new Map<string, Route>();
  private readonly maxBody: number;
  private readonly limits: ServerLimits;
  private readonly key: ApiKey | null;
  /** The response being written on each connection, so an error Node's parser raises there is answered through it. */
  private readonly responses = new WeakMap<Duplex, http.ServerResponse>();
  private closing = false;

  constructor(private readonly o: ServerOptions) {
    if (!o.engine && !o.runDir && !o.runs) throw new Error('a server needs a model (engine) or a run folder (runDir or runs)');
    if (o.runDir && o.runs) throw new Error('give a server runDir or runs, not both');
    this.maxBody = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.limits = resolveLimits(o.limits);
    this.key = o.apiKey !== undefined ? new ApiKey(o.apiKey) : null;
    this.http = limitedServer(this.limits, (req, res) => { void this.handle(req, res); });
    this.http.on('clientError', (err: Error, socket: Duplex) => this.clientError(err, socket));
    this.http.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const expect = String(req.headers.expect).slice(0, 100);
      void this.handle(req, res, new ApiError(417, `The Expect header ${JSON.stringify(expect)} is not supported (only "100-continue").`, 'invalid_request_error', null, 'expectation_failed'));
    });
    this.http.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
      socket.end(rawErrorResponse(new ApiError(405, 'The CONNECT method is not supported: this server is not a proxy.', 'invalid_request_error', null, 'method_not_allowed')));
    });
    this.http.on('connection', (socket: Duplex) => {
      this.metrics.openConnections += 1;
      socket.once('close', () => { this.metrics.openConnections -= 1; });
    });
    this.http.on('drop', () => { this.metrics.droppedConnections += 1; });

    this.get('/health', (_q, res) => this.health(res));
    this.get('/metrics', (_q, res) => send(res, 200, this.metrics.render(o.engine?.stats() ?? null), 'text/plain; version=0.0.4; charset=utf-8'));
    if (o.engine) {
      const engine = o.engine;
      this.get('/', (_q, res) => this.asset(res, 'chat.html'));
      this.get('/v1/models', (_q, res) => json(res, 200, engine.models.list()));
      this.post('/v1/chat/completions', (q, res) => this.complete(q, res, (b, signal) => engine.chat.completions.create(b, { signal })));
      this.post('/v1/completions', (q, res) => this.complete(q, res, (b, signal) => engine.completions.create(b, { signal })));
    } else {
      this.get('/', (_q, res) => { res.writeHead(302, { location: '/dashboard' }).end(); });
    }
    // One run: its dashboard; several, or an experiment's: the compare view. /api/run is the first run's log.
    this.get('/dashboard', (_q, res) => this.asset(res, this.shownRuns().compare ? 'compare.html' : 'dashboard.html'));
    this.get('/api/run', (_q, res, url) => json(res, 200, readRunLog(this.shownRuns().runs[0].dir, fromOffset(url))));
    this.get('/api/runs', (_q, res) => {
      const { experiment, compare, runs } = this.shownRuns();
      json(res, 200, { experiment, compare, runs: runs.map((r, index) => ({ index, label: r.label, run: path.basename(path.resolve(r.dir)), arm: r.arm ?? null, seed: r.seed ?? null })) });
    });
  }

  /** Listens on host:port (port 0 picks a free one); resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => { this.http.off('error', reject); resolve(this.http.address() as AddressInfo); });
    });
  }

  /**
   * Graceful close: stop accepting connections, let running requests finish for up to `graceMs` (the rest end with
   * a 503 "shutting_down" error), then close every connection and free the model.
   */
  async close(graceMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((r) => this.http.close(() => r()));
    this.http.closeIdleConnections();
    await this.o.engine?.close(graceMs);
    this.http.closeAllConnections();
    await closed;
  }

  private get(path: string, handler: Handler): void { this.routes.set(path, { method: 'GET', handler }); }
  private post(path: string, handler: Handler): void { this.routes.set(path, { method: 'POST', handler }); }

  /** Answers one request; with `refusal`, that error whatever the route (a request Node flagged before routing). */
  private async handle(req: http.IncomingMessage, res: http.ServerResponse, refusal?: ApiError): Promise<void> {
    const t0 = performance.now();
    const url = requestUrl(req.url ?? '/');
    const route = url ? this.routeFor(url.pathname) : null;
    this.metrics.inFlight += 1;
    this.responses.set(req.socket, res);
    res.on('error', () => {});   // writing to a client that left fails; the 'close' handler below accounts for it
    res.once('close', () => {
      if (this.responses.get(req.socket) === res) this.responses.delete(req.socket);
      // A response that never finished: the client went away first (counted as 499, nginx's "client closed request").
      const status = res.writableFinished ? res.statusCode : CLIENT_CLOSED;
      this.metrics.inFlight -= 1;
      this.metrics.countRequest(route?.path ?? 'other', status);
      this.o.log?.(`${req.method} ${url?.pathname ?? req.url} ${status} ${(performance.now() - t0).toFixed(0)}ms`);
    });
    try {
      if (refusal) throw refusal;
      if (!url) throw invalid(`The request target ${JSON.stringify(req.url)} is not a valid path.`, null, 'invalid_url');
      if (this.key && !isOpen(url.pathname)) {
        const unauthorized = this.key.refusal(req.headers.authorization);
        if (unauthorized) throw unauthorized;
      }
      if (!route) throw new ApiError(404, `Invalid URL (${req.method} ${url.pathname})`, 'not_found_error', null, 'unknown_url');
      if (req.method !== route.route.method && !(req.method === 'HEAD' && route.route.method === 'GET')) {
        res.setHeader('allow', route.route.method);
        throw new ApiError(405, `Method ${req.method} is not allowed on ${url.pathname} (use ${route.route.method}).`, 'invalid_request_error', null, 'method_not_allowed');
      }
      await route.route.handler(req, res, url);
    } catch (e) {
      this.fail(res, e);
    }
  }

  private routeFor(pathname: string): { path: string; route: Route } | null {
    const exact = this.routes.get(pathname);
    if (exact) return { path: pathname, route: exact };
    const runLog = /^\/api\/runs\/([^/]*)\/metrics$/.exec(pathname);
    if (runLog) return { path: '/api/runs/:i/metrics', route: { method: 'GET', handler: (_q, res, url) => this.runMetrics(res, decodePath(runLog[1]), url) } };
    if (pathname.startsWith('/static/')) return { path: '/static', route: { method: 'GET', handler: (_q, res) => this.asset(res, pathname.slice(8)) } };
    const model = /^\/v1\/models\/(.+)$/.exec(pathname);
    if (model && this.o.engine) return { path: '/v1/models/:id', route: { method: 'GET', handler: (_q, res) => this.model(res, decodePath(model[1])) } };
    return null;
  }

  /** The training runs this server shows, and whether as a comparison; 404 when it was started without --run. */
  private shownRuns(): RunSet & { compare: boolean } {
    if (this.o.runs) return { ...this.o.runs, compare: this.o.runs.runs.length > 1 || this.o.runs.experiment !== null };
    if (this.o.runDir) return { experiment: null, runs: [{ label: path.basename(path.resolve(this.o.runDir)), dir: this.o.runDir }], compare: false };
    throw new ApiError(404, 'No training run is shown here: start the server with --run DIR or --experiment DIR.', 'not_found_error', null, 'no_run');
  }

  /** Run `index`'s log from ?from=, as /api/run gives it, with the run's index and label. */
  private runMetrics(res: http.ServerResponse, index: string, url: URL): void {
    const { runs } = this.shownRuns();
    const run: ShownRun | undefined = /^(0|[1-9]\d{0,8})$/.test(index) ? runs[Number(index)] : undefined;
    if (!run) {
      throw new ApiError(404, `No run ${JSON.stringify(index)} here: the runs are numbered 0 to ${runs.length - 1} (GET /api/runs lists them).`, 'not_found_error', null, 'unknown_run');
    }
    json(res, 200, { index: Number(index), label: run.label, ...readRunLog(run.dir, fromOffset(url)) });
  }

  private health(res: http.ServerResponse): void {
    const s = this.o.engine?.stats();
    const body = { status: this.closing ? 'shutting_down' : 'ok', model: this.o.engine?.modelId ?? null, running: s?.running ?? 0, queued: s?.queued ?? 0 };
    json(res, this.closing ? 503 : 200, body);
  }

  private model(res: http.ServerResponse, id: string): void {
    const m = this.o.engine!.models.list().data.find((x) => x.id === id);
    if (!m) throw new ApiError(404, `The model '${id}' does not exist.`, 'not_found_error', 'model', 'model_not_found');
    json(res, 200, m);
  }

  private async asset(res: http.ServerResponse, name: string): Promise<void> {
    const a: Asset | null = await staticAsset(name);
    if (!a) throw new ApiError(404, `No such file: /static/${name}`, 'not_found_error', null, 'unknown_url');
    send(res, 200, a.body, a.type, { 'cache-control': 'no-cache' });
  }

  /**
   * A completion request: JSON in; a JSON response, or an SSE stream. A client disconnect cancels it, and so does
   * running past --max-request-time (counted from its arrival, reading the body included), with a 504 error.
   */
  private async complete(req: http.IncomingMessage, res: http.ServerResponse, create: (body: unknown, signal: AbortSignal) => Promise<object>): Promise<void> {
    const stop = new AbortController();
    const seconds = this.limits.maxRequestMs / 1000;
    const timer = setTimeout(() => stop.abort(new ApiError(504, `The request ran longer than this server allows (${seconds} s, --max-request-time) and was stopped; `
      + 'ask for fewer tokens, or retry when the server is less busy.', 'server_error', null, 'request_timeout')), this.limits.maxRequestMs);
    res.once('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) stop.abort(new Error('the client disconnected'));
    });
    const body = await this.readJson(req, stop.signal);
    const result = await create(body, stop.signal);
    if (!(Symbol.asyncIterator in result)) return json(res, 200, result);

    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    try {
      for await (const chunk of result as AsyncIterable<unknown>) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      res.end('data: [DONE]\n\n');
    } catch (e) {
      if (res.destroyed) return;   // the client went away: nobody to tell
      res.end(`data: ${JSON.stringify(asApiError(e).toJSON())}\n\n`);
    }
  }

  /** The body as JSON; stopping with `signal`'s reason when it aborts before the body is in. */
  private async readJson(req: http.IncomingMessage, signal: AbortSignal): Promise<unknown> {
    const declared = Number(req.headers['content-length'] ?? NaN);
    const chunks: Buffer[] = [];
    let total = 0;
    let onAbort = (): void => {};
    const aborted = new Promise<never>((_, reject) => { onAbort = () => reject(signal.reason); });
    signal.addEventListener('abort', onAbort, { once: true });
    const body = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    try {
      for (let c = await Promise.race([body.next(), aborted]); !c.done; c = await Promise.race([body.next(), aborted])) {
        total += c.value.length;
        if (total > DRAIN_LIMIT) { req.destroy(); break; }
        if (total <= this.maxBody) chunks.push(c.value);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (total > this.maxBody || declared > this.maxBody) {
      throw new ApiError(413, `The request body is ${total > DRAIN_LIMIT ? `over ${DRAIN_LIMIT}` : Math.max(total, declared || 0)} bytes; the limit is ${this.maxBody}.`, 'invalid_request_error', null, 'request_too_large');
    }
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      return JSON.parse(text);
    } catch (e) {
      throw invalid(`We could not parse the JSON body of your request (${(e as Error).message}). Send a JSON object with Content-Type: application/json.`, null, 'invalid_json');
    }
  }

  /** Answers with `e`'s error body; `closeConnection` when the connection cannot carry another request. */
  private fail(res: http.ServerResponse, e: unknown, closeConnection = false): void {
    if (res.destroyed) return;                  // the client is gone (and its request was cancelled): nobody to answer
    const err = asApiError(e);
    if (err.status >= 500 && !(e instanceof ApiError)) this.o.log?.(`internal error: ${(e as Error)?.stack ?? String(e)}`);
    if (res.headersSent) { res.end(); return; }
    if (err.status === 429) res.setHeader('retry-after', '1');
    if (err.status === 401) res.setHeader('www-authenticate', 'Bearer realm="qiusuo"');
    if (err.status === 504) res.setHeader('x-should-retry', 'false');   // the same request would run as long again
    // A body cut off by the time limit is still arriving: the connection cannot carry another request.
    if (closeConnection || (err.status === 504 && !res.req.complete)) res.setHeader('connection', 'close');
    json(res, err.status, err.toJSON());
  }

  /** A request Node's parser refused or timed out: answered on its response when it has one, else on the socket. */
  private clientError(err: Error, socket: Duplex): void {
    const answer = clientErrorAnswer(err, this.limits);
    const res = this.responses.get(socket);
    if (answer && res && !res.headersSent) this.fail(res, answer, true);
    else if (answer && !res && socket.writable) socket.end(rawErrorResponse(answer));
    else socket.destroy();
  }
}

/** The ?from= byte offset of a run-log request (0 when absent). */
function fromOffset(url: URL): number {
  const from = url.searchParams.get('from') ?? '0';
  if (!/^\d+$/.test(from)) throw invalid(`'from' must be a byte offset (a non-negative integer), got "${from}".`, 'from');
  return Number(from);
}

/** A percent-encoded path segment, or the segment as it is when its encoding is malformed. */
function decodePath(segment: string): string {
  try { return decodeURIComponent(segment); } catch { return segment; }
}

/** The request target as a URL: origin-form paths ("/v1/models?x=1") are taken literally ("//" is a path, not a host). */
function requestUrl(target: string): URL | null {
  try {
    return new URL(target.startsWith('/') ? `http://localhost${target}` : target);
  } catch {
    return null;
  }
}

/** Errors the engine raises for input are ApiErrors already; anything else is the server's fault (500). */
function asApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError(500, `Internal error: ${(e as Error)?.message ?? String(e)}`, 'server_error', null, 'internal_error');
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  send(res, status, JSON.stringify(body), 'application/json; charset=utf-8');
}

function send(res: http.ServerResponse, status: number, body: string | Buffer, type: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
