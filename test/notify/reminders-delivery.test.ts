import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createContactContext, createContactRegistry } from '../../src/contacts/registry.ts';
import { createOutbox } from '../../src/db/outbox.ts';
import { createReminderStore, type ReminderStore } from '../../src/db/reminders.ts';
import { startDelivery, type Delivery } from '../../src/notify/delivery.ts';
import { outageDuration } from '../../src/notify/reminders.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';
import { migratedStore } from '../helpers/store.ts';

/**
 * Reminders through MariaDB, the outbox and a real SMTP server: each reminder slot is its own
 * outbox row, queued by whichever controller sees the slot first, sent once.
 */
const POLICY = { maxAttempts: 4, backoffMs: 50, backoffMaxMs: 200, attemptTimeoutMs: 2000 };
const WAIT = { timeout: 20_000, interval: 50 };

async function setUp(remind: { every: number; max: number }) {
  const { logs, store, sql } = await migratedStore();
  const smtp = await startSmtpServer();
  await sql(`INSERT INTO checks (id, name, type, data) VALUES (7, 'shop api', 'http', '{"url":"http://127.0.0.1:9/"}')`);
  await sql(`INSERT INTO contacts (id, type, data) VALUES (2, 'email', 'oncall@example.com')`);
  await sql(`INSERT INTO alerts (check_id, contact_id, type, enabled, remind_every, remind_max) VALUES (7, 2, 'both', 1, ?, ?)`, [remind.every, remind.max]);
  // Every look for due reminders, by the time it was made: the test waits on these, not on the clock.
  const looks: number[] = [];
  const reminders = createReminderStore(store.cluster);
  const watched: ReminderStore = { ...reminders, candidates: async (limit) => ((looks.push(Date.now()), reminders.candidates(limit))) };
  const deliveries: Delivery[] = [];
  onTestFinished(async () => {
    for (const d of deliveries) await d.stop();
  });
  const deliver = (who: { view: number; controller: string }) => {
    const d = startDelivery({
      outbox: createOutbox(store.cluster),
      registry: createContactRegistry(),
      ctx: createContactContext(
        { smtp: { host: '127.0.0.1', port: smtp.port, from: 'm@example.net', username: undefined, password: undefined, admin: undefined, adminInterval: 900_000 }, twilio: { accountSid: undefined, authToken: undefined, from: undefined } },
        logs.log,
        { httpTimeoutMs: 2000 },
      ),
      policy: POLICY,
      who,
      log: logs.log,
      publish: () => {},
      notice: () => {},
      pollMs: 100,
      reminders: watched,
      reminderScanMs: 50,
    });
    deliveries.push(d);
    return d;
  };
  // Whole seconds: check_events keeps whole seconds, and the recovery's duration is counted from it.
  const offlineAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  expect(await store.recordTransition({ checkId: 7, to: 'offline', at: offlineAt, key: 'evt-7-offline', view: 1, message: 'HTTP 503', workers: ['w1'] })).toBe('written');
  const firstLines = () => smtp.mails.map((m) => m.text.split('\n')[0]);
  /** Resolves once a look for reminders was made after `at` and its sweep is over. */
  const lookedAfter = async (at: number, d: Delivery) => {
    await vi.waitFor(() => expect(looks.some((t) => t > at)).toBe(true), WAIT);
    await d.idle();
  };
  return { store, smtp, sql, deliver, offlineAt, firstLines, lookedAfter, reminders, logs };
}

