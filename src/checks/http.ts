import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { z } from 'zod';
import { toHttpUrl } from '../validation.ts';
import { bool, excerpt, str, timeoutSeconds, withDefault } from './params.ts';
import { defineCheck, type CheckContext, type CheckOutcome } from './types.ts';

/** How much of the body we search for expect_substring: a huge or endless body costs at most this. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Requests per run, as Go's default client: the 10th redirect response ends the run. */
export const MAX_REQUESTS = 10;
export const USER_AGENT = 'bearmon/0.1 (uptime monitor)';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Bytes Node accepts in a header value: no CR, LF or other control characters. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Framing headers we compute ourselves (Go ignores them in Request.Header too). */
const FRAMING = new Set(['Connection', 'Content-Length', 'Transfer-Encoding', 'Trailer', 'Host']);
/** Credentials that must not follow a redirect to another host (Go's rule). */
const SENSITIVE = ['Authorization', 'Www-Authenticate', 'Cookie', 'Cookie2'];

const urlSchema = z
  .string()
  .max(4096)
  .transform((value) => value.trim())
  .transform(toHttpUrl('protocol'));

const headersSchema = z
  .record(z.string(), z.string().max(8192).regex(HEADER_VALUE, 'header values must not contain CR, LF or other control characters'))
  .superRefine((headers, ctx) => {
    const names = Object.keys(headers);
    if (names.length > 100) ctx.addIssue({ code: 'custom', message: 'at most 100 headers', input: names.length });
    for (const name of names) {
      if (!TOKEN.test(name) || name.length > 256) {
        ctx.addIssue({ code: 'custom', message: 'header names must be HTTP tokens', path: [name], input: name });
      }
    }
  });

export const schema = z.object({
  url: urlSchema,
  /** Empty means gobearmon's default: GET, or POST when a body is set (see requestMethod). */
  method: withDefault(z.string().max(64).regex(TOKEN, 'methods must be HTTP tokens'), ''),
  body: withDefault(z.string().max(64 * 1024), ''),
  headers: withDefault(headersSchema, {}),
  timeout: timeoutSeconds(),
  insecure: bool(),
  username: str(),
  password: str(),
  expect_status: withDefault(z.number().int().min(0).max(999), 0),
  expect_substring: str(),
});
export type HttpParams = z.output<typeof schema>;

/** Node upper-cases methods on the wire anyway; doing it here keeps redirect rules exact. */
function requestMethod(params: HttpParams): string {
  return (params.method || (params.body ? 'POST' : 'GET')).toUpperCase();
}

/** One request of the exchange; redirects produce the next one. */
interface Hop {
  url: URL;
  method: string;
  body: string;
  headers: Record<string, string>;
}

/** Go's CanonicalMIMEHeaderKey, so user headers dedupe case-insensitively and look like Go's on the wire. */
function canonical(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

function firstHop(params: HttpParams): Hop {
  const headers: Record<string, string> = { 'User-Agent': USER_AGENT };
  let host: string | undefined;
  for (const [name, value] of Object.entries(params.headers)) {
    const key = canonical(name);
    if (key === 'Host') host = value;
    if (!FRAMING.has(key)) headers[key] = value;
  }
  if (host !== undefined) headers.Host = host;
  if (params.username) {
    headers.Authorization = `Basic ${Buffer.from(`${params.username}:${params.password}`).toString('base64')}`;
  }
  return { url: params.url, method: requestMethod(params), body: params.body, headers };
}

function isDomainOrSubdomain(sub: string, parent: string): boolean {
  return sub === parent || sub.endsWith(`.${parent}`);
}

/** The request a redirect leads to, following Go's net/http rules; a string is why we stop. */
function redirectHop(hop: Hop, status: number, location: string): Hop | string {
  let url: URL;
  try {
    url = new URL(location, hop.url);
  } catch {
    return `invalid redirect location [${excerpt(location)}]`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `redirect to unsupported protocol "${url.protocol}"`;
  const keepBody = status === 307 || status === 308;
  const method = keepBody || hop.method === 'GET' || hop.method === 'HEAD' ? hop.method : 'GET';
  const headers = { ...hop.headers };
  if (!keepBody) delete headers['Content-Type'];
  if (!isDomainOrSubdomain(url.hostname, hop.url.hostname)) for (const name of SENSITIVE) delete headers[name];
  // A Host override survives only a relative Location, as in Go.
  if (/^[a-z][a-z0-9+.-]*:/i.test(location)) delete headers.Host;
  return { url, method, body: keepBody ? hop.body : '', headers };
}

/**
 * The requests of one run under one timeout (like Go's http.Client.Timeout): cancelling
 * destroys every socket, which fails whatever is pending; a request started after that
 * is destroyed at once.
 */
class Exchange {
  cancelled = false;
  private readonly requests: http.ClientRequest[] = [];

  track(req: http.ClientRequest): void {
    this.requests.push(req);
    if (this.cancelled) req.destroy();
  }

  readonly cancel = (): void => {
    this.cancelled = true;
    this.close();
  };

  close(): void {
    for (const req of this.requests) req.destroy();
  }
}

/** Sends one request; resolves with the response head. */
function send(hop: Hop, params: HttpParams, ctx: CheckContext, exchange: Exchange) {
  return new Promise<http.IncomingMessage>((resolve, reject) => {
    const transport = hop.url.protocol === 'https:' ? https : http;
    const headers: Record<string, string | number> = { ...hop.headers, Connection: 'close' };
    if (hop.body) headers['Content-Length'] = Buffer.byteLength(hop.body);
    const req = transport.request(hop.url, {
      method: hop.method,
      headers,
      agent: false, // a fresh connection per run: no keep-alive reuse
      localAddress: ctx.sourceAddress,
      family: ctx.sourceAddress ? net.isIP(ctx.sourceAddress) : undefined,
      // Node takes SNI and the name the certificate is verified against from a Host
      // override when there is one (Go used the URL's host): checking a site on one IP works.
      rejectUnauthorized: !params.insecure,
    });
    req.on('error', reject); // stays attached: errors after we settle must not crash the worker
    req.once('response', (res) => {
      res.on('error', () => {});
      resolve(res);
    });
    exchange.track(req);
    req.end(hop.body || undefined);
  });
}

type BodySearch = 'found' | 'ended' | 'truncated';

/** The body broke off (or the exchange was cancelled while reading it). */
class BodyError extends Error {}

/**
 * Streams at most MAX_BODY_BYTES looking for `needle`, keeping only a needle-sized tail
 * between chunks, so memory stays bounded whatever the server sends.
 */
function searchBody(res: http.IncomingMessage, needle: Buffer): Promise<BodySearch> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    let tail = Buffer.alloc(0);
    const settle = (result: BodySearch) => {
      res.removeAllListeners('data').removeAllListeners('end');
      resolve(result);
    };
    res.on('data', (chunk: Buffer) => {
      const part = chunk.subarray(0, MAX_BODY_BYTES - seen);
      seen += part.length;
      const window = Buffer.concat([tail, part]);
      if (window.includes(needle)) return settle('found');
      if (seen >= MAX_BODY_BYTES) return settle('truncated');
      tail = window.subarray(Math.max(0, window.length - needle.length + 1));
    });
    res.once('end', () => settle('ended'));
    res.once('close', () => {
      if (!res.complete) reject(new BodyError(`error reading HTTP response body: connection closed after ${seen} bytes`));
    });
  });
}

