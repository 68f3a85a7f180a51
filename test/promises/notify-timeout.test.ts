import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it, onTestFinished } from 'vitest';
import { deliveryPolicy } from '../../src/actors/controller.ts';
import { createCheckRegistry } from '../../src/checks/registry.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createContactContext, createContactRegistry } from '../../src/contacts/registry.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createOutbox } from '../../src/db/outbox.ts';
import { createStore } from '../../src/db/store.ts';
import { startDelivery, type NotificationFailedNotice, type NotifyEvent } from '../../src/notify/delivery.ts';
import type { DeliveryPolicy } from '../../src/notify/policy.ts';
import { captureLogs } from '../helpers/logs.ts';
import { freshDatabase, withConnection } from '../helpers/mysql.ts';
import { tcpServer } from '../helpers/servers.ts';

/**
 * README (Delivery guarantees): "an attempt has a deadline of `[controller] notifyTimeout`
 * (60 s) ... An attempt that outlives its deadline may still complete: a webhook is retried
 * (same key), the others end `failed` without another try, and the admin is told."
 */

// Long enough that an answered attempt always beats it on a busy machine; the held one never does.
const TIMEOUT_MS = 2000;
const POLICY: DeliveryPolicy = { maxAttempts: 4, backoffMs: 50, backoffMaxMs: 200, attemptTimeoutMs: TIMEOUT_MS };

/** A fresh outbox with one transition of check 7 owing a notification to `contact`. */
async function outboxWith(contact: { type: string; data: string }, smtpPort = 25) {
  const db = await freshDatabase();
  await migrate(db);
  const logs = captureLogs();
  const store = createStore({ dsns: [`${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`], log: logs.log, registry: createCheckRegistry() });
  onTestFinished(() => store.close());
  const sql = <T extends RowDataPacket[]>(query: string, params: unknown[] = []) => withConnection(db, async (c) => (await c.query<T>(query, params))[0]);
  await sql(`INSERT INTO checks (id, name, type, data) VALUES (7, 'shop', 'tcp', '{"address":"127.0.0.1:9"}')`);
  await sql('INSERT INTO contacts (id, type, data) VALUES (1, ?, ?)', [contact.type, contact.data]);
  await sql(`INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (7, 1, 'both', 1)`);
  expect(await store.recordTransition({ checkId: 7, to: 'offline', at: new Date(), key: 'evt-7', view: 1, message: 'down', workers: ['w1'] })).toBe('written');
  const events: NotifyEvent[] = [];
  const notices: NotificationFailedNotice[] = [];
  const ctx = createContactContext(
    { smtp: { host: '127.0.0.1', port: smtpPort, from: 'monitor@example.net', username: undefined, password: undefined, admin: undefined, adminInterval: 900_000 }, twilio: { accountSid: undefined, authToken: undefined, from: undefined } },
    logs.log,
  );
  const delivery = startDelivery({
    outbox: createOutbox(store.cluster),
    registry: createContactRegistry(),
    ctx,
    policy: POLICY,
    who: { view: 1, controller: 'ctl' },
    log: logs.log,
    publish: (e) => events.push(e),
    notice: (n) => notices.push(n),
    pollMs: 100,
  });
  onTestFinished(() => delivery.stop());
  const row = async () => (await sql(`SELECT state, attempts, outcome FROM bearmon_notifications`))[0]!;
  const attempts = async () => (await sql(`SELECT attempt, result, detail FROM bearmon_notification_attempts ORDER BY attempt`)).map((r) => ({ ...r }));
  return { delivery, events, notices, row, attempts };
}

describe('README: an attempt that outlives notifyTimeout', () => {
  it('[controller] notifyTimeout is the attempt deadline (60 s by default)', () => {
    expect(deliveryPolicy(loadConfig({ env: {} }).config).attemptTimeoutMs).toBe(60_000);
    expect(deliveryPolicy(loadConfig({ env: { BEARMON_CONTROLLER_NOTIFYTIMEOUT: '2s' } }).config).attemptTimeoutMs).toBe(2000);
  });

  it('webhook: the late attempt counts as a retryable failure; the next attempt carries the same Idempotency-Key and is delivered', async () => {
    const posts: { key: string; answered: boolean }[] = [];
    const held: http.ServerResponse[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const post = { key: String(req.headers['idempotency-key']), answered: posts.length > 0 };
        posts.push(post);
        // The first POST gets no answer until the test releases it: it outlives the deadline.
        if (!post.answered) held.push(res);
        else res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
    const h = await outboxWith({ type: 'webhook', data: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` });

    await expect.poll(async () => (await h.row()).state, { timeout: 10_000, interval: 50 }).toBe('delivered');
    // The held request is answered only now, after the outcome was decided: it changes nothing.
    for (const res of held) res.writeHead(200).end();
    expect(posts).toHaveLength(2);
    expect(posts[1]!.key).toBe(posts[0]!.key);
    expect(posts[0]!.key).toBe('evt-7/1');
    expect(await h.attempts()).toEqual([
      { attempt: 1, result: 'retry', detail: `no outcome within ${TIMEOUT_MS} ms; it may have been delivered` },
      { attempt: 2, result: 'delivered', detail: expect.any(String) },
    ]);
    expect(h.events.map((e) => e.outcome)).toEqual(['retry', 'delivered']);
    expect(h.notices).toEqual([]);
  });

  it('e-mail: the late attempt ends the notification `failed` at once, with no other try, and the admin is told', async () => {
    // An SMTP server that accepts the connection and never greets: the mail may or may not get through.
    let connections = 0;
    const { port } = await tcpServer(() => connections++);
    const h = await outboxWith({ type: 'email', data: 'oncall@example.com' }, port);

    await expect.poll(async () => (await h.row()).state, { timeout: 10_000, interval: 50 }).toBe('failed');
    const detail = `not retried: no outcome within ${TIMEOUT_MS} ms; it may have been delivered`;
    expect(await h.row()).toEqual({ state: 'failed', attempts: 1, outcome: detail });
    expect(await h.attempts()).toEqual([{ attempt: 1, result: 'failed', detail }]);
    expect(h.events.map((e) => e.outcome)).toEqual(['failed']);
    expect(h.notices).toEqual([expect.objectContaining({ kind: 'notification-failed', checkId: 7, contactId: 1, contactType: 'email', attempts: 1, error: detail })]);
    // Another sweep of the outbox (the control that it looks again) sends nothing more.
    h.delivery.wake();
    await h.delivery.idle();
    expect(connections).toBe(1);
    expect((await h.row()).attempts).toBe(1);
  });
});
