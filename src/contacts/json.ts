import Mustache from 'mustache';
import { z } from 'zod';
import { MASK } from '../redact.ts';
import { headline } from './message.ts';
import type { ContactContext, Notification, SendOutcome } from './types.ts';
import { defineContact } from './types.ts';
import { deliver, jsonData, urlField, urlSecrets } from './vendor-http.ts';
import { errorText, failed } from './outcome.ts';

/**
 * The `json` contact: a JSON POST whose body and header values are Mustache templates.
 * Mustache is logic-less (no expressions, no code: only names looked up in the view below)
 * and the well-kept reference implementation for JavaScript; we render without partials,
 * and escape every `{{value}}` for a JSON string, so a check name with quotes cannot
 * break out of the body.
 */

/**
 * What a template may name: `{{check.name}}`, `{{status}}`, `{{#workers}}{{.}} {{/workers}}`...
 * A partial outage also fills `{{#partial}}{{phase}}{{/partial}}` and the lists `down_regions`
 * and `up_regions` (empty for a status change, when `partial` is null).
 */
export function templateView(n: Notification) {
  return {
    id: n.id,
    status: n.status,
    partial: n.partial ?? null,
    down_regions: n.partial?.down ?? [],
    up_regions: n.partial?.up ?? [],
    message: n.message,
    headline: headline(n),
    at: n.at.toISOString(),
    workers: n.workers,
    check: { id: n.check.id, name: n.check.name, type: n.check.type, data: n.check.data },
  };
}

/** `{{x}}` inside a JSON string literal: quotes, backslashes and control characters escaped. */
const jsonEscape = (value: unknown) => JSON.stringify(String(value)).slice(1, -1);

/** A fresh writer per render: no template cache grows across deliveries. */
function render(template: string, n: Notification, escape: (value: unknown) => string): string {
  return new Mustache.Writer().render(template, templateView(n), {}, { escape });
}

/**
 * Header values are sent as written, except what HTTP cannot carry: control characters (a
 * CR/LF would start a new header) become a space, characters beyond Latin-1 a `?`.
 */
const headerEscape = (value: unknown) => String(value).replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/[^\x00-\xff]/gu, '?');

/** The body when the data has none: gobearmon's webhook fields plus time, workers, id and the partial outage (null: a status change). */
export function defaultBody(n: Notification): string {
  const { check } = n;
  return JSON.stringify({
    check_id: check.id,
    name: check.name,
    type: check.type,
    data: check.data,
    status: n.status,
    message: n.message,
    at: n.at.toISOString(),
    workers: n.workers,
    notification_id: n.id,
    partial: n.partial ?? null,
  });
}

/** A notification with every value a template can name, for checking templates on input. */
const SAMPLE: Notification = {
  id: 'sample-1',
  check: { id: 1, name: 'sample "check"', type: 'http', data: 'http://127.0.0.1/' },
  status: 'offline',
  message: 'HTTP 503',
  at: new Date(0),
  workers: ['a', 'b'],
  partial: { phase: 'began', down: ['eu-west'], up: ['us-east'] },
};

const FORBIDDEN_HEADERS = new Set(['content-length', 'host', 'transfer-encoding', 'connection', 'expect', 'upgrade']);

/**
 * `contacts.data` of a json contact: a JSON object
 * `{"url": "https://…", "body": "{\"text\": \"{{check.name}} is {{status}}\"}", "headers": {"X-Token": "…"}}`.
 * `body` (a template that must render to JSON) defaults to defaultBody's object; `headers` maps
 * names to value templates, whose values are treated as secrets.
 */
export const schema = jsonData(
  {
    url: urlField,
    body: z
      .string('expected a string')
      .superRefine((template, ctx) => {
        let rendered: string;
        try {
          rendered = render(template, SAMPLE, jsonEscape);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: `expected a Mustache template: ${errorText(err)}`, input: template });
          return;
        }
        try {
          JSON.parse(rendered);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: `expected a template that renders to JSON (put {{names}} inside "quotes"): ${errorText(err)}`, input: template });
        }
      })
      .optional(),
    headers: z
      .record(
        z.string(),
        // Values are secrets (tokens): a bad one is named by its header, never echoed.
        z.string('expected a string').superRefine((value, ctx) => {
          try {
            render(value, SAMPLE, headerEscape);
          } catch {
            ctx.addIssue({ code: 'custom', message: 'expected a header value (a Mustache template)', input: MASK });
          }
          if (/[\x00-\x1f\x7f]/.test(value)) ctx.addIssue({ code: 'custom', message: 'expected a header value without control characters', input: MASK });
        }),
      )
      // Names checked here rather than by the key schema, whose issues zod reports only as "Invalid key in record".
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers)) {
          if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'expected an HTTP header name', input: name });
          else if (FORBIDDEN_HEADERS.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: 'expected a header bearmon does not set itself', input: name });
        }
      })
      .optional(),
  },
  '{"url": "https://…", "body": "{\\"text\\": \\"{{headline}}\\"}"}',
);

type Data = z.output<typeof schema>;

export function jsonRequest(data: Data, n: Notification): { headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = { 'Idempotency-Key': n.id };
  for (const [name, value] of Object.entries(data.headers ?? {})) headers[name] = render(value, n, headerEscape);
  return { headers, body: data.body === undefined ? defaultBody(n) : render(data.body, n, jsonEscape) };
}

/**
 * POSTs the rendered body with the notification id as Idempotency-Key (a header of the
 * data may replace it), so a receiver that honours it never shows a resend twice.
 * Texts name the host only: the path, query and header values may be credentials.
 */
export async function send(data: Data, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const who = { target: `json webhook ${data.url.host}`, secrets: secrets(data) };
  let request: { headers: Record<string, string>; body: string };
  try {
    request = jsonRequest(data, n);
    JSON.parse(request.body);
  } catch (err) {
    // Checked on input with a sample; a real value can still only break a {{{triple}}} tag.
    return failed(ctx, false, `${who.target}: the body template did not render to JSON: ${errorText(err)}`);
  }
  return deliver(ctx, who, data.url, { contentType: 'application/json', ...request });
}

/** Header values (templates as written) and the URL's path, query and password. */
export function secrets(data: Data): string[] {
  return [...urlSecrets(data.url), ...Object.values(data.headers ?? {}).filter((v) => v.length >= 4)];
}

export const jsonContact = defineContact({ type: 'json', schema, send, secrets, idempotent: true });