function describeError(err: NodeJS.ErrnoException): string {
  const code = err.code && !err.message.includes(err.code) ? `${err.code}: ` : '';
  return `HTTP request failed: ${code}${err.message}`;
}

function offline(message: string): CheckOutcome {
  return { status: 'offline', message };
}

function judgeStatus(res: http.IncomingMessage, params: HttpParams): CheckOutcome | undefined {
  const status = res.statusCode ?? 0;
  if (params.expect_status !== 0 && status !== params.expect_status) {
    return offline(`status mismatch, got ${status} but expected ${params.expect_status}`);
  }
  return undefined;
}

/** Judges the final response: status first (as gobearmon), then the body. */
async function judge(res: http.IncomingMessage, params: HttpParams): Promise<CheckOutcome | undefined> {
  const wrongStatus = judgeStatus(res, params);
  if (wrongStatus) return wrongStatus;
  const found = await searchBody(res, Buffer.from(params.expect_substring));
  if (found === 'found') return undefined;
  const where = found === 'truncated' ? `the first ${MAX_BODY_BYTES / 1024 / 1024} MiB of the response body` : 'the response body';
  return offline(`expected substring [${params.expect_substring}] was not found in ${where}`);
}

/** Sends the request and follows redirects; resolves with the final response. */
async function exchangeAll(params: HttpParams, ctx: CheckContext, exchange: Exchange) {
  let hop = firstHop(params);
  for (let sent = 1; ; sent++) {
    const res = await send(hop, params, ctx, exchange);
    const location = res.headers.location;
    // As Go: a 3xx without a Location is the final response.
    if (!REDIRECTS.has(res.statusCode ?? 0) || !location) return res;
    res.destroy();
    if (sent >= MAX_REQUESTS) return `stopped after ${MAX_REQUESTS} redirects`;
    const next = redirectHop(hop, res.statusCode ?? 0, location);
    if (typeof next === 'string') return next;
    hop = next;
  }
}

export async function run(params: HttpParams, ctx: CheckContext): Promise<CheckOutcome> {
  const started = ctx.now();
  const exchange = new Exchange();
  // The runner aborts ctx.signal at the deadline (the timeout): no timer of our own.
  ctx.signal.addEventListener('abort', exchange.cancel, { once: true });
  if (ctx.signal.aborted) exchange.cancel();
  try {
    const res = await exchangeAll(params, ctx, exchange);
    if (typeof res === 'string') return offline(res);
    const failure = params.expect_substring ? await judge(res, params) : judgeStatus(res, params);
    return failure ?? { status: 'online', message: `HTTP ${res.statusCode} in ${Math.round(ctx.now() - started)} ms` };
  } catch (err) {
    if (exchange.cancelled) return offline(`timed out after ${params.timeout}s`);
    return offline(err instanceof BodyError ? err.message : describeError(err as NodeJS.ErrnoException));
  } finally {
    ctx.signal.removeEventListener('abort', exchange.cancel);
    // Closes every socket of the run, including a body we chose not to read.
    exchange.close();
  }
}

export const httpCheck = defineCheck({
  type: 'http',
  schema,
  deadlineMs: (p) => p.timeout * 1000,
  run,
});
