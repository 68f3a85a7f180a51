import { describe, expect, it } from 'vitest';
import { refusedPort } from '../helpers/servers.ts';
import { expectNoSecrets, sendVia, startVendorServer } from '../helpers/vendor-server.ts';
import { notification, testContext } from './fixtures.ts';

/** Discord's execute-webhook path: /api/webhooks/<id>/<token>. */
const PATH = '/api/webhooks/1234567890123456789/dIsCoRdToKeN_abcdefghijklmnopqrstuvwxyz-0123456789';
const TOKEN = 'dIsCoRdToKeN_abcdefghijklmnopqrstuvwxyz-0123456789';

describe('discord contact', () => {
  it('POSTs {content, embeds, allowed_mentions} and is delivered on 204 No Content', async () => {
    const discord = await startVendorServer(() => ({ status: 204 }));
    const { ctx, logs } = testContext();

    const outcome = await sendVia('discord', discord.url + PATH, notification(), ctx);

    expect(outcome).toEqual({ ok: true, detail: `discord webhook ${discord.host} answered HTTP 204` });
    const request = discord.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe(PATH);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.json).toEqual({
      content: 'Check [shop <front> & api] is now offline: HTTP 503 in 4 ms',
      embeds: [
        {
          description: 'Time: 2026-11-03T09:15:47.836Z\nConfirmed by: probe-ams1, probe-fra2\nNotification: notif-7-1793705747836-offline',
          color: 0xd93f0b,
          timestamp: '2026-11-03T09:15:47.836Z',
        },
      ],
      // No @everyone, role or user pings from a check's name or message.
      allowed_mentions: { parse: [] },
    });
    expectNoSecrets(outcome, logs, [TOKEN]);
  });

  it('is delivered on 200 with the message when the URL asks ?wait=true', async () => {
    const discord = await startVendorServer(() => ({ status: 200, body: { id: '1180000000000000000', channel_id: '1170000000000000000', content: 'x' } }));
    const outcome = await sendVia('discord', `${discord.url}${PATH}?wait=true`, notification({ status: 'online', message: 'HTTP 200' }), testContext().ctx);
    expect(outcome).toEqual({ ok: true, detail: `discord webhook ${discord.host} answered HTTP 200` });
    expect(discord.requests[0]!.path).toBe(`${PATH}?wait=true`);
    expect(discord.requests[0]!.json).toMatchObject({ content: 'Check [shop <front> & api] is now online.', embeds: [{ color: 0x2da44e }] });
  });

  it('retries a 429 with Discord\'s retry_after and a 502', async () => {
    const discord = await startVendorServer((_r, n) =>
      n === 0 ? { status: 429, body: { message: 'You are being rate limited.', retry_after: 1.5, global: false } } : { status: 502, body: '<html><body>Bad Gateway</body></html>' },
    );
    const { ctx, logs } = testContext();
    const limited = await sendVia('discord', discord.url + PATH, notification(), ctx);
    const gateway = await sendVia('discord', discord.url + PATH, notification(), ctx);
    expect(limited).toEqual({ ok: false, retry: true, error: `discord webhook ${discord.host} answered HTTP 429 (retry after 2 s): You are being rate limited.`, retryAfterMs: 2_000 });
    expect(gateway).toEqual({ ok: false, retry: true, error: `discord webhook ${discord.host} answered HTTP 502` });
    expectNoSecrets(limited, logs, [TOKEN]);
  });

  it.each([
    [404, { message: 'Unknown Webhook', code: 10015 }, 'Unknown Webhook'],
    [401, { message: 'Invalid Webhook Token', code: 50027 }, 'Invalid Webhook Token'],
    [400, { message: 'Cannot send an empty message', code: 50006 }, 'Cannot send an empty message'],
  ])('gives up on HTTP %i with Discord\'s message', async (status, body, message) => {
    const discord = await startVendorServer(() => ({ status, body }));
    const { ctx, logs } = testContext();
    const outcome = await sendVia('discord', discord.url + PATH, notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `discord webhook ${discord.host} answered HTTP ${status}: ${message}` });
    expectNoSecrets(outcome, logs, [TOKEN]);
  });

  it('retries when Discord does not answer in time', async () => {
    const discord = await startVendorServer(() => null);
    const { ctx } = testContext({}, { httpTimeoutMs: 200 });
    const outcome = await sendVia('discord', discord.url + PATH, notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: true, error: `discord webhook ${discord.host} failed: no response within 200 ms` });
  });

  it('retries when Discord cannot be reached', async () => {
    const port = await refusedPort();
    const { ctx, logs } = testContext();
    const outcome = await sendVia('discord', `http://127.0.0.1:${port}${PATH}`, notification(), ctx);
    expect(outcome).toMatchObject({ ok: false, retry: true });
    expectNoSecrets(outcome, logs, [TOKEN]);
  });
});
