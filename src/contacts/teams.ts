import type { z } from 'zod';
import { detailLines, headline } from './message.ts';
import type { ContactContext, Notification, SendOutcome } from './types.ts';
import { defineContact } from './types.ts';
import { judgeReply, networkFailure, postBody, urlSecrets, webhookUrlSchema, type VendorReply } from './vendor-http.ts';

/**
 * `contacts.data` of a teams contact: the URL of a Teams Workflows "When a Teams webhook
 * request is received" trigger (`https://….logic.azure.com/workflows/…?…&sig=…`; the
 * `sig` is the secret) or of a legacy Office 365 connector (`https://….webhook.office.com/…`).
 */
export const schema = webhookUrlSchema;

/**
 * A message with one Adaptive Card: Workflows accept only Adaptive Cards, and legacy
 * connectors accept them too in this envelope, so one payload serves both.
 */
export function teamsPayload(n: Notification): unknown {
  const facts = detailLines(n).map((line) => {
    const colon = line.indexOf(': ');
    return { title: line.slice(0, colon), value: line.slice(colon + 2) };
  });
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', text: headline(n), weight: 'Bolder', wrap: true, color: n.status === 'online' ? 'Good' : 'Attention' },
            { type: 'FactSet', facts },
          ],
        },
      },
    ],
  };
}

/**
 * A legacy connector reports its throttling inside a 200: "Microsoft Teams endpoint
 * returned HTTP error 429". Judge such a reply by the status it names.
 */
function unwrapConnectorError(reply: VendorReply): VendorReply {
  const inner = /returned HTTP error (\d{3})/i.exec(reply.body);
  return reply.status >= 200 && reply.status < 300 && inner ? { ...reply, status: Number(inner[1]) } : reply;
}

/**
 * Workflows answer 202 Accepted, legacy connectors 200 `1`; refusals are JSON
 * `{error: {code, message}}` (Workflows) or text. No idempotency key: an unknown outcome
 * is not resent.
 */
export async function send(url: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const who = { target: `teams webhook ${url.host}`, secrets: urlSecrets(url) };
  try {
    const reply = await postBody(url, { contentType: 'application/json', body: JSON.stringify(teamsPayload(n)), timeoutMs: ctx.httpTimeoutMs });
    return judgeReply(ctx, who, unwrapConnectorError(reply));
  } catch (err) {
    return networkFailure(ctx, who, err);
  }
}

export const teamsContact = defineContact({ type: 'teams', schema, send, secrets: urlSecrets });
