import { describe, expect, it } from 'vitest';
import { gotifyContact, schema, send } from '../../src/contacts/gotify.ts';
import { createContactRegistry, prepareContact, sendNotification } from '../../src/contacts/registry.ts';
import { startApiReceiver, type ApiAnswer } from '../helpers/api-receiver.ts';
import { refusedPort } from '../helpers/servers.ts';
import { notification, testContext } from './fixtures.ts';

const TOKEN = 'AbCdEf.123-xyz_Q';
const stored: ApiAnswer = { status: 200, json: { id: 25, appid: 5, message: '...', title: '...', priority: 8, date: '2026-11-03T09:15:48.120Z' } };

/** A Gotify server stand-in (under a path prefix, as behind a reverse proxy) answering as documented. */
async function gotify(answer: () => ApiAnswer | null = () => stored) {
  const receiver = await startApiReceiver(() => answer());
  const data = JSON.stringify({ server: `${receiver.url}/gotify`, token: TOKEN });
  const { ctx, logs } = testContext();
  return { receiver, data, ctx, logs, host: new URL(receiver.url).host };
}

describe('gotify contact', () => {
  it('POSTs title, message and priority to /message with the token in X-Gotify-Key', async () => {
    const { receiver, data, ctx, logs, host } = await gotify();
    const prepared = prepareContact(createContactRegistry(), 'gotify', data);
    if (!prepared.ok) throw new Error(prepared.message);

    const down = await sendNotification(prepared, notification(), ctx);
    const up = await sendNotification(prepared, notification({ status: 'online', message: 'HTTP 200' }), ctx);

    expect(down).toEqual({ ok: true, detail: `Gotify ${host} answered HTTP 200: message 25` });
    expect(up).toMatchObject({ ok: true });
    expect(receiver.requests.map((r) => [r.method, r.path, r.headers['x-gotify-key'], r.headers['content-type']])).toEqual([
      ['POST', '/gotify/message', TOKEN, 'application/json'],
      ['POST', '/gotify/message', TOKEN, 'application/json'],
    ]);
    expect(receiver.requests[0]!.body).toEqual({
      title: 'Check offline: shop <front> & api',
      message: expect.stringMatching(/^Check \[shop <front> & api\] is now offline: HTTP 503 in 4 ms\n\nID: 7\n/),
      priority: 8,
    });
    expect(receiver.requests[1]!.body).toMatchObject({ title: 'Check online: shop <front> & api', priority: 4 });
    expect(JSON.stringify(logs.lines)).not.toContain(TOKEN);
    // Gotify has no idempotency key: an unknown outcome must not be sent twice.
    expect(gotifyContact.idempotent).toBeFalsy();
  });

  it('gives up on 401 with Gotify\'s error, never the token', async () => {
    const { data, ctx, logs, host } = await gotify(() => ({
      status: 401,
      json: { error: 'Unauthorized', errorCode: 401, errorDescription: `you need to provide a valid access token (got ${TOKEN})` },
    }));
    const prepared = prepareContact(createContactRegistry(), 'gotify', data);
    if (!prepared.ok) throw new Error(prepared.message);
    expect(await sendNotification(prepared, notification(), ctx)).toEqual({
      ok: false,
      retry: false,
      error: `Gotify ${host} answered HTTP 401: Unauthorized: you need to provide a valid access token (got ***)`,
    });
    expect(JSON.stringify(logs.lines)).not.toContain(TOKEN);
  });

  it('gives up on a 200 that is not a stored message (it may have been shown: no resend)', async () => {
    const { data, ctx, host } = await gotify(() => ({ status: 200, text: '<html>login</html>' }));
    expect(await send(schema.parse(data), notification(), ctx)).toEqual({ ok: false, retry: false, error: `Gotify ${host} answered HTTP 200 without the documented success` });
  });

  it.each([429, 500, 502])('retries HTTP %i', async (status) => {
    const { data, ctx, host } = await gotify(() => ({ status, json: { error: 'Internal Server Error', errorCode: status, errorDescription: 'database is locked' } }));
    expect(await send(schema.parse(data), notification(), ctx)).toEqual({ ok: false, retry: true, error: `Gotify ${host} answered HTTP ${status}: Internal Server Error: database is locked` });
  });

  it('retries when the server is down', async () => {
    const port = await refusedPort();
    const data = schema.parse(JSON.stringify({ server: `http://127.0.0.1:${port}`, token: TOKEN }));
    expect(await send(data, notification(), testContext().ctx)).toEqual({ ok: false, retry: true, error: expect.stringMatching(/^Gotify 127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/) });
  });

  it.each([
    ['{"server":"ftp://push.example.com","token":"AbCdEf.123"}', 'data.server: unsupported scheme "ftp:", expected http or https (value "ftp://push.example.com")'],
    ['{"server":"push.example.com","token":"AbCdEf.123"}', 'data.server: expected an absolute http:// or https:// URL (value "push.example.com")'],
    ['{"server":"https://push.example.com","token":"AbC def"}', 'data.token: expected a Gotify application token (letters, digits, ".", "-", "_") (value "*** (7 characters)")'],
    ['https://push.example.com/message?token=AbCdEf.123', 'data: expected a JSON object such as {"server":"https://push.example.com","token":"<application token>"} (value "*** (49 characters)")'],
  ])('rejects data %j naming the field', (data, message) => {
    expect(prepareContact(createContactRegistry(), 'gotify', data)).toEqual({ ok: false, message });
  });
});
