/**
 * Maintenance windows against real MariaDB and a real webhook receiver: a transition inside a
 * window is recorded but nobody hears of it; still offline when the window ends, the
 * contact is told once (also across a change of controller); back online inside it, never.
 * The delivery clock is injected, so the window's end is a step of the test, not a wait.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createContactContext, createContactRegistry } from '../../src/contacts/registry.ts';
import { createHeldOutbox } from '../../src/db/maintenance-outbox.ts';
import { createOutbox } from '../../src/db/outbox.ts';
import type { Transition } from '../../src/db/store.ts';
import { startDelivery, type Delivery, type NotifyEvent } from '../../src/notify/delivery.ts';
import { startWebhookReceiver } from '../helpers/webhook.ts';
import { migratedStore } from '../helpers/store.ts';

const POLICY = { maxAttempts: 3, backoffMs: 50, backoffMaxMs: 200, attemptTimeoutMs: 2000 };

async function setup() {
  const { logs, store, sql } = await migratedStore();
  const hook = await startWebhookReceiver();
  await sql(`INSERT INTO checks (id, name, type, data) VALUES (1, 'shop', 'http', '{"url":"http://127.0.0.1:9/"}'), (2, 'blog', 'http', '{"url":"http://127.0.0.1:9/"}')`);
  await sql(`INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', ?)`, [hook.url]);
  await sql(`INSERT INTO alerts (check_id, contact_id, type) VALUES (1, 1, 'both'), (2, 1, 'both')`);
  // Nightly 10:00-11:00 UTC on 2026-01-01, for check 1 only.
  await sql(`INSERT INTO bearmon_maintenance (name, check_id, kind, spec, time_zone) VALUES ('nightly', 1, 'once', ?, 'UTC')`, [JSON.stringify({ start: '2026-01-01T10:00', end: '2026-01-01T11:00' })]);
  const clock = { now: Date.parse('2026-01-01T10:00:00Z') };
  const events: NotifyEvent[] = [];
  const deliveries: Delivery[] = [];
  onTestFinished(async () => {
    for (const d of deliveries) await d.stop();
  });
  const deliver = (view: number) => {
    const d = startDelivery({
      outbox: createOutbox(store.cluster),
      held: createHeldOutbox(store.cluster),
      registry: createContactRegistry(),
      ctx: createContactContext({ smtp: { host: '127.0.0.1', port: 25, from: 'm@example.net', username: undefined, password: undefined, admin: undefined, adminInterval: 900_000 }, twilio: { accountSid: undefined, authToken: undefined, from: undefined } } as never, logs.log, { httpTimeoutMs: 2000 }),
      policy: POLICY,
      who: { view, controller: `ctl-${view}` },
      log: logs.log,
      publish: (e) => events.push(e),
      notice: () => {},
      now: () => clock.now,
      pollMs: 60_000,
    });
    deliveries.push(d);
    return d;
  };
  /** Records a transition of `checkId` at `iso` (its notifications with it), as the controller's writer does. */
  const transition = async (checkId: number, to: 'online' | 'offline', iso: string) => {
    const t: Transition = { checkId, to, at: new Date(iso), key: `${checkId}:${iso}:${to}`, view: 1, message: to === 'offline' ? 'HTTP 503' : 'HTTP 200', workers: ['w1'] };
    expect(await store.recordTransition(t)).toBe('written');
  };
  /** Moves the delivery clock and lets the actor look (wake, then wait until it is idle). */
  const at = async (d: Delivery, iso: string) => {
    clock.now = Date.parse(iso);
    d.wake();
    await d.idle();
  };
  const rows = async () => (await sql('SELECT check_id, status, state, held_by, outcome FROM bearmon_notifications ORDER BY id')).map((r) => ({ ...r }));
  return { hook, events, deliver, transition, at, rows, sql, recordRaw: (t: Transition) => store.recordTransition(t) };
}

