import { describe, expect, it } from 'vitest';
import { createContactRegistry, prepareContact } from '../../src/contacts/registry.ts';
import { refusedPort } from '../helpers/servers.ts';
import { expectNoSecrets, sendVia, startVendorServer } from '../helpers/vendor-server.ts';
import { notification, testContext } from './fixtures.ts';

const TOKEN = 'tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2';
const TOPIC = 'bearmon-ops-x7k2q9';

/** ntfy's reply to a published message. */
const published = (topic: string) => ({ status: 200, body: { id: 'sPs71M8A2T', time: 1793705748, expires: 1793748948, event: 'message', topic, message: '…' } });

describe('ntfy contact', () => {
  it('POSTs the text to <server>/<topic> with Title, Priority, Tags and a Bearer token, delivered on 200', async () => {
    const ntfy = await startVendorServer((r) => published(r.path.slice(1)));
    const { ctx, logs } = testContext();

    const outcome = await sendVia('ntfy', JSON.stringify({ server: ntfy.url, topic: TOPIC, token: TOKEN }), notification(), ctx);

    // The topic is a password on ntfy.sh: only the server is named.
    expect(outcome).toEqual({ ok: true, detail: `ntfy ${ntfy.host} answered HTTP 200` });
    const request = ntfy.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe(`/${TOPIC}`);
    expect(request.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(request.headers.title).toBe('Check offline: shop <front> & api');
    expect(request.headers.priority).toBe('4');
    expect(request.headers.tags).toBe('rotating_light');
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request.body).toBe(
      'Check [shop <front> & api] is now offline: HTTP 503 in 4 ms\n\nTime: 2026-11-03T09:15:47.836Z\nConfirmed by: probe-ams1, probe-fra2\nNotification: notif-7-1793705747836-offline',
    );
    expectNoSecrets(outcome, logs, [TOKEN, TOPIC]);
  });

  it('keeps a server\'s path prefix, uses the configured priority, and RFC 2047-encodes a non-ASCII title', async () => {
    const ntfy = await startVendorServer(() => published(TOPIC));
    const { ctx } = testContext();
    const n = notification({ status: 'online', message: 'HTTP 200', check: { ...notification().check, name: 'Zürich web ✓' } });
    const outcome = await sendVia('ntfy', JSON.stringify({ server: `${ntfy.url}/ntfy`, topic: TOPIC, priority: 2 }), n, ctx);
    expect(outcome.ok).toBe(true);
    const request = ntfy.requests[0]!;
    expect(request.path).toBe(`/ntfy/${TOPIC}`);
    expect(request.headers.title).toBe(`=?UTF-8?B?${Buffer.from('Check online: Zürich web ✓').toString('base64')}?=`);
    expect(request.headers.priority).toBe('2');
    expect(request.headers.tags).toBe('white_check_mark');
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body.split('\n')[0]).toBe('Check [Zürich web ✓] is now online.');
  });

  it('retries a 429 and a 500 with ntfy\'s error text', async () => {
    const ntfy = await startVendorServer((_r, n) =>
      n === 0
        ? { status: 429, body: { code: 42901, http: 429, error: 'limit reached: too many requests', link: 'https://ntfy.sh/docs/publish/#limitations' } }
        : { status: 500, body: { code: 50001, http: 500, error: 'internal server error' } },
    );
    const { ctx, logs } = testContext();
    const data = JSON.stringify({ server: ntfy.url, topic: TOPIC, token: TOKEN });
    const limited = await sendVia('ntfy', data, notification(), ctx);
    expect(limited).toEqual({ ok: false, retry: true, error: `ntfy ${ntfy.host} answered HTTP 429: limit reached: too many requests` });
    expect(await sendVia('ntfy', data, notification(), ctx)).toEqual({ ok: false, retry: true, error: `ntfy ${ntfy.host} answered HTTP 500: internal server error` });
    expectNoSecrets(limited, logs, [TOKEN, TOPIC]);
  });

  it.each([
    [401, 40101, 'unauthorized'],
    [403, 40301, 'forbidden'],
    [400, 40009, 'invalid request: topic invalid'],
  ])('gives up on %i with ntfy\'s error', async (status, code, error) => {
    const ntfy = await startVendorServer(() => ({ status, body: { code, http: status, error, link: 'https://ntfy.sh/docs/publish/' } }));
    const { ctx, logs } = testContext();
    const outcome = await sendVia('ntfy', JSON.stringify({ server: ntfy.url, topic: TOPIC, token: TOKEN }), notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `ntfy ${ntfy.host} answered HTTP ${status}: ${error}` });
    expectNoSecrets(outcome, logs, [TOKEN, TOPIC]);
  });

  it('masks token and topic when a reply echoes them', async () => {
    const ntfy = await startVendorServer((r) => ({ status: 403, body: { code: 40301, http: 403, error: `forbidden: ${r.headers.authorization} may not write ${r.path}` } }));
    const { ctx, logs } = testContext();
    const outcome = await sendVia('ntfy', JSON.stringify({ server: ntfy.url, topic: TOPIC, token: TOKEN }), notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `ntfy ${ntfy.host} answered HTTP 403: forbidden: Bearer *** may not write ***` });
    expectNoSecrets(outcome, logs, [TOKEN, TOPIC]);
  });

  it('retries when the server cannot be reached', async () => {
    const port = await refusedPort();
    const { ctx, logs } = testContext();
    const outcome = await sendVia('ntfy', JSON.stringify({ server: `http://127.0.0.1:${port}`, topic: TOPIC, token: TOKEN }), notification(), ctx);
    expect(outcome).toMatchObject({ ok: false, retry: true, error: expect.stringMatching(new RegExp(`^ntfy 127\\.0\\.0\\.1:${port} failed: .*ECONNREFUSED`)) });
    expectNoSecrets(outcome, logs, [TOKEN, TOPIC]);
  });

  it('defaults the server to https://ntfy.sh', () => {
    const prepared = prepareContact(createContactRegistry(), 'ntfy', JSON.stringify({ topic: TOPIC }));
    expect(prepared).toMatchObject({ ok: true, params: { topic: TOPIC } });
  });

  it.each([
    [JSON.stringify({ topic: 'ops alerts' }), 'data.topic: expected a topic of 1-64 letters, digits, - and _ (value "ops alerts")'],
    [JSON.stringify({ server: 'ntfy.example.com', topic: TOPIC }), 'data.server: expected an absolute http:// or https:// URL (value "ntfy.example.com")'],
    [JSON.stringify({ topic: TOPIC, priority: 9 }), 'data.priority: expected 1 to 5 (value 9)'],
    [JSON.stringify({ topic: TOPIC, tokn: TOKEN }), 'data.tokn: unknown field, expected server, topic, token, priority (value "***")'],
    ['ntfy.sh/alerts', 'data: expected a JSON object such as {"topic": "ops-alerts"} (value "***")'],
  ])('rejects data %s naming field and value', (data, message) => {
    const prepared = prepareContact(createContactRegistry(), 'ntfy', data);
    expect(prepared.ok === false && prepared.message).toBe(message);
  });
});