describe('reminders', () => {
  it('a 3-reminder alert sends exactly 3 reminders across a controller fail-over, then the recovery with the outage duration', async () => {
    const t = await setUp({ every: 2, max: 3 });
    const first = t.deliver({ view: 1, controller: 'ctl-a' });
    // The offline mail, then reminder 1 (at +2 s), from the controller of view 1.
    await vi.waitFor(() => expect(t.smtp.mails).toHaveLength(2), WAIT);

    // The controller of view 1 is gone (as after a kill -9, it does nothing more); a successor
    // of view 2 finds the outage in MySQL and goes on from the slots already queued.
    await first.stop();
    const second = t.deliver({ view: 2, controller: 'ctl-b' });
    await vi.waitFor(() => expect(t.smtp.mails).toHaveLength(4), WAIT);
    // Past slot 4's time (+8 s), a look was made: still 3 reminders (remind_max).
    await t.lookedAfter(t.offlineAt.getTime() + 8_000, second);
    expect(t.smtp.mails).toHaveLength(4);

    const onlineAt = new Date();
    expect(await t.store.recordTransition({ checkId: 7, to: 'online', at: onlineAt, key: 'evt-7-online', view: 2, message: 'HTTP 200', workers: ['w1'] })).toBe('written');
    second.wake();
    await vi.waitFor(() => expect(t.smtp.mails).toHaveLength(5), WAIT);

    expect(t.firstLines()).toEqual([
      'Check [shop api] is now offline: HTTP 503',
      'Check [shop api] is still offline (for 2s, reminder 1): HTTP 503',
      'Check [shop api] is still offline (for 4s, reminder 2): HTTP 503',
      'Check [shop api] is still offline (for 6s, reminder 3): HTTP 503',
      `Check [shop api] is now online (offline for ${outageDuration(onlineAt.getTime() - t.offlineAt.getTime())}).`,
    ]);
    expect(t.smtp.mails.map((m) => m.headers.subject)).toEqual([
      'Check offline: shop api',
      'Check still offline: shop api',
      'Check still offline: shop api',
      'Check still offline: shop api',
      'Check online: shop api',
    ]);
    expect(t.smtp.mails.map((m) => m.headers['x-bearmon-notification'])).toEqual([
      'evt-7-offline/2',
      'evt-7-offline:reminder:1/2',
      'evt-7-offline:reminder:2/2',
      'evt-7-offline:reminder:3/2',
      'evt-7-online/2',
    ]);
    const rows = await t.sql('SELECT notification_key, state, reminder, attempts FROM bearmon_notifications ORDER BY id');
    expect(rows.map((r) => [String(r.notification_key), r.state, r.reminder, r.attempts])).toEqual([
      ['evt-7-offline/2', 'delivered', null, 1],
      ['evt-7-offline:reminder:1/2', 'delivered', 1, 1],
      ['evt-7-offline:reminder:2/2', 'delivered', 2, 1],
      ['evt-7-offline:reminder:3/2', 'delivered', 3, 1],
      ['evt-7-online/2', 'delivered', null, 1],
    ]);
    // Reminder 1 by view 1; reminders 2 and 3 queued and sent by its successor.
    const byView = await t.sql('SELECT n.reminder, a.view FROM bearmon_notification_attempts a JOIN bearmon_notifications n ON n.id = a.notification_id WHERE n.reminder IS NOT NULL ORDER BY n.reminder');
    expect(byView.map((r) => [r.reminder, Number(r.view)])).toEqual([
      [1, 1],
      [2, 2],
      [3, 2],
    ]);
  }, 60_000);

  it('queueing a slot twice inserts one row, and reminders stop when the check is back online', async () => {
    const t = await setUp({ every: 1, max: 50 });
    const d = t.deliver({ view: 1, controller: 'ctl-a' });
    await vi.waitFor(() => expect(t.smtp.mails).toHaveLength(2), WAIT);
    const [candidate] = await t.reminders.candidates(10);
    expect(candidate).toMatchObject({ checkId: 7, contactId: 2, transitionKey: 'evt-7-offline', everySeconds: 1, max: 50 });
    expect(candidate!.queued).toBeGreaterThanOrEqual(1);
    // The slot already queued, queued again (a second controller): nothing new.
    expect(await t.reminders.queue(candidate!, 1, { view: 1, controller: 'ctl-x' }, new Date())).toBe(false);

    const onlineAt = new Date(Math.max(Date.now(), t.offlineAt.getTime() + 1000));
    expect(await t.store.recordTransition({ checkId: 7, to: 'online', at: onlineAt, key: 'evt-7-online', view: 1, message: 'HTTP 200', workers: ['w1'] })).toBe('written');
    d.wake();
    await vi.waitFor(() => expect(t.firstLines().at(-1)).toMatch(/^Check \[shop api\] is now online/), WAIT);
    const sentBefore = t.smtp.mails.length;
    // Two slots later, a look was made: the outage is over, nothing more is queued.
    await t.lookedAfter(onlineAt.getTime() + 2_500, d);
    expect(await t.reminders.candidates(10)).toEqual([]);
    expect(t.smtp.mails).toHaveLength(sentBefore);
    expect(t.firstLines().filter((l) => l!.includes('still offline')).length).toBe(sentBefore - 2);
    expect(await t.sql("SELECT COUNT(*) AS n FROM bearmon_notifications WHERE state <> 'delivered'")).toEqual([{ n: 0 }]);
  }, 60_000);
  it('a maintenance window over the check queues no reminder while it lasts (an outage that began before the window)', async () => {
    const t = await setUp({ every: 60, max: 3 });
    const [candidate] = await t.reminders.candidates(10);
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    await t.sql(`INSERT INTO bearmon_maintenance (name, check_id, kind, spec, time_zone, enabled) VALUES ('db upgrade', 7, 'once', ?, 'UTC', 1)`, [JSON.stringify({ start: iso(now - 60_000), end: iso(now + 3_600_000) })]);
    expect(await t.reminders.queue(candidate!, 1, { view: 1, controller: 'ctl-a' }, new Date(now))).toBe(false);
    // After the window the same slot is queued.
    expect(await t.reminders.queue(candidate!, 1, { view: 1, controller: 'ctl-a' }, new Date(now + 3_700_000))).toBe(true);
    expect(await t.sql('SELECT reminder FROM bearmon_notifications WHERE reminder IS NOT NULL')).toEqual([{ reminder: 1 }]);
  }, 60_000);

  it('a reminder still waiting when the check comes back online is skipped, not sent', async () => {
    const t = await setUp({ every: 60, max: 3 });
    // Queued (as a controller would at its slot), but not sent yet: no delivery runs.
    const [candidate] = await t.reminders.candidates(10);
    expect(await t.reminders.queue(candidate!, 1, { view: 1, controller: 'ctl-a' }, new Date())).toBe(true);
    const onlineAt = new Date(t.offlineAt.getTime() + 1000);
    expect(await t.store.recordTransition({ checkId: 7, to: 'online', at: onlineAt, key: 'evt-7-online', view: 1, message: 'HTTP 200', workers: ['w1'] })).toBe('written');
    const rows = async () => (await t.sql('SELECT notification_key, state, outcome FROM bearmon_notifications ORDER BY id')).map((r) => [String(r.notification_key), r.state, r.outcome]);
    expect(await rows()).toEqual([
      ['evt-7-offline/2', 'pending', null],
      ['evt-7-offline:reminder:1/2', 'skipped', 'the check came back online before this reminder was sent'],
      ['evt-7-online/2', 'pending', null],
    ]);

    const d = t.deliver({ view: 1, controller: 'ctl-a' });
    await vi.waitFor(() => expect(t.smtp.mails).toHaveLength(2), WAIT);
    await d.idle();
    expect(t.firstLines()).toEqual(['Check [shop api] is now offline: HTTP 503', 'Check [shop api] is now online (offline for 1s).']);
    expect((await rows())[1]![1]).toBe('skipped');
  }, 60_000);
});
