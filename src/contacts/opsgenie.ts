import { z } from 'zod';
import { clip, oneLine } from '../text.ts';
import { headline, mailBody } from './message.ts';
import { apiBase, callAndJudge, field, jsonObjectData, brief, secretString, nonEmpty, type ApiReply, type Target } from './incident-api.ts';
import { defineContact, type ContactContext, type Notification, type SendOutcome } from './types.ts';

/** The Alert API by account region; tests replace either with `ctx.endpoints.opsgenie`. */
export const OPSGENIE_API = { us: 'https://api.opsgenie.com/', eu: 'https://api.eu.opsgenie.com/' } as const;

/**
 * `contacts.data` of an opsgenie contact: a JSON object with the API key of an Opsgenie
 * API integration (a UUID) and the account's region, `us` (default) or `eu`:
 * `{"apiKey":"0d6b6f8e-3c59-4f5e-9a51-2f1c7d0b9e4a","region":"eu"}`.
 */
export const schema = jsonObjectData(
  z.object({
    apiKey: secretString(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'the API key of an Opsgenie API integration (a UUID)'),
    region: z.enum(['us', 'eu'], 'expected "us" or "eu"').default('us'),
  }),
  '{"apiKey":"<integration API key>","region":"us"}',
);

/**
 * One alias per check, for create and close: Opsgenie keeps one open alert per alias (a
 * repeated create only raises its count), so a resend never opens a second alert and
 * recovery closes the one the outage opened. A partial outage has its own alias
 * (`-partial`): it never closes, nor reopens, the check's outage alert.
 */
export function alertAlias(n: Notification): string {
  return `bearmon-check-${n.check.id}${n.partial ? '-partial' : ''}`;
}

/**
 * Create on offline (message ≤ 130 characters, description ≤ 15,000: Opsgenie's limits); close
 * on online. A partial outage: create when it began, close when it ended.
 */
export function opsgenieRequest(n: Notification): { path: string; body: Record<string, unknown> } {
  const alias = alertAlias(n);
  if (n.status === 'online') {
    return { path: `v2/alerts/${encodeURIComponent(alias)}/close?identifierType=alias`, body: { source: 'bearmon', note: headline(n) } };
  }
  return {
    path: 'v2/alerts',
    body: {
      message: clip(headline(n), 130),
      alias,
      description: clip(mailBody(n), 15_000),
      source: 'bearmon',
      entity: clip(oneLine(n.check.name).trim(), 512),
      details: {
        check_id: String(n.check.id),
        check_type: n.check.type,
        notification: n.id,
        confirmed_by: n.workers.join(', '),
        ...(n.partial ? { offline_from: n.partial.down.join(', '), online_from: n.partial.up.join(', ') } : {}),
      },
    },
  };
}

/** 202 `{result, took, requestId}`; errors `{message, errors: {field: text}, requestId}`. */
const shapes = {
  success: (reply: ApiReply) => {
    const result = nonEmpty(field(reply.json, 'result'));
    return result === undefined ? undefined : `${result} (request ${String(field(reply.json, 'requestId'))})`;
  },
  explain: (reply: ApiReply) => {
    const errors = field(reply.json, 'errors');
    const details = errors && typeof errors === 'object' ? Object.entries(errors).map(([k, v]) => `${k}: ${String(v)}`) : [];
    return brief([nonEmpty(field(reply.json, 'message')) ?? '', ...details].filter(Boolean).join('; '));
  },
};

/** The region's API, or the test override. */
export function opsgenieBase(region: keyof typeof OPSGENIE_API, ctx: ContactContext): URL {
  return apiBase(ctx, 'opsgenie', OPSGENIE_API[region]);
}

export async function send(data: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const request = opsgenieRequest(n);
  const url = new URL(request.path, opsgenieBase(data.region, ctx));
  const action = n.status === 'online' ? 'close' : 'create';
  const target: Target = { name: `Opsgenie ${action} at ${url.host}`, secrets: [data.apiKey], idempotent: true };
  return callAndJudge(ctx, target, { method: 'POST', url, headers: { Authorization: `GenieKey ${data.apiKey}` }, json: request.body }, shapes);
}

export const opsgenieContact = defineContact({ type: 'opsgenie', schema, send, idempotent: true, secrets: (data) => [data.apiKey] });
