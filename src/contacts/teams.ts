import type { z } from 'zod';
import { oneLine } from '../text.ts';
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
 * Untrusted text (check name, the target's message, worker ids) for a TextBlock or a Fact:
 * Adaptive Cards render a Markdown subset there (links `[x](url)`, `**bold**`, `_italic_`,
 * lists `- ` and `1. `, line breaks), and an outage message must not become a link to a
 * phishing page. Each run of control characters (line breaks) becomes one space, then every
 * one of \ * _ [ ] ( ) ` # + - . ! | < > ~ gets a backslash before it, wherever it stands;
 * so a list marker ("- x", "+ x", "1. x", "1) x"), heading or quote at the start is escaped
 * too, and `<at>` is no mention. Teams drops the backslashes when rendering; letters, digits,
 * spaces and other punctuation (: , ; / & ' " @ = ?) are left as they are.
 */
export function escapeTeamsText(text: string): string {
  return oneLine(text).replace(/[\\*_[\]()`#+\-.!|<>~]/g, '\\$&');
}

/**
 * A message with one Adaptive Card: Workflows accept only Adaptive Cards, and legacy
 * connectors accept them too in this envelope, so one payload serves both.
 */
export function teamsPayload(n: Notification): unknown {
  const facts = detailLines(n).map((line) => {
    const colon = line.indexOf(': ');
    return { title: escapeTeamsText(line.slice(0, colon)), value: escapeTeamsText(line.slice(colon + 2)) };
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
            { type: 'TextBlock', text: escapeTeamsText(headline(n)), weight: 'Bolder', wrap: true, color: n.status === 'online' ? 'Good' : 'Attention' },
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
