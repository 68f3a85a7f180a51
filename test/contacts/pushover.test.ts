import { describe, expect, it } from 'vitest';
import { pushoverContact, schema, send } from '../../src/contacts/pushover.ts';
import { createContactRegistry, prepareContact, sendNotification } from '../../src/contacts/registry.ts';
import { startApiReceiver, type ApiAnswer } from '../helpers/api-receiver.ts';
import { refusedPort } from '../helpers/servers.ts';
import { notification, testContext } from './fixtures.ts';

const TOKEN = 'azGDORePK8gMaC0QOYAMyEEuzJnyUi';
const USER = 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG';
const DATA = JSON.stringify({ token: TOKEN, user: USER, device: 'phone' });
const ok: ApiAnswer = { status: 200, json: { status: 1, request: '647d2300-702c-4b38-8b2f-d56326ae460b' } };

/** A Pushover Message API stand-in answering as documented. */
async function pushover(answer: () => ApiAnswer | null = () => ok) {
  const receiver = await startApiReceiver(() => answer());
  const { ctx, logs } = testContext({}, { endpoints: { pushover: receiver.url } });
  return { receiver, ctx, logs, host: new URL(receiver.url).host };
}

describe('pushover contact', () => {
  it('POSTs the documented form fields to /1/messages.json', async () => {
    const { receiver, ctx, logs, host } = await pushover();
    const prepared = prepareContact(createContactRegistry(), 'pushover', DATA);
    if (!prepared.ok) throw new Error(prepared.message);

    const outcome = await sendNotification(prepared, notification(), ctx);

    expect(outcome).toEqual({ ok: true, detail: `Pushover ${host} answered HTTP 200: request 647d2300-702c-4b38-8b2f-d56326ae460b` });
    const [request] = receiver.requests;
    expect([request!.method, request!.path, request!.headers['content-type']]).toEqual(['POST', '/1/messages.json', 'application/x-www-form-urlencoded']);
    expect(request!.body).toEqual({
      token: TOKEN,
      user: USER,
      device: 'phone',
      title: 'Check offline: shop <front> & api',
      message: expect.stringMatching(/^Check \[shop <front> & api\] is now offline: HTTP 503 in 4 ms\n/),
      priority: '1',
      timestamp: '1793697347',
    });
    expect(JSON.stringify(logs.lines)).not.toMatch(new RegExp(`${TOKEN}|${USER}`));
    expect(pushoverContact.idempotent).toBeFalsy();
  });

  it('sends a recovery at normal priority, the message within 1024 characters', async () => {
    const { receiver, ctx } = await pushover();
    await send(schema.parse(JSON.stringify({ token: TOKEN, user: USER })), notification({ status: 'online', message: 'HTTP 200', check: { ...notification().check, data: 'x'.repeat(2000) } }), ctx);
    const body = receiver.requests[0]!.body as Record<string, string>;
    expect([body.priority, body.message!.length, 'device' in body]).toEqual(['0', 1024, false]);
  });

  it('gives up on a 4xx with Pushover\'s errors, never the keys', async () => {
    const { ctx, logs, host } = await pushover(() => ({
      status: 400,
      json: { user: 'invalid', errors: [`user identifier ${USER} is not a valid user, group, or subscribed user key`], status: 0, request: 'r-1' },
    }));
    const prepared = prepareContact(createContactRegistry(), 'pushover', DATA);
    if (!prepared.ok) throw new Error(prepared.message);
    expect(await sendNotification(prepared, notification(), ctx)).toEqual({
      ok: false,
      retry: false,
      error: `Pushover ${host} answered HTTP 400: user identifier *** is not a valid user, group, or subscribed user key`,
    });
    expect(JSON.stringify(logs.lines)).not.toContain(USER);
  });

  it.each([429, 500, 503])('retries HTTP %i', async (status) => {
    const { ctx, host } = await pushover(() => ({ status, text: '' }));
    expect(await send(schema.parse(DATA), notification(), ctx)).toEqual({ ok: false, retry: true, error: `Pushover ${host} answered HTTP ${status}` });
  });

  it('retries when Pushover is unreachable or does not answer in time', async () => {
    const port = await refusedPort();
    const down = testContext({}, { endpoints: { pushover: `http://127.0.0.1:${port}` } }).ctx;
    expect(await send(schema.parse(DATA), notification(), down)).toEqual({ ok: false, retry: true, error: expect.stringMatching(/^Pushover 127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/) });
    const { receiver } = await pushover(() => null);
    const slow = testContext({}, { endpoints: { pushover: receiver.url }, httpTimeoutMs: 200 }).ctx;
    expect(await send(schema.parse(DATA), notification(), slow)).toEqual({ ok: false, retry: true, error: `Pushover ${new URL(receiver.url).host} failed: no response within 200 ms` });
  });

  it.each([
    [JSON.stringify({ token: TOKEN.slice(1), user: USER }), 'data.token: expected a Pushover application API token of 30 letters and digits (value "*** (29 characters)")'],
    [JSON.stringify({ token: TOKEN, user: `${USER}!` }), 'data.user: expected a Pushover user or group key of 30 letters and digits (value "*** (31 characters)")'],
    [JSON.stringify({ token: TOKEN, user: USER, device: 'my phone' }), 'data.device: expected device names of letters, digits, "_" and "-" separated by commas (value "my phone")'],
    [`${TOKEN}:${USER}`, 'data: expected a JSON object such as {"token":"<application token>","user":"<user key>"} (value "*** (61 characters)")'],
  ])('rejects data %j naming the field but not the keys', (data, message) => {
    expect(prepareContact(createContactRegistry(), 'pushover', data)).toEqual({ ok: false, message });
  });
});
