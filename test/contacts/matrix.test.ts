import { describe, expect, it } from 'vitest';
import { matrixContact, schema, send } from '../../src/contacts/matrix.ts';
import { createContactRegistry, prepareContact, sendNotification } from '../../src/contacts/registry.ts';
import { startApiReceiver, type ApiAnswer, type ApiRequestSeen } from '../helpers/api-receiver.ts';
import { refusedPort } from '../helpers/servers.ts';
import { notification, testContext } from './fixtures.ts';

const TOKEN = 'syt_Ym90_abcdefghijKLMNOP_0a1B2c';
const ROOM = '!AbCdEfGhIj:example.org';
const SEND_PATH = `/_matrix/client/v3/rooms/${encodeURIComponent(ROOM)}/send/m.room.message/`;

/**
 * A homeserver stand-in answering as the Client-Server API documents, including its
 * transaction semantics: a PUT repeating a txnId gets the event id of the first.
 */
async function homeserver(answer?: (request: ApiRequestSeen) => ApiAnswer | null) {
  const events = new Map<string, string>();
  const receiver = await startApiReceiver(
    answer ??
      ((request) => {
        const txnId = request.path.slice(request.path.lastIndexOf('/') + 1);
        if (!events.has(txnId)) events.set(txnId, `$event${events.size + 1}:example.org`);
        return { status: 200, json: { event_id: events.get(txnId) } };
      }),
  );
  const data = JSON.stringify({ homeserver: receiver.url, token: TOKEN, room: ROOM });
  const { ctx, logs } = testContext();
  return { receiver, data, ctx, logs, host: new URL(receiver.url).host };
}

describe('matrix contact', () => {
  it('PUTs an m.notice to the room with the notification id as transaction id', async () => {
    const { receiver, data, ctx, logs, host } = await homeserver();
    const prepared = prepareContact(createContactRegistry(), 'matrix', data);
    if (!prepared.ok) throw new Error(prepared.message);

    const outcome = await sendNotification(prepared, notification(), ctx);

    expect(outcome).toEqual({ ok: true, detail: `Matrix ${host} room ${ROOM} answered HTTP 200: event $event1:example.org` });
    const [request] = receiver.requests;
    expect([request!.method, request!.path]).toEqual(['PUT', `${SEND_PATH}notif-7-1793705747836-offline`]);
    expect(request!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.body).toEqual({
      msgtype: 'm.notice',
      body: [
        'Check [shop <front> & api] is now offline: HTTP 503 in 4 ms',
        'Time: 2026-11-03T09:15:47.836Z',
        'Confirmed by: probe-ams1, probe-fra2',
        'Notification: notif-7-1793705747836-offline',
      ].join('\n'),
    });
    expect(JSON.stringify(logs.lines)).not.toContain(TOKEN);
  });

  it('resends under the same transaction id, which the homeserver answers with the event it already sent', async () => {
    const { receiver, data, ctx } = await homeserver();
    // The outbox key holds a slash (transition key / contact id): it travels encoded.
    const n = notification({ id: 'check-7@1793705747836:offline/12' });
    const first = await send(schema.parse(data), n, ctx);
    const again = await send(schema.parse(data), n, ctx);
    expect(receiver.requests.map((r) => r.path)).toEqual([`${SEND_PATH}check-7%401793705747836%3Aoffline%2F12`, `${SEND_PATH}check-7%401793705747836%3Aoffline%2F12`]);
    expect([first, again].map((o) => o.ok && o.detail.endsWith('event $event1:example.org'))).toEqual([true, true]);
    expect(matrixContact.idempotent).toBe(true);
  });

  it('gives up on 403 M_FORBIDDEN (not in the room) with the homeserver\'s error', async () => {
    const { data, ctx, host } = await homeserver(() => ({ status: 403, json: { errcode: 'M_FORBIDDEN', error: 'User @bot:example.org not in room !AbCdEfGhIj:example.org' } }));
    expect(await send(schema.parse(data), notification(), ctx)).toEqual({
      ok: false,
      retry: false,
      error: `Matrix ${host} room ${ROOM} answered HTTP 403: M_FORBIDDEN: User @bot:example.org not in room !AbCdEfGhIj:example.org`,
    });
  });

  it('gives up on 401 M_UNKNOWN_TOKEN without repeating the token', async () => {
    const { data, ctx, logs, host } = await homeserver((r) => ({ status: 401, json: { errcode: 'M_UNKNOWN_TOKEN', error: `Unrecognised access token ${r.headers.authorization}` } }));
    const prepared = prepareContact(createContactRegistry(), 'matrix', data);
    if (!prepared.ok) throw new Error(prepared.message);
    expect(await sendNotification(prepared, notification(), ctx)).toEqual({
      ok: false,
      retry: false,
      error: `Matrix ${host} room ${ROOM} answered HTTP 401: M_UNKNOWN_TOKEN: Unrecognised access token Bearer ***`,
    });
    expect(JSON.stringify(logs.lines)).not.toContain(TOKEN);
  });

  it('retries 429 M_LIMIT_EXCEEDED no sooner than its retry_after_ms', async () => {
    const { data, ctx, host } = await homeserver(() => ({ status: 429, json: { errcode: 'M_LIMIT_EXCEEDED', error: 'Too many requests', retry_after_ms: 2500 } }));
    expect(await send(schema.parse(data), notification(), ctx)).toEqual({
      ok: false,
      retry: true,
      error: `Matrix ${host} room ${ROOM} answered HTTP 429 (retry after 3 s): M_LIMIT_EXCEEDED: Too many requests`,
      retryAfterMs: 2500,
    });
  });

  it.each([
    [500, { errcode: 'M_UNKNOWN', error: 'Internal server error' }, ': M_UNKNOWN: Internal server error'],
    [502, undefined, ''],
  ])('retries HTTP %i', async (status, json, said) => {
    const { data, ctx, host } = await homeserver(() => ({ status, json }));
    expect(await send(schema.parse(data), notification(), ctx)).toEqual({ ok: false, retry: true, error: `Matrix ${host} room ${ROOM} answered HTTP ${status}${said}` });
  });

  it('retries when the homeserver is down', async () => {
    const port = await refusedPort();
    const data = schema.parse(JSON.stringify({ homeserver: `http://127.0.0.1:${port}`, token: TOKEN, room: ROOM }));
    expect(await send(data, notification(), testContext().ctx)).toEqual({ ok: false, retry: true, error: expect.stringMatching(/^Matrix 127\.0\.0\.1:\d+ room !AbCdEfGhIj:example\.org failed: .*ECONNREFUSED/) });
  });

  it.each([
    [{ homeserver: 'https://matrix.example.org', token: TOKEN, room: '#ops:example.org' }, 'data.room: expected a room id such as !AbCdEf:example.org (an alias #name:server is not accepted) (value "#ops:example.org")'],
    [{ homeserver: 'matrix.example.org', token: TOKEN, room: ROOM }, 'data.homeserver: expected an absolute http:// or https:// URL (value "matrix.example.org")'],
    [{ homeserver: 'https://matrix.example.org', token: `${TOKEN} x`, room: ROOM }, 'data.token: expected a Matrix access token (value "*** (34 characters)")'],
    [{ homeserver: 'https://matrix.example.org', room: ROOM }, 'data.token: expected a Matrix access token (value undefined)'],
  ])('rejects data %j naming the field but not the token', (data, message) => {
    expect(prepareContact(createContactRegistry(), 'matrix', JSON.stringify(data))).toEqual({ ok: false, message });
  });
});
