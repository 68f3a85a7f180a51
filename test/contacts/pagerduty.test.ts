import { describe, expect, it } from 'vitest';
import { pagerdutyContact, send } from '../../src/contacts/pagerduty.ts';
import { createContactRegistry, prepareContact, sendNotification } from '../../src/contacts/registry.ts';
import { startApiReceiver, type ApiAnswer } from '../helpers/api-receiver.ts';
import { refusedPort } from '../helpers/servers.ts';
import { notification, testContext } from './fixtures.ts';

const ROUTING_KEY = 'R0a1b2c3d4e5f60718293a4b5c6d7e8f';
const accepted = (dedupKey: string): ApiAnswer => ({ status: 202, json: { status: 'success', message: 'Event processed', dedup_key: dedupKey } });

/** A PagerDuty Events API v2 stand-in answering as documented. */
async function pagerduty(answer: (body: Record<string, unknown>) => ApiAnswer | null = (body) => accepted(String(body.dedup_key))) {
  const receiver = await startApiReceiver((request) => answer(request.body as Record<string, unknown>));
  const { ctx, logs } = testContext({}, { endpoints: { pagerduty: receiver.url } });
  return { receiver, ctx, logs, host: new URL(receiver.url).host };
}

describe('pagerduty contact', () => {
  it('triggers on offline and resolves on online with the same dedup_key, so recovery closes the incident', async () => {
    const { receiver, ctx, logs, host } = await pagerduty();
    const prepared = prepareContact(createContactRegistry(), 'pagerduty', ` ${ROUTING_KEY} `);
    if (!prepared.ok) throw new Error(prepared.message);

    const down = await sendNotification(prepared, notification(), ctx);
    const up = await sendNotification(prepared, notification({ id: 'notif-7-1793705800000-online', status: 'online', message: 'HTTP 200 in 3 ms' }), ctx);

    expect(down).toEqual({ ok: true, detail: `PagerDuty trigger to ${host} answered HTTP 202: Event processed (dedup_key bearmon-check-7)` });
    expect(up).toEqual({ ok: true, detail: `PagerDuty resolve to ${host} answered HTTP 202: Event processed (dedup_key bearmon-check-7)` });
    expect(receiver.requests.map((r) => [r.method, r.path, r.headers['content-type']])).toEqual([
      ['POST', '/v2/enqueue', 'application/json'],
      ['POST', '/v2/enqueue', 'application/json'],
    ]);
    const [trigger, resolve] = receiver.requests.map((r) => r.body as Record<string, unknown>);
    expect(trigger).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'bearmon-check-7',
      client: 'bearmon',
      payload: {
        summary: 'Check [shop <front> & api] is now offline: HTTP 503 in 4 ms',
        source: 'shop <front> & api',
        severity: 'critical',
        timestamp: '2026-11-03T09:15:47.836Z',
        class: 'http',
        custom_details: { check_id: 7, check_type: 'http', message: 'HTTP 503 in 4 ms', confirmed_by: ['probe-ams1', 'probe-fra2'], notification: 'notif-7-1793705747836-offline' },
      },
    });
    expect(resolve).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'bearmon-check-7' });
    expect(resolve!.dedup_key).toBe(trigger!.dedup_key);
    expect(logs.matching(/notification delivered/)).toEqual([
      expect.objectContaining({ checkId: 7, contactType: 'pagerduty' }),
      expect.objectContaining({ checkId: 7, contactType: 'pagerduty' }),
    ]);
    expect(JSON.stringify(logs.lines)).not.toContain(ROUTING_KEY);
  });

  it('sends a resend of the same outage with the same dedup_key (PagerDuty folds it into the open alert)', async () => {
    const { receiver, ctx } = await pagerduty();
    await send(ROUTING_KEY, notification(), ctx);
    await send(ROUTING_KEY, notification(), ctx);
    expect(receiver.requests.map((r) => (r.body as { dedup_key: string }).dedup_key)).toEqual(['bearmon-check-7', 'bearmon-check-7']);
    expect(pagerdutyContact.idempotent).toBe(true);
  });

  it('gives up on 400 invalid event with PagerDuty\'s message', async () => {
    const { ctx, host } = await pagerduty(() => ({
      status: 400,
      json: { status: 'invalid event', message: 'Event object is invalid', errors: ["Length of 'routing_key' is incorrect (should be 32 characters)"] },
    }));
    expect(await send(ROUTING_KEY, notification(), ctx)).toEqual({
      ok: false,
      retry: false,
      error: `PagerDuty trigger to ${host} answered HTTP 400: Event object is invalid; Length of 'routing_key' is incorrect (should be 32 characters)`,
    });
  });

  it.each([429, 500, 503])('retries HTTP %i', async (status) => {
    const { ctx, host } = await pagerduty(() => ({ status, text: '' }));
    expect(await send(ROUTING_KEY, notification(), ctx)).toEqual({ ok: false, retry: true, error: `PagerDuty trigger to ${host} answered HTTP ${status}` });
  });

  it('retries a 429 no sooner than its Retry-After', async () => {
    const { ctx, host } = await pagerduty(() => ({ status: 429, text: '', headers: { 'Retry-After': '30' } }));
    expect(await send(ROUTING_KEY, notification(), ctx)).toEqual({ ok: false, retry: true, error: `PagerDuty trigger to ${host} answered HTTP 429 (retry after 30 s)`, retryAfterMs: 30_000 });
  });

  it('retries a 2xx that is not the documented success (the dedup_key makes the resend harmless)', async () => {
    const { ctx, host } = await pagerduty(() => ({ status: 202, text: 'queued?' }));
    expect(await send(ROUTING_KEY, notification(), ctx)).toEqual({ ok: false, retry: true, error: `PagerDuty trigger to ${host} answered HTTP 202 without the documented success: queued?` });
  });

  it('retries when PagerDuty is unreachable or does not answer in time', async () => {
    const port = await refusedPort();
    const down = testContext({}, { endpoints: { pagerduty: `http://127.0.0.1:${port}` } }).ctx;
    expect(await send(ROUTING_KEY, notification(), down)).toEqual({ ok: false, retry: true, error: expect.stringMatching(/^PagerDuty trigger to 127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/) });

    const { receiver } = await pagerduty(() => null);
    const slow = testContext({}, { endpoints: { pagerduty: receiver.url }, httpTimeoutMs: 200 }).ctx;
    expect(await send(ROUTING_KEY, notification(), slow)).toEqual({ ok: false, retry: true, error: `PagerDuty trigger to ${new URL(receiver.url).host} failed: no response within 200 ms` });
  });

  it('never repeats the routing key, even when PagerDuty echoes it', async () => {
    const { ctx, logs } = await pagerduty((body) => ({ status: 400, json: { status: 'invalid event', message: `Unknown routing key ${String(body.routing_key)}`, errors: [] } }));
    const prepared = prepareContact(createContactRegistry(), 'pagerduty', ROUTING_KEY);
    if (!prepared.ok) throw new Error(prepared.message);
    const outcome = await sendNotification(prepared, notification(), ctx);
    expect(outcome).toMatchObject({ ok: false, retry: false, error: expect.stringContaining('Unknown routing key ***') });
    expect(JSON.stringify({ outcome, lines: logs.lines })).not.toContain(ROUTING_KEY);
  });

  it.each([
    [ROUTING_KEY.slice(1), 'data: expected a PagerDuty Events API v2 integration key of 32 letters and digits (value "*** (31 characters)")'],
    [`${ROUTING_KEY.slice(2)}-_`, 'data: expected a PagerDuty Events API v2 integration key of 32 letters and digits (value "*** (32 characters)")'],
    [null, 'data: expected a PagerDuty Events API v2 integration key of 32 letters and digits (value "*** (object)")'],
  ])('rejects data %j naming the field but not the key', (data, message) => {
    const prepared = prepareContact(createContactRegistry(), 'pagerduty', data);
    expect(prepared).toEqual({ ok: false, message });
  });
});
