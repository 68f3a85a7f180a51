import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { toHttpUrl } from '../validation.ts';
import { delivered, errorText, failed } from './outcome.ts';
import { defineContact, type ContactContext, type FormPoster, type Notification, type SendOutcome } from './types.ts';

export const USER_AGENT = 'bearmon/0.1 (uptime monitor)';

/** `contacts.data` of an http/webhook contact: an absolute http(s) URL. */
export const schema = z
  .string('expected a string')
  .trim()
  .max(4096, 'expected at most 4096 characters')
  .transform(toHttpUrl('scheme'));

/**
 * gobearmon's form fields, same names and values; a partial outage adds `partial`, its
 * JSON ({"phase","down","up"}). A status change sends exactly gobearmon's fields.
 */
export function webhookFields(n: Notification): Record<string, string> {
  return {
    check_id: String(n.check.id),
    name: n.check.name,
    type: n.check.type,
    data: n.check.data,
    status: n.status,
    message: n.message,
    ...(n.partial ? { partial: JSON.stringify(n.partial) } : {}),
  };
}

/**
 * One form POST on a fresh connection. Resolves as soon as the status line arrives (the
 * body is never read, so an endless body costs nothing); redirects are not followed.
 */
export const postFormOverHttp: FormPoster = (url, fields, { headers, timeoutMs }) =>
  new Promise((resolve, reject) => {
    const body = new URLSearchParams(fields).toString();
    const client = url.protocol === 'https:' ? https : http;
    let timer: NodeJS.Timeout | undefined;
    try {
      const request = client.request(url, {
        method: 'POST',
        agent: false,
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          'Content-Length': Buffer.byteLength(body),
          'User-Agent': USER_AGENT,
          ...headers,
        },
      });
      timer = setTimeout(() => request.destroy(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
      request.once('response', (response) => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, location: response.headers.location });
        response.destroy();
      });
      // 'on', not 'once': a reset after we have the status must not become an unhandled error.
      request.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      request.end(body);
    } catch (err) {
      clearTimeout(timer);
      reject(err);
    }
  });

/** 2xx delivered; 5xx (and 408/429, which ask for a later try) retried; other 4xx and 3xx are permanent. */
export function judgeStatus(ctx: ContactContext, target: string, status: number, location?: string): SendOutcome {
  if (status >= 200 && status < 300) return delivered(ctx, `webhook ${target} answered HTTP ${status}`);
  if (status >= 300 && status < 400) {
    const where = location ? ` to ${safeLocation(location)}` : '';
    return failed(ctx, false, `webhook ${target} answered HTTP ${status} (redirect${where} not followed: configure the final URL)`);
  }
  const retry = status >= 500 || status === 408 || status === 429;
  return failed(ctx, retry, `webhook ${target} answered HTTP ${status}`);
}

/** Only scheme and host of a redirect target: its path and query may carry a token. */
function safeLocation(location: string): string {
  try {
    const url = new URL(location);
    return `${url.protocol}//${url.host}`;
  } catch {
    return 'an unparsable location';
  }
}

/**
 * POSTs the form with the notification id as `Idempotency-Key`. Logs and errors name only
 * the host: webhook URLs often carry their secret in the path or the user info.
 */
export async function send(url: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const target = url.host;
  try {
    const { status, location } = await ctx.postForm(url, webhookFields(n), {
      headers: { 'Idempotency-Key': n.id },
      timeoutMs: ctx.httpTimeoutMs,
    });
    return judgeStatus(ctx, target, status, location);
  } catch (err) {
    return failed(ctx, true, `webhook ${target} failed: ${errorText(err)}`);
  }
}

export const httpContact = defineContact({ type: 'http', schema, send, idempotent: true });
/** gobearmon's name for the same thing: a second registry entry, one implementation. */
export const webhookContact = defineContact({ type: 'webhook', schema, send, idempotent: true });
