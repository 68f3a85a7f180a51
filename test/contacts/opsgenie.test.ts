import { describe, expect, it } from 'vitest';
import { opsgenieBase, opsgenieContact, schema, send } from '../../src/contacts/opsgenie.ts';
import { createContactRegistry, prepareContact, sendNotification } from '../../src/contacts/registry.ts';
import { startApiReceiver, type ApiAnswer } from '../helpers/api-receiver.ts';
import { refusedPort } from '../helpers/servers.ts';
import { notification, testContext } from './fixtures.ts';

const API_KEY = '0d6b6f8e-3c59-4f5e-9a51-2f1c7d0b9e4a';
const DATA = JSON.stringify({ apiKey: API_KEY, region: 'eu' });
const accepted: ApiAnswer = { status: 202, json: { result: 'Request will be processed', took: 0.302, requestId: '43a29c5c-3dbf-4fa4-9c26-f4f71023e120' } };
const recovered = notification({ id: 'notif-7-1793705800000-online', status: 'online', message: 'HTTP 200 in 3 ms' });

/** An Opsgenie Alert API stand-in answering as documented. */
async function opsgenie(answer: () => ApiAnswer | null = () => accepted) {
  const receiver = await startApiReceiver(() => answer());
  const { ctx, logs } = testContext({}, { endpoints: { opsgenie: receiver.url } });
  return { receiver, ctx, logs, host: new URL(receiver.url).host };
}

function parse(data: unknown) {
  const prepared = prepareContact(createContactRegistry(), 'opsgenie', data);
  if (!prepared.ok) throw new Error(prepared.message);
  return prepared;
}

