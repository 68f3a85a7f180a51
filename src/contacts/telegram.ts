import { z } from 'zod';
import { MASK } from '../redact.ts';
import { clip } from '../text.ts';
import { detailLines, headline } from './message.ts';
import type { ContactContext, Notification, SendOutcome } from './types.ts';
import { defineContact } from './types.ts';
import { judgeReply, jsonData, networkFailure, postBody, type VendorReply } from './vendor-http.ts';

/** The Bot API's host; `ctx.endpoints.telegram` replaces it in tests. */
export const TELEGRAM_API = 'https://api.telegram.org';

/** BotFather's tokens: the bot's numeric id, a colon, a 35-character secret. */
const TOKEN = /^\d{1,20}:[A-Za-z0-9_-]{20,100}$/;

/**
 * `contacts.data` of a telegram contact: a JSON object
 * `{"token": "123456789:AA…", "chat_id": "-1001234567890"}`. `chat_id` is a user, group
 * or channel id (a number, as a string or number) or a public `@channelname`.
 */
export const schema = jsonData(
  {
    // The token is a secret: a bad one is named but never echoed.
    token: z.string('expected a string').superRefine((value, ctx) => {
      if (!TOKEN.test(value.trim())) ctx.addIssue({ code: 'custom', message: 'expected a bot token such as 123456789:AA… from @BotFather', input: MASK });
    }).transform((value) => value.trim()),
    chat_id: z
      .union([z.number().int(), z.string().trim()], 'expected a chat id (number) or @channelname')
      .transform(String)
      .pipe(z.string().regex(/^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$/, 'expected a chat id such as -1001234567890 or @channelname')),
  },
  '{"token": "123456789:AA…", "chat_id": "-100123"}',
);

/** Plain text (no parse_mode): a check name needs no escaping and cannot break markup. */
export function telegramPayload(chatId: string, n: Notification): unknown {
  return {
    chat_id: chatId,
    text: clip([headline(n), '', ...detailLines(n)].join('\n'), 4096),
    link_preview_options: { is_disabled: true },
  };
}

/** The Bot API wraps every answer in `{ok, ...}`: a 200 without `ok: true` was not accepted. */
const accepted = (reply: VendorReply) => {
  try {
    return (JSON.parse(reply.body) as { ok?: unknown }).ok === true;
  } catch {
    return false;
  }
};

/** A group upgraded to a supergroup has a new id: the refusal says which, so say it too. */
function migrationHint(reply: VendorReply): string {
  try {
    const id = (JSON.parse(reply.body) as { parameters?: { migrate_to_chat_id?: unknown } }).parameters?.migrate_to_chat_id;
    return typeof id === 'number' ? ` (the chat moved: set chat_id to ${id})` : '';
  } catch {
    return '';
  }
}

/**
 * POST /bot<token>/sendMessage. Success is `{ok: true, result: {message_id}}`; refusals
 * `{ok: false, error_code, description}` (403 bot blocked, 400 chat not found: permanent;
 * 429 with `parameters.retry_after`: retried). sendMessage takes no idempotency key.
 */
export async function send(data: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const base = (ctx.endpoints?.telegram ?? TELEGRAM_API).replace(/\/+$/, '');
  const url = new URL(`${base}/bot${data.token}/sendMessage`);
  const who = { target: `telegram ${url.host} chat ${data.chat_id}`, secrets: secrets(data) };
  let reply: VendorReply;
  try {
    reply = await postBody(url, { contentType: 'application/json', body: JSON.stringify(telegramPayload(data.chat_id, n)), timeoutMs: ctx.httpTimeoutMs });
  } catch (err) {
    return networkFailure(ctx, who, err);
  }
  const outcome = judgeReply(ctx, who, reply, accepted);
  return outcome.ok ? outcome : { ...outcome, error: outcome.error + migrationHint(reply) };
}

/** The token as typed and as a URL carries it. */
export function secrets(data: z.output<typeof schema>): string[] {
  return [data.token, encodeURIComponent(data.token)];
}

export const telegramContact = defineContact({ type: 'telegram', schema, send, secrets });
