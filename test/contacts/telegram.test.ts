import { describe, expect, it } from 'vitest';
import { createContactRegistry, prepareContact } from '../../src/contacts/registry.ts';
import { refusedPort } from '../helpers/servers.ts';
import { expectNoSecrets, sendVia, startVendorServer, type VendorServer } from '../helpers/vendor-server.ts';
import { notification, testContext } from './fixtures.ts';

const TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0';
const DATA = JSON.stringify({ token: TOKEN, chat_id: '-1001234567890' });

/** The Bot API's envelope for a sent message. */
const sent = { ok: true, result: { message_id: 42, chat: { id: -1001234567890, type: 'supergroup' }, date: 1793705748, text: '…' } };
const refusal = (code: number, description: string, parameters?: object) => ({ status: code, body: { ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) } });

/** A context whose Telegram API base is the local server. */
const context = (api: VendorServer | string, overrides = {}) => testContext({}, { endpoints: { telegram: typeof api === 'string' ? api : api.url }, ...overrides });

describe('telegram contact', () => {
  it('POSTs {chat_id, text} to /bot<token>/sendMessage and is delivered on {ok: true}', async () => {
    const telegram = await startVendorServer(() => ({ status: 200, body: sent }));
    const { ctx, logs } = context(telegram);

    const outcome = await sendVia('telegram', DATA, notification(), ctx);

    expect(outcome).toEqual({ ok: true, detail: `telegram ${telegram.host} chat -1001234567890 answered HTTP 200` });
    const request = telegram.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe(`/bot${TOKEN}/sendMessage`);
    expect(request.headers['content-type']).toBe('application/json');
    // Plain text, no parse_mode: nothing in a check name needs escaping.
    expect(request.json).toEqual({
      chat_id: '-1001234567890',
      text: 'Check [shop <front> & api] is now offline: HTTP 503 in 4 ms\n\nTime: 2026-11-03T09:15:47.836Z\nConfirmed by: probe-ams1, probe-fra2\nNotification: notif-7-1793705747836-offline',
      link_preview_options: { is_disabled: true },
    });
    expectNoSecrets(outcome, logs, [TOKEN, 'AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0']);
  });

  it('accepts a numeric chat id and a public @channelname', async () => {
    const telegram = await startVendorServer(() => ({ status: 200, body: sent }));
    const { ctx } = context(telegram);
    await sendVia('telegram', JSON.stringify({ token: TOKEN, chat_id: 987654321 }), notification(), ctx);
    await sendVia('telegram', JSON.stringify({ token: TOKEN, chat_id: '@bearmon_alerts' }), notification(), ctx);
    expect(telegram.requests.map((r) => (r.json as { chat_id: string }).chat_id)).toEqual(['987654321', '@bearmon_alerts']);
  });

  it('retries a 429 with parameters.retry_after and a 502', async () => {
    const telegram = await startVendorServer((_r, n) => (n === 0 ? refusal(429, 'Too Many Requests: retry after 35', { retry_after: 35 }) : { status: 502, body: '<html>Bad Gateway</html>' }));
    const { ctx, logs } = context(telegram);
    const limited = await sendVia('telegram', DATA, notification(), ctx);
    expect(limited).toEqual({ ok: false, retry: true, error: `telegram ${telegram.host} chat -1001234567890 answered HTTP 429 (retry after 35 s): Too Many Requests: retry after 35`, retryAfterMs: 35_000 });
    expect(await sendVia('telegram', DATA, notification(), ctx)).toEqual({ ok: false, retry: true, error: `telegram ${telegram.host} chat -1001234567890 answered HTTP 502` });
    expectNoSecrets(limited, logs, [TOKEN]);
  });

  it.each([
    [400, 'Bad Request: chat not found'],
    [403, 'Forbidden: bot was blocked by the user'],
    [401, 'Unauthorized'],
  ])('gives up on %i with Telegram\'s description', async (code, description) => {
    const telegram = await startVendorServer(() => refusal(code, description));
    const { ctx, logs } = context(telegram);
    const outcome = await sendVia('telegram', DATA, notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `telegram ${telegram.host} chat -1001234567890 answered HTTP ${code}: ${description}` });
    expectNoSecrets(outcome, logs, [TOKEN]);
  });

  it('names the new chat id when a group became a supergroup', async () => {
    const telegram = await startVendorServer(() => refusal(400, 'Bad Request: group chat was upgraded to a supergroup chat', { migrate_to_chat_id: -1009876543210 }));
    const outcome = await sendVia('telegram', DATA, notification(), context(telegram).ctx);
    expect(outcome).toEqual({
      ok: false,
      retry: false,
      error: `telegram ${telegram.host} chat -1001234567890 answered HTTP 400: Bad Request: group chat was upgraded to a supergroup chat (the chat moved: set chat_id to -1009876543210)`,
    });
  });

  it('masks the token when a reply echoes it', async () => {
    const telegram = await startVendorServer((r) => refusal(404, `Not Found: ${r.path}`));
    const { ctx, logs } = context(telegram);
    const outcome = await sendVia('telegram', DATA, notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `telegram ${telegram.host} chat -1001234567890 answered HTTP 404: Not Found: /bot***/sendMessage` });
    expectNoSecrets(outcome, logs, [TOKEN]);
  });

  it('does not count a 200 without ok: true as delivered', async () => {
    const telegram = await startVendorServer(() => ({ status: 200, body: '<html>captive portal</html>' }));
    const outcome = await sendVia('telegram', DATA, notification(), context(telegram).ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `telegram ${telegram.host} chat -1001234567890 answered HTTP 200 but did not accept the message` });
  });

  it('retries when the API cannot be reached', async () => {
    const port = await refusedPort();
    const { ctx, logs } = context(`http://127.0.0.1:${port}`);
    const outcome = await sendVia('telegram', DATA, notification(), ctx);
    expect(outcome).toMatchObject({ ok: false, retry: true, error: expect.stringMatching(/ECONNREFUSED/) });
    expectNoSecrets(outcome, logs, [TOKEN]);
  });

  it.each([
    [JSON.stringify({ token: 'not-a-token', chat_id: 1 }), 'data.token: expected a bot token such as 123456789:AA… from @BotFather (value "***")'],
    [JSON.stringify({ token: TOKEN, chat_id: 'ops room' }), 'data.chat_id: expected a chat id such as -1001234567890 or @channelname (value "ops room")'],
    [JSON.stringify({ token: TOKEN }), 'data.chat_id: expected a chat id (number) or @channelname (value undefined)'],
    [JSON.stringify({ tokn: TOKEN, chat_id: 1 }), 'data.tokn: unknown field, expected token, chat_id (value "***")'],
    [`{"token": "${TOKEN}", chat_id: 1}`, 'data: expected a JSON object such as {"token": "123456789:AA…", "chat_id": "-100123"} (value "***")'],
  ])('rejects data %s naming the field, never the token', (data, message) => {
    const prepared = prepareContact(createContactRegistry(), 'telegram', data);
    expect(prepared.ok === false && prepared.message).toContain(message);
    expect(JSON.stringify(prepared)).not.toContain('AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0');
  });
});