describe('opsgenie contact', () => {
  it('creates an alert on offline and closes it by the same alias on online', async () => {
    const { receiver, ctx, logs, host } = await opsgenie();
    const prepared = parse(DATA);

    const down = await sendNotification(prepared, notification(), ctx);
    const up = await sendNotification(prepared, recovered, ctx);

    expect(down).toEqual({ ok: true, detail: `Opsgenie create at ${host} answered HTTP 202: Request will be processed (request 43a29c5c-3dbf-4fa4-9c26-f4f71023e120)` });
    expect(up).toEqual({ ok: true, detail: `Opsgenie close at ${host} answered HTTP 202: Request will be processed (request 43a29c5c-3dbf-4fa4-9c26-f4f71023e120)` });
    const [create, close] = receiver.requests;
    expect([create!.method, create!.path, close!.method, close!.path]).toEqual(['POST', '/v2/alerts', 'POST', '/v2/alerts/bearmon-check-7/close?identifierType=alias']);
    for (const r of receiver.requests) {
      expect(r.headers.authorization).toBe(`GenieKey ${API_KEY}`);
      expect(r.headers['content-type']).toBe('application/json');
    }
    expect(create!.body).toEqual({
      message: 'Check [shop <front> & api] is now offline: HTTP 503 in 4 ms',
      alias: 'bearmon-check-7',
      description: expect.stringContaining('Confirmed by: probe-ams1, probe-fra2'),
      source: 'bearmon',
      entity: 'shop <front> & api',
      details: { check_id: '7', check_type: 'http', notification: 'notif-7-1793705747836-offline', confirmed_by: 'probe-ams1, probe-fra2' },
    });
    expect(close!.body).toEqual({ source: 'bearmon', note: 'Check [shop <front> & api] is now online.' });
    expect((create!.body as { alias: string }).alias).toBe(decodeURIComponent(close!.path.split('/')[3]!));
    expect(JSON.stringify(logs.lines)).not.toContain(API_KEY);
  });

  it('keeps the message within Opsgenie\'s 130 characters and resends with the same alias', async () => {
    const { receiver, ctx } = await opsgenie();
    const long = notification({ message: 'x'.repeat(500) });
    await send(schema.parse(DATA), long, ctx);
    await send(schema.parse(DATA), long, ctx);
    const bodies = receiver.requests.map((r) => r.body as { message: string; alias: string });
    expect(bodies.map((b) => b.message.length)).toEqual([130, 130]);
    expect(bodies.map((b) => b.alias)).toEqual(['bearmon-check-7', 'bearmon-check-7']);
    expect(opsgenieContact.idempotent).toBe(true);
  });

  it('calls the account\'s region, US unless the data says eu', () => {
    expect(parse(`{"apiKey":"${API_KEY}"}`).params).toEqual({ apiKey: API_KEY, region: 'us' });
    expect(parse(DATA).params).toEqual({ apiKey: API_KEY, region: 'eu' });
    const production = testContext().ctx;
    expect([opsgenieBase('us', production).href, opsgenieBase('eu', production).href]).toEqual(['https://api.opsgenie.com/', 'https://api.eu.opsgenie.com/']);
  });

  it('gives up on 422 with Opsgenie\'s message and errors', async () => {
    const { ctx, host } = await opsgenie(() => ({
      status: 422,
      json: { message: 'Request body is not processable. Please check the errors.', errors: { message: 'Message can not be empty.' }, took: 0.001, requestId: 'r-1' },
    }));
    expect(await send(schema.parse(DATA), notification(), ctx)).toEqual({
      ok: false,
      retry: false,
      error: `Opsgenie create at ${host} answered HTTP 422: Request body is not processable. Please check the errors.; message: Message can not be empty.`,
    });
  });

  it('gives up on 401 (a wrong key) with the message, never the key', async () => {
    const { ctx, logs, host } = await opsgenie(() => ({ status: 401, json: { message: `Key format is not valid: ${API_KEY}`, took: 0, requestId: 'r-2' } }));
    const outcome = await sendNotification(parse(DATA), notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `Opsgenie create at ${host} answered HTTP 401: Key format is not valid: ***` });
    expect(JSON.stringify(logs.lines)).not.toContain(API_KEY);
  });

  it.each([429, 500, 503])('retries HTTP %i', async (status) => {
    const { ctx, host } = await opsgenie(() => ({ status, json: { message: 'Too many requests', took: 0, requestId: 'r-3' } }));
    expect(await send(schema.parse(DATA), recovered, ctx)).toEqual({ ok: false, retry: true, error: `Opsgenie close at ${host} answered HTTP ${status}: Too many requests` });
  });

  it('retries when Opsgenie is unreachable', async () => {
    const port = await refusedPort();
    const { ctx } = testContext({}, { endpoints: { opsgenie: `http://127.0.0.1:${port}` } });
    expect(await send(schema.parse(DATA), notification(), ctx)).toEqual({ ok: false, retry: true, error: expect.stringMatching(/^Opsgenie create at 127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/) });
  });

  it.each([
    ['{"apiKey":"short","region":"us"}', 'data.apiKey: expected the API key of an Opsgenie API integration (a UUID) (value "*** (5 characters)")'],
    [`{"apiKey":"${API_KEY}","region":"asia"}`, 'data.region: expected "us" or "eu" (value "asia")'],
    [`{"apikey":"${API_KEY}"}`, 'data.apikey: unknown field, expected one of apiKey, region (value "apikey")'],
    ['{"region":"eu"}', 'data.apiKey: expected the API key of an Opsgenie API integration (a UUID) (value undefined)'],
    [API_KEY, 'data: expected a JSON object such as {"apiKey":"<integration API key>","region":"us"} (value "*** (36 characters)")'],
    [`{"apiKey":"${API_KEY}"`, 'data: expected a JSON object such as {"apiKey":"<integration API key>","region":"us"} (value "*** (48 characters)")'],
  ])('rejects data %j naming the field but not the key', (data, message) => {
    const prepared = prepareContact(createContactRegistry(), 'opsgenie', data);
    expect(prepared).toEqual({ ok: false, message });
  });
});
