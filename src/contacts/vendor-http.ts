import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { MASK, redactText } from '../redact.ts';
import { clip } from '../text.ts';
import { toHttpUrl } from '../validation.ts';
import { USER_AGENT } from './http.ts';
import { delivered, errorText, failed } from './outcome.ts';
import type { ContactContext, SendOutcome } from './types.ts';

/**
 * What the chat and push contact types (slack, discord, teams, mattermost, telegram, ntfy,
 * json) share: one POST of a body on a fresh connection, the reply read (vendors explain
 * their refusals in it), and one way of judging the reply and keeping secrets out of it.
 */

/** `contacts.data` is a VARCHAR(512): nothing longer can be stored. */
export const DATA_MAX = 512;

/** An absolute http(s) URL of at most 512 characters (the URL is the whole `data`). */
export const webhookUrlSchema = z
  .string('expected a string')
  .trim()
  .max(DATA_MAX, `expected at most ${DATA_MAX} characters`)
  .transform(toHttpUrl('scheme'));

/** The same check for a URL inside a JSON `data` object. */
export const urlField = z.string('expected a string').trim().transform(toHttpUrl('scheme'));

/**
 * A JSON object in a string column: parsed here so the object's own schema can name the
 * field (`data.topic: ...`) of a bad value. Objects holding a secret are never echoed
 * whole: JSON that does not parse, and unknown fields (a misspelt "token"), are named
 * with the value masked.
 */
export function jsonData<T extends z.ZodRawShape>(shape: T, example: string) {
  const fields = Object.keys(shape).join(', ');
  return z
    .string('expected a JSON object as a string')
    .trim()
    .max(DATA_MAX, `expected at most ${DATA_MAX} characters`)
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: `expected a JSON object such as ${example}`, input: MASK });
        return z.NEVER;
      }
    })
    .pipe(
      z
        .object(shape, `expected a JSON object such as ${example}`)
        .catchall(z.unknown().superRefine((_value, ctx) => ctx.addIssue({ code: 'custom', message: `unknown field, expected ${fields}`, input: MASK }))),
    );
}

export interface VendorReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The first BODY_MAX bytes of the reply, as UTF-8. */
  body: string;
}

export interface VendorPost {
  /** POST unless said (Matrix sends with PUT). */
  method?: 'POST' | 'PUT';
  body: string;
  contentType: string;
  headers?: Record<string, string>;
  timeoutMs: number;
}

/** Vendors' error replies are short JSON; a larger body is cut, never buffered whole. */
const BODY_MAX = 16 * 1024;

/**
 * One POST (or PUT) on a fresh connection (agent: false, so no keep-alive state survives a
 * delivery), redirects not followed. The timeout covers the whole exchange including the
 * reply body. Rejects on network errors and timeouts.
 */
export function postBody(url: URL, post: VendorPost): Promise<VendorReply> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    let timer: NodeJS.Timeout | undefined;
    let request: http.ClientRequest | undefined;
    const fail = (err: unknown) => {
      clearTimeout(timer);
      reject(err);
    };
    try {
      request = client.request(url, {
        method: post.method ?? 'POST',
        agent: false,
        headers: {
          'User-Agent': USER_AGENT,
          ...post.headers,
          'Content-Type': post.contentType,
          'Content-Length': Buffer.byteLength(post.body),
        },
      });
      const req = request;
      timer = setTimeout(() => req.destroy(new Error(`no response within ${post.timeoutMs} ms`)), post.timeoutMs);
      req.once('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).subarray(0, BODY_MAX).toString('utf8') });
        };
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= BODY_MAX) {
            done();
            response.destroy();
          }
        });
        response.once('end', done);
        // A reply cut short still has its status: judge by that.
        response.once('error', done);
      });
      // 'on', not 'once': a reset after the reply must not become an unhandled error.
      req.on('error', fail);
      req.end(post.body);
    } catch (err) {
      fail(err);
    }
  });
}

/** The vendor's own words for a refusal: the usual JSON error fields, else the text. */
export function vendorMessage(body: string): string {
  const text = body.trim();
  if (!text) return '';
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    if (json && typeof json === 'object') {
      const error = json.error as unknown;
      const candidates = [
        json.description,
        json.message,
        typeof error === 'object' && error ? (error as Record<string, unknown>).message : error,
        json.detailed_error,
      ];
      const found = candidates.find((c): c is string => typeof c === 'string' && c.trim() !== '');
      if (found) return oneLine(found);
    }
  } catch {
    // Not JSON: Slack and Mattermost answer plain text such as "invalid_payload".
  }
  // An HTML error page says nothing useful and may be long.
  if (/^<(!doctype|html)/i.test(text)) return '';
  return oneLine(text);
}

