import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFilter } from '../../src/bus/subjects.ts';
import { runBearmon } from '../helpers/bearmon.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { startRoleCluster } from '../helpers/role-cluster.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';
import { startWebhookReceiver } from '../helpers/webhook.ts';
import { switchableTarget } from './harness.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

describe('notifications end to end (real processes)', () => {
  it('an outage notifies each routed contact once, across a kill -9 of the controller; replay --explain shows the deliveries', async () => {
    const target = await switchableTarget();
    const hook = await startWebhookReceiver();
    const disabledHook = await startWebhookReceiver();
    const smtp = await startSmtpServer();
    const { conn, admin, views, workers, env, firstView } = await startRoleCluster(nats, {
      stream: 'BEARMON_NOTIFY',
      rows: [
        [`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('shop', 'http', ?, 1, 1)`, [JSON.stringify({ url: target.url, expect_status: 200 })]],
        [`INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', ?), (2, 'email', 'oncall@example.com'), (3, 'http', ?)`, [hook.url, disabledHook.url]],
        [`INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (1, 1, 'both', 1), (1, 2, 'offline', 1), (1, 3, 'both', 0)`],
      ],
      env: { BEARMON_SMTP_HOST: '127.0.0.1', BEARMON_SMTP_PORT: String(smtp.port), BEARMON_SMTP_FROM: 'bearmon@example.net' },
    });
    // Subscribed before any outage, so no notify event is missed.
    const notifyEvents: { outcome: string; contact: number }[] = [];
    admin.subscribe(checkFilter('notify', 1), { callback: (_e, m) => void notifyEvents.push(m.json()) });
    await admin.flush();
    const first = await firstView();
    await expect.poll(() => target.hits.size, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);

    const rows = async () =>
      (await conn.query<RowDataPacket[]>('SELECT contact_id, status, state, attempts FROM bearmon_notifications ORDER BY id'))[0].map((r) => ({ ...r }));

    // The target dies: the webhook and the e-mail contact hear of it once each.
    target.up = false;
    await expect.poll(rows, { timeout: 30_000, interval: 200 }).toEqual([
      { contact_id: 1, status: 'offline', state: 'delivered', attempts: 1 },
      { contact_id: 2, status: 'offline', state: 'delivered', attempts: 1 },
    ]);
    expect(hook.posts.map((p) => p.fields)).toEqual([
      { check_id: '1', name: 'shop', type: 'http', data: JSON.stringify({ url: target.url, expect_status: 200 }), status: 'offline', message: expect.stringContaining('503') },
    ]);
    expect(hook.posts[0]!.headers['idempotency-key']).toMatch(/^1:.+:offline\/1$/);
    expect(smtp.mails.map((m) => [m.envelopeTo, m.headers.subject])).toEqual([[['oncall@example.com'], 'Check offline: shop']]);

    // kill -9 the controller; the successor rebuilds from the log and must not notify again.
    workers.get(first.controller!)!.child.kill('SIGKILL');
    await expect.poll(() => views.at(-1)!.view, { timeout: 20_000 }).toBeGreaterThan(first.view);
    const second = views.at(-1)!;
    await expect
      .poll(() => workers.get(second.controller!)!.logs.some((l) => l.msg === 'controller started' && l.view === second.view), { timeout: 20_000 })
      .toBe(true);

    // The target is back: only the alert asking for online news (the webhook) is told.
    target.up = true;
    await expect.poll(async () => (await rows()).length, { timeout: 30_000, interval: 200 }).toBe(3);
    await expect.poll(async () => (await rows())[2], { timeout: 20_000, interval: 200 }).toEqual({ contact_id: 1, status: 'online', state: 'delivered', attempts: 1 });
    expect(hook.posts.map((p) => p.fields.status)).toEqual(['offline', 'online']);
    expect(smtp.mails).toHaveLength(1);
    expect(disabledHook.posts).toEqual([]);
    // Each outcome goes into the log after its row is written: the last may still be on its way.
    await expect.poll(() => notifyEvents.map((e) => `${e.contact}:${e.outcome}`).sort(), { timeout: timeoutFor() }).toEqual(['1:delivered', '1:delivered', '2:delivered']);

    // The operator's commands, under the operator's read-only credential.
    const operator = { ...env, BEARMON_NATS_URL: nats.urlFor('operator') };
    const status = await runBearmon(['status', '--json'], operator);
    expect(JSON.parse(status.stdout).notifications).toEqual({ pending: 0, sending: 0, oldestOpen: null, lastDay: { delivered: 3, failed: 0, unconfirmed: 0 } });
    expect((await runBearmon(['status'], operator)).stdout).toMatch(/^notifications: 0 pending, 0 sending; last 24 h: 3 delivered, 0 failed, 0 unconfirmed$/m);

    const explained = await runBearmon(['replay', '--explain'], operator);
    expect(explained.code).toBe(0);
    // The check's name comes from the controller's check line in the log.
    expect(explained.stdout).toMatch(/^check 1 \(shop\) went offline at /m);
    expect(explained.stdout).toMatch(/notify check 1 \(shop\) contact 1 \(webhook\), attempt 1: delivered — webhook 127\.0\.0\.1:\d+ answered HTTP 200/);
    expect(explained.stdout).toMatch(/notify check 1 \(shop\) contact 2 \(email\), attempt 1: delivered — mail to oncall@example.com accepted/);
  }, 120_000);
});