describe('maintenance windows hold notifications', () => {
  it('a partial outage inside the window is no change of the check: a held offline notification is still sent at the window end', async () => {
    const h = await setup();
    await h.sql(`INSERT INTO alerts (check_id, contact_id, type) VALUES (1, 1, 'partial')`);
    const d = h.deliver(1);
    await h.transition(1, 'offline', '2026-01-01T10:15:00Z');
    // A partial-outage record of the same check later inside the window (skipped: nobody is told).
    const partial: Transition = { checkId: 1, to: 'offline', at: new Date('2026-01-01T10:40:00Z'), key: `partial:1:${Date.parse('2026-01-01T10:40:00Z')}:began`, view: 1, message: 'x', workers: [], partial: { phase: 'began', down: ['eu'], up: ['us'] } };
    await h.sql("UPDATE checks SET status = 'offline' WHERE id = 1");
    expect(await h.recordRaw(partial)).toBe('written');
    await h.at(d, '2026-01-01T11:00:00Z');
    // The status notification is sent (the partial outage, still in progress, is told too: its own row).
    await vi.waitFor(() => expect(h.hook.posts.filter((p) => !p.fields.partial).map((p) => [p.fields.check_id, p.fields.status])).toEqual([['1', 'offline']]), { timeout: 10_000, interval: 50 });
  });

  it('a transition inside the window notifies nobody; still offline at its end, the contact is told exactly once, also by a successor controller', async () => {
    const h = await setup();
    const first = h.deliver(1);
    await h.transition(1, 'offline', '2026-01-01T10:15:00Z');
    await h.at(first, '2026-01-01T10:16:00Z');
    expect(h.hook.posts).toEqual([]);
    expect(await h.rows()).toEqual([{ check_id: 1, status: 'offline', state: 'held', held_by: 'nightly', outcome: 'held: maintenance nightly until 2026-01-01T11:00:00.000Z' }]);
    expect(h.events.map((e) => [e.outcome, e.message])).toEqual([['held', 'held: maintenance nightly until 2026-01-01T11:00:00.000Z']]);

    // Check 2 has no window: its notification goes at once.
    await h.transition(2, 'offline', '2026-01-01T10:20:00Z');
    await h.at(first, '2026-01-01T10:20:01Z');
    expect(h.hook.posts.map((p) => [p.fields.check_id, p.fields.status])).toEqual([['2', 'offline']]);

    // The window ends with check 1 still offline: one message.
    await h.at(first, '2026-01-01T11:00:00Z');
    expect(h.hook.posts.map((p) => [p.fields.check_id, p.fields.status])).toEqual([['2', 'offline'], ['1', 'offline']]);
    expect(h.events.filter((e) => e.checkId === 1).map((e) => e.outcome)).toEqual(['held', 'released', 'delivered']);

    // A successor controller (view 2) finds nothing left to do for it.
    await first.stop();
    const second = h.deliver(2);
    await h.at(second, '2026-01-01T11:05:00Z');
    expect(h.hook.posts).toHaveLength(2);
    expect((await h.rows()).map((r) => r.state)).toEqual(['delivered', 'delivered']);
  });

  it('back online inside the window: nobody is told, neither of the outage nor of the recovery', async () => {
    const h = await setup();
    const d = h.deliver(1);
    await h.transition(1, 'offline', '2026-01-01T10:15:00Z');
    await h.transition(1, 'online', '2026-01-01T10:40:00Z');
    await h.at(d, '2026-01-01T10:41:00Z');
    await h.at(d, '2026-01-01T11:00:00Z');
    expect(h.hook.posts).toEqual([]);
    expect((await h.rows()).map((r) => [r.status, r.state])).toEqual([
      ['offline', 'skipped'],
      ['online', 'skipped'],
    ]);
    expect(h.events.filter((e) => e.outcome === 'skipped').map((e) => e.message)).toEqual([
      'held by maintenance nightly; the check changed again before it ended (now online): not sent',
      'held by maintenance nightly; the outage it ends was held too, nobody heard of it: not sent',
    ]);
  });

  it('offline, online and offline again inside the window: one message at its end', async () => {
    const h = await setup();
    const d = h.deliver(1);
    await h.transition(1, 'offline', '2026-01-01T10:15:00Z');
    await h.transition(1, 'online', '2026-01-01T10:30:00Z');
    await h.transition(1, 'offline', '2026-01-01T10:45:00Z');
    await h.at(d, '2026-01-01T11:00:00Z');
    expect(h.hook.posts.map((p) => [p.fields.check_id, p.fields.status])).toEqual([['1', 'offline']]);
    expect((await h.rows()).map((r) => r.state)).toEqual(['skipped', 'skipped', 'delivered']);
  });
});