const oneLine = (text: string) => clip(text.replace(/\s+/g, ' ').trim(), 200);

/**
 * Seconds to wait before trying again: Retry-After (seconds or an HTTP date) or a body
 * field (Discord's `retry_after`, Telegram's `parameters.retry_after`). The delivery stage
 * keeps its own backoff; the text tells the operator what the vendor asked for.
 */
export function retryAfterSeconds(reply: VendorReply, now: number): number | undefined {
  const header = reply.headers['retry-after'];
  if (typeof header === 'string' && header.trim() !== '') {
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
    const at = Date.parse(header);
    if (Number.isFinite(at)) return Math.max(0, Math.ceil((at - now) / 1000));
  }
  try {
    const json = JSON.parse(reply.body) as { retry_after?: unknown; parameters?: { retry_after?: unknown } };
    const value = json?.retry_after ?? json?.parameters?.retry_after;
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.ceil(value);
  } catch {
    // no body hint
  }
  return undefined;
}

/**
 * The secrets of a webhook URL as they could come back in an error: the URL whole, its
 * path and query, the path segments that look like ids or tokens, the query values and
 * the password of its user info.
 */
export function urlSecrets(url: URL): string[] {
  const secrets = [url.href, url.pathname + url.search, url.pathname];
  for (const segment of url.pathname.split('/')) if (segment.length >= 16 || (segment.length >= 6 && /\d/.test(segment))) secrets.push(segment, decodeSafe(segment));
  for (const value of url.searchParams.values()) if (value.length >= 6) secrets.push(value);
  if (url.password) secrets.push(url.password, decodeSafe(url.password));
  // Shorter strings are not worth hiding and would turn ordinary words of an error into ***.
  return secrets.filter((s) => s.length >= 4);
}

function decodeSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export interface Judged {
  /** e.g. `slack webhook hooks.slack.com`: names the vendor and host, never the path. */
  target: string;
  /** Everything secret in this contact's data, masked in every text returned. */
  secrets: readonly string[];
}

/**
 * 2xx delivered (when `accepted` agrees); 5xx, 408 and 429 retried, with the wait the
 * vendor asked for; 3xx (not followed) and other 4xx permanent, with the vendor's message.
 */
export function judgeReply(ctx: ContactContext, who: Judged, reply: VendorReply, accepted: (reply: VendorReply) => boolean = () => true): SendOutcome {
  const { status } = reply;
  const said = vendorMessage(reply.body);
  const text = (prefix: string) => redactText(`${prefix}${said ? `: ${said}` : ''}`, who.secrets);
  if (status >= 200 && status < 300) {
    if (accepted(reply)) return delivered(ctx, redactText(`${who.target} answered HTTP ${status}`, who.secrets));
    return failed(ctx, false, text(`${who.target} answered HTTP ${status} but did not accept the message`));
  }
  if (status >= 300 && status < 400) return failed(ctx, false, text(`${who.target} answered HTTP ${status} (redirect not followed: configure the final URL)`));
  if (status >= 500 || status === 408 || status === 429) {
    const wait = retryAfterSeconds(reply, ctx.now());
    return failed(ctx, true, text(`${who.target} answered HTTP ${status}${wait === undefined ? '' : ` (retry after ${wait} s)`}`), wait === undefined ? undefined : wait * 1000);
  }
  return failed(ctx, false, text(`${who.target} answered HTTP ${status}`));
}

/**
 * Network errors and timeouts: the vendor may be back later. A request node refuses to
 * build (a header value it cannot send, a bad URL) fails the same way every time: permanent.
 */
export function networkFailure(ctx: ContactContext, who: Judged, err: unknown): SendOutcome {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const unsendable = typeof code === 'string' && /^ERR_(INVALID_|HTTP_INVALID_)/.test(code);
  return failed(ctx, !unsendable, redactText(`${who.target} failed: ${errorText(err)}`, who.secrets));
}

/** POSTs and judges in one step; never throws. */
export async function deliver(ctx: ContactContext, who: Judged, url: URL, post: Omit<VendorPost, 'timeoutMs'>, accepted?: (reply: VendorReply) => boolean): Promise<SendOutcome> {
  let reply: VendorReply;
  try {
    reply = await postBody(url, { ...post, timeoutMs: ctx.httpTimeoutMs });
  } catch (err) {
    return networkFailure(ctx, who, err);
  }
  return judgeReply(ctx, who, reply, accepted);
}
