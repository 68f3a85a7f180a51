import type { z } from 'zod';
import { clip, oneLine } from '../text.ts';
import { headline } from './message.ts';
import { apiBase, callAndJudge, field, brief, secretString, nonEmpty, type ApiReply, type Target } from './incident-api.ts';
import { defineContact, type ContactContext, type Notification, type SendOutcome } from './types.ts';

/** Events API v2; tests replace the base with `ctx.endpoints.pagerduty`. */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/';

/**
 * `contacts.data` of a pagerduty contact: the integration (routing) key of an Events API
 * v2 integration, 32 letters and digits, e.g. `R0123456789abcdef0123456789abcde`.
 */
export const schema = secretString(/^[A-Za-z0-9]{32}$/, 'a PagerDuty Events API v2 integration key of 32 letters and digits');

/**
 * One key per check, the same for trigger and resolve: PagerDuty folds a repeated trigger
 * into the open alert and a resolve with this key closes it, so a resend never opens a
 * second incident and recovery closes the one the outage opened. A partial outage has its
 * own key (`-partial`): its end never resolves, nor its start reopens, the check's outage.
 */
export function dedupKey(n: Notification): string {
  return `bearmon-check-${n.check.id}${n.partial ? '-partial' : ''}`;
}

/** The event: trigger (critical) on offline, resolve on online (a partial outage: trigger when it began, resolve when it ended). */
export function pagerdutyEvent(routingKey: string, n: Notification): Record<string, unknown> {
  if (n.status === 'online') return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey(n) };
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey(n),
    client: 'bearmon',
    payload: {
      // PagerDuty's documented limit for the summary.
      summary: clip(headline(n), 1024),
      source: clip(oneLine(n.check.name).trim() || `check ${n.check.id}`, 255),
      severity: 'critical',
      timestamp: n.at.toISOString(),
      class: n.check.type,
      custom_details: {
        check_id: n.check.id,
        check_type: n.check.type,
        message: n.message,
        confirmed_by: n.workers,
        notification: n.id,
        ...(n.partial ? { offline_from: n.partial.down, online_from: n.partial.up } : {}),
      },
    },
  };
}

/** 202 `{status: "success", message, dedup_key}`; 400 `{status: "invalid event", message, errors: [...]}`. */
const shapes = {
  success: (reply: ApiReply) => (field(reply.json, 'status') === 'success' ? `${nonEmpty(field(reply.json, 'message')) ?? 'success'} (dedup_key ${String(field(reply.json, 'dedup_key'))})` : undefined),
  explain: (reply: ApiReply) => {
    const errors = field(reply.json, 'errors');
    const list = Array.isArray(errors) ? errors.filter((e): e is string => typeof e === 'string') : [];
    const message = nonEmpty(field(reply.json, 'message')) ?? nonEmpty(field(reply.json, 'status')) ?? '';
    return brief([message, ...list].filter(Boolean).join('; '));
  },
};

export async function send(routingKey: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const url = new URL('v2/enqueue', apiBase(ctx, 'pagerduty', PAGERDUTY_EVENTS_URL));
  const event = pagerdutyEvent(routingKey, n);
  const target: Target = { name: `PagerDuty ${String(event.event_action)} to ${url.host}`, secrets: [routingKey], idempotent: true };
  return callAndJudge(ctx, target, { method: 'POST', url, json: event }, shapes);
}

export const pagerdutyContact = defineContact({ type: 'pagerduty', schema, send, idempotent: true, secrets: (key) => [key] });
