import http from 'node:http';
import { z } from 'zod';
import { MASK, redactText } from '../redact.ts';
import { clip } from '../text.ts';
import { toHttpUrl } from '../validation.ts';
import { delivered, errorText, failed } from './outcome.ts';
import type { ContactContext, SendOutcome } from './types.ts';
import { postBody, retryAfterSeconds } from './vendor-http.ts';

/**
 * What the incident and push contact types (pagerduty, opsgenie, gotify, pushover,
 * matrix) share: data that holds an API key, one JSON (or form) request per attempt, and
 * one way of judging the vendor's reply without ever repeating the key.
 */

/** `contacts.data` is a VARCHAR(512): nothing longer can be stored. */
export const DATA_MAX = 512;

/**
 * How a secret is named in a validation error: its length only. The error is logged and
 * kept in the outbox, so not even a part of a mistyped key may appear in it.
 */
export function masked(value: unknown): string {
  return typeof value === 'string' ? `${MASK} (${value.length} characters)` : `${MASK} (${typeof value})`;
}

/** A key or token: trimmed, matching `pattern`; the error shows only its length (or that it is missing). */
export function secretString(pattern: RegExp, expected: string) {
  return z.unknown().transform((value, ctx): string => {
    const text = typeof value === 'string' ? value.trim() : undefined;
    if (text === undefined || !pattern.test(text)) {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}`, input: value === undefined ? undefined : masked(value) });
      return z.NEVER;
    }
    return text;
  });
}

/** A server URL inside JSON data (self-hosted Gotify, a Matrix homeserver). */
export const serverUrl = z.string('expected a string').trim().max(DATA_MAX).transform(toHttpUrl('scheme'));

/**
 * A JSON object in the string column, parsed here so the object's schema names the field
 * (`data.region: ...`). The text holds a key: a parse error shows its length, not the
 * text; an unknown field is named by its name alone.
 */
export function jsonObjectData<S extends z.ZodObject>(shape: S, example: string) {
  const known = new Set(Object.keys(shape.shape));
  return z
    .unknown()
    .transform((value, ctx): Record<string, unknown> => {
      if (typeof value !== 'string') {
        ctx.addIssue({ code: 'custom', message: `expected a JSON object as a string such as ${example}`, input: masked(value) });
        return z.NEVER;
      }
      if (value.length > DATA_MAX) {
        ctx.addIssue({ code: 'custom', message: `expected at most ${DATA_MAX} characters`, input: masked(value) });
        return z.NEVER;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        parsed = undefined;
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        ctx.addIssue({ code: 'custom', message: `expected a JSON object such as ${example}`, input: masked(value) });
        return z.NEVER;
      }
      const object = parsed as Record<string, unknown>;
      for (const key of Object.keys(object)) {
        if (!known.has(key)) ctx.addIssue({ code: 'custom', message: `unknown field, expected one of ${[...known].join(', ')}`, path: [key], input: key });
      }
      return object;
    })
    .pipe(shape);
}

export interface ApiRequest {
  method: 'POST' | 'PUT';
  url: URL;
  headers?: Record<string, string>;
  /** Sent as JSON, or as an HTML form when `form` is set. */
  json?: unknown;
  form?: Record<string, string>;
}

export interface ApiReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The first 16 KiB of the reply (vendor-http.ts BODY_MAX), as UTF-8. */
  text: string;
  /** The reply parsed as JSON; undefined when it is not JSON. */
  json: unknown;
}

/**
 * One request on a fresh connection, redirects not followed, the timeout covering the whole
 * exchange (vendor-http.ts postBody, which the chat types use too); the reply parsed as JSON
 * when it is. Rejects on network errors and timeouts.
 */
export async function callApi(request: ApiRequest, timeoutMs: number): Promise<ApiReply> {
  const body = request.form ? new URLSearchParams(request.form).toString() : JSON.stringify(request.json ?? {});
  const contentType = request.form ? 'application/x-www-form-urlencoded' : 'application/json';
  const reply = await postBody(request.url, { method: request.method, body, contentType, headers: { Accept: 'application/json', ...request.headers }, timeoutMs });
  return { status: reply.status, headers: reply.headers, text: reply.body, json: parseJson(reply.body) };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Who is being called, for every text: the vendor and host, never a path or a key. */
export interface Target {
  /** e.g. `PagerDuty events.pagerduty.com`. */
  name: string;
  /** Every secret of the contact's data (and the forms it is sent in), masked in every text. */
  secrets: readonly string[];
  /** The vendor recognises a resend (a dedup key, an alias, a transaction id). */
  idempotent: boolean;
}

/** A vendor's message for the log: one line, bounded. */
export function brief(text: string, max = 300): string {
  return clip(text.replace(/\s+/g, ' ').trim(), max);
}

/**
 * The documented reply shapes: `success` says whether a 2xx body is the documented
 * success (and what to report), `explain` turns an error body into the vendor's message.
 */
export interface ReplyShapes {
  success: (reply: ApiReply) => string | undefined;
  explain: (reply: ApiReply) => string;
  /** A wait the vendor names in its body (Matrix's retry_after_ms); Retry-After is read for every type. */
  retryAfterMs?: (reply: ApiReply) => number | undefined;
}

/**
 * Delivered on the documented success; 5xx, 408 and 429 (and network errors) retried;
 * other 4xx and 3xx (not followed) permanent, with the vendor's message. A 2xx that is not
 * the documented success may or may not have been taken: resent only where the vendor
 * deduplicates.
 */
export function judge(ctx: ContactContext, target: Target, raw: ApiReply, shapes: ReplyShapes): SendOutcome {
  const { status } = raw;
  const say = (text: string) => redactText(text, target.secrets);
  // Masked before anything is cut to length: a cut through a key would leave part of it.
  const masked = say(raw.text);
  const reply: ApiReply = { ...raw, text: masked, json: parseJson(masked) };
  const why = () => {
    const message = shapes.explain(reply) || (/^\s*</.test(reply.text) ? '' : brief(reply.text));
    return message ? `: ${message}` : '';
  };
  if (status >= 200 && status < 300) {
    const detail = shapes.success(reply);
    if (detail !== undefined) return delivered(ctx, say(`${target.name} answered HTTP ${status}: ${detail}`));
    return failed(ctx, target.idempotent, say(`${target.name} answered HTTP ${status} without the documented success${why()}`));
  }
  if (status >= 300 && status < 400) return failed(ctx, false, say(`${target.name} answered HTTP ${status} (redirect not followed)`));
  if (status >= 500 || status === 408 || status === 429) {
    // The delivery stage waits at least this long before the next try (within its backoff cap).
    const seconds = retryAfterSeconds({ status, headers: reply.headers, body: reply.text }, ctx.now());
    const waitMs = shapes.retryAfterMs?.(reply) ?? (seconds === undefined ? undefined : seconds * 1000);
    const asked = waitMs === undefined ? '' : ` (retry after ${Math.ceil(waitMs / 1000)} s)`;
    return failed(ctx, true, say(`${target.name} answered HTTP ${status}${asked}${why()}`), waitMs);
  }
  return failed(ctx, false, say(`${target.name} answered HTTP ${status}${why()}`));
}

/** Calls and judges in one step; never throws. Network errors and timeouts are retried. */
export async function callAndJudge(ctx: ContactContext, target: Target, request: ApiRequest, shapes: ReplyShapes): Promise<SendOutcome> {
  let reply: ApiReply;
  try {
    reply = await callApi(request, ctx.httpTimeoutMs);
  } catch (err) {
    return failed(ctx, true, redactText(`${target.name} failed: ${errorText(err)}`, target.secrets));
  }
  return judge(ctx, target, reply, shapes);
}

/**
 * The vendor's base URL: the test override for this contact type when one is set
 * (`ctx.endpoints`), else the vendor's own. A trailing slash, so relative paths append.
 */
export function apiBase(ctx: ContactContext, type: string, vendor: string): URL {
  return withSlash(new URL(ctx.endpoints?.[type] ?? vendor));
}

/** A self-hosted server's URL as the base of its API paths (keeps a path prefix such as /gotify/). */
export function withSlash(url: URL): URL {
  const base = new URL(url.href);
  base.search = '';
  base.hash = '';
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return base;
}

/** The string fields of a JSON object, for reading error bodies without trusting their shape. */
export function field(json: unknown, name: string): unknown {
  return json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>)[name] : undefined;
}

export const nonEmpty = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value : undefined);
