/**
 * Partial outages (issue 17) against real MariaDB and real receivers: a partial record owes
 * notifications to `partial` alerts only, leaves checks.status and check_events alone, is
 * idempotent by key and fenced by view; maintenance skips it, reminders never follow it, and
 * a malformed partial column fails its notification instead of sending a false status.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createContactContext, createContactRegistry } from '../../src/contacts/registry.ts';
import { FencedError } from '../../src/db/errors.ts';
import { createOutbox } from '../../src/db/outbox.ts';
import { createReminderStore } from '../../src/db/reminders.ts';
import type { Transition } from '../../src/db/store.ts';
import { startDelivery, type NotifyEvent } from '../../src/notify/delivery.ts';
import { startVendorServer } from '../helpers/vendor-server.ts';
import { startWebhookReceiver } from '../helpers/webhook.ts';
import { migratedStore } from '../helpers/store.ts';

const POLICY = { maxAttempts: 3, backoffMs: 50, backoffMaxMs: 200, attemptTimeoutMs: 2000 };
const WAIT = { timeout: 20_000, interval: 50 };
const T0 = '2026-01-01T09:00:00Z';

const began = (at = T0, extra: Partial<Transition> = {}): Transition => ({
  checkId: 1,
  to: 'offline',
  at: new Date(at),
  key: `partial:1:${Date.parse(at)}:began`,
  view: 1,
  message: 'connect ETIMEDOUT',
  workers: ['w-eu'],
  partial: { phase: 'began', down: ['eu-west'], up: ['us-east', 'ap-south'] },
  ...extra,
});
/** The end of the outage that began at `since` (keys name the start: the controller's partialTransitionOf). */
const ended = (at: string, since = T0): Transition => ({
  checkId: 1,
  to: 'online',
  at: new Date(at),
  key: `partial:1:${Date.parse(since)}:ended`,
  view: 1,
  message: 'HTTP 200',
  workers: ['w-eu'],
  partial: { phase: 'ended', down: [], up: ['eu-west', 'us-east', 'ap-south'] },
});

async function setup() {
  const { logs, store, sql } = await migratedStore();
  const hook = await startWebhookReceiver();
  const json = await startVendorServer(() => ({ status: 200 }));
  await sql(`INSERT INTO checks (id, name, type, data, status) VALUES (1, 'shop', 'http', '{"url":"http://127.0.0.1:9/"}', 'online')`);
  // Contact 1 (form webhook) hears of partial outages only; contact 2 (json) of status changes only.
  await sql(`INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', ?), (2, 'json', ?)`, [hook.url, JSON.stringify({ url: json.url })]);
  await sql(`INSERT INTO alerts (id, check_id, contact_id, type) VALUES (1, 1, 1, 'partial'), (2, 1, 2, 'both')`);
  const events: NotifyEvent[] = [];
  const deliver = () => {
    const d = startDelivery({
      outbox: createOutbox(store.cluster),
      registry: createContactRegistry(),
      ctx: createContactContext({ smtp: { host: '127.0.0.1', port: 25, from: 'm@example.net', username: undefined, password: undefined, admin: undefined, adminInterval: 900_000 }, twilio: { accountSid: undefined, authToken: undefined, from: undefined } } as never, logs.log, { httpTimeoutMs: 2000 }),
      policy: POLICY,
      who: { view: 1, controller: 'ctl-1' },
      log: logs.log,
      publish: (e) => events.push(e),
      notice: () => {},
      pollMs: 100,
    });
    onTestFinished(() => d.stop());
    return d;
  };
  const rows = async () =>
    (await sql('SELECT CAST(notification_key AS CHAR) AS notification_key, contact_id, status, state, partial, held_by, reminder, offline_since FROM bearmon_notifications ORDER BY id')).map((r) => ({ ...r }));
  return { store, sql, hook, json, deliver, rows, events };
}

describe('partial outages: recording', () => {
  it('owes notifications to partial alerts only, with the JSON in the partial column, and leaves checks.status and check_events alone', async () => {
    const h = await setup();
    expect(await h.store.recordTransition(began())).toBe('written');
    expect(await h.rows()).toEqual([
      {
        notification_key: `partial:1:${Date.parse(T0)}:began/1`,
        contact_id: 1,
        status: 'offline',
        state: 'pending',
        partial: '{"phase":"began","down":["eu-west"],"up":["us-east","ap-south"]}',
        held_by: null,
        reminder: null,
        offline_since: null,
      },
    ]);
    expect(await h.sql('SELECT status FROM checks')).toEqual([{ status: 'online' }]);
    expect(await h.sql('SELECT * FROM check_events')).toEqual([]);
    expect(await h.sql('SELECT CAST(transition_key AS CHAR) AS transition_key FROM bearmon_transitions')).toEqual([{ transition_key: `partial:1:${Date.parse(T0)}:began` }]);
  });

  it('is idempotent by key, never superseded, and fenced by view', async () => {
    const h = await setup();
    expect(await h.store.recordTransition(began())).toBe('written');
    expect(await h.store.recordTransition(began())).toBe('already-written');
    // A status transition recorded later does not make an earlier-dated partial record 'superseded'.
    expect(await h.store.recordTransition({ checkId: 1, to: 'offline', at: new Date('2026-01-01T10:00:00Z'), key: 'status-offline', view: 2, message: 'HTTP 503' })).toBe('written');
    await expect(h.store.recordTransition(began('2026-01-01T09:30:00Z'))).rejects.toThrow(FencedError);
    expect(await h.store.recordTransition(began('2026-01-01T09:30:00Z', { view: 2 }))).toBe('written');
    expect((await h.rows()).map((r) => [r.contact_id, r.status, r.partial === null ? 'status' : 'partial'])).toEqual([
      [1, 'offline', 'partial'],
      [2, 'offline', 'status'],
      [1, 'offline', 'partial'],
    ]);
    expect(await h.sql('SELECT type FROM check_events')).toEqual([{ type: 'offline' }]);
  });

  it('refuses a partial record whose direction does not match its phase, or whose regions are not region names', async () => {
    const h = await setup();
    await expect(h.store.recordTransition(began(T0, { to: 'online' }))).rejects.toThrow(/partial outage that began goes to offline/);
    await expect(h.store.recordTransition(began(T0, { partial: { phase: 'began', down: ['EU West'], up: [] } }))).rejects.toThrow(/partial: expected down/);
    expect(await h.rows()).toEqual([]);
  });

  it('a status transition does not notify a partial alert', async () => {
    const h = await setup();
    expect(await h.store.recordTransition({ checkId: 1, to: 'offline', at: new Date(T0), key: 'k-off', view: 1, message: 'HTTP 503' })).toBe('written');
    expect(await h.store.recordTransition({ checkId: 1, to: 'online', at: new Date('2026-01-01T09:05:00Z'), key: 'k-on', view: 1, message: 'HTTP 200' })).toBe('written');
    expect((await h.rows()).map((r) => r.contact_id)).toEqual([2, 2]);
  });

  it('the end of an outage whose start a contact was not told (held in a window and over by its end, or never recorded) is not sent to it either', async () => {
    const h = await setup();
    await h.sql(`INSERT INTO bearmon_maintenance (name, check_id, kind, spec, time_zone) VALUES ('nightly', 1, 'once', ?, 'UTC')`, [
      JSON.stringify({ start: '2026-01-01T08:30', end: '2026-01-01T09:30' }),
    ]);
    expect(await h.store.recordTransition(began())).toBe('written');
    // Ends after the window, its start still held (not told): its end is not sent either.
    expect(await h.store.recordTransition(ended('2026-01-01T10:00:00Z'))).toBe('written');
    // An end whose start was never recorded at all.
    expect(await h.store.recordTransition(ended('2026-01-01T11:00:00Z', '2026-01-01T10:30:00Z'))).toBe('written');
    const states = await h.sql('SELECT CAST(notification_key AS CHAR) AS k, state, held_by, outcome FROM bearmon_notifications ORDER BY id');
    expect(states.map((r) => ({ ...r }))).toEqual([
      { k: `partial:1:${Date.parse(T0)}:began/1`, state: 'held', held_by: 'nightly', outcome: null },
      { k: `partial:1:${Date.parse(T0)}:ended/1`, state: 'skipped', held_by: null, outcome: 'the start of this partial outage was not notified to this contact: nor is its end' },
      { k: `partial:1:${Date.parse('2026-01-01T10:30:00Z')}:ended/1`, state: 'skipped', held_by: null, outcome: 'the start of this partial outage was not notified to this contact: nor is its end' },
    ]);
  });

  it('a successor dating the same outage a little differently (another key) tells nobody twice, and its end still reaches who heard the start', async () => {
    const h = await setup();
    expect(await h.store.recordTransition(began())).toBe('written');
    // The same outage re-derived with a start one second later: a second key.
    expect(await h.store.recordTransition(began('2026-01-01T09:00:01Z'))).toBe('written');
    expect(await h.store.recordTransition(ended('2026-01-01T09:05:00Z', '2026-01-01T09:00:01Z'))).toBe('written');
    const states = await h.sql('SELECT CAST(notification_key AS CHAR) AS k, state, outcome, offline_since FROM bearmon_notifications ORDER BY id');
    expect(states.map((r) => ({ ...r }))).toEqual([
      { k: `partial:1:${Date.parse(T0)}:began/1`, state: 'pending', outcome: null, offline_since: null },
      { k: `partial:1:${Date.parse('2026-01-01T09:00:01Z')}:began/1`, state: 'skipped', outcome: `already told of a partial outage in progress since ${T0.replace('Z', '.000Z')}`, offline_since: null },
      { k: `partial:1:${Date.parse('2026-01-01T09:00:01Z')}:ended/1`, state: 'pending', outcome: null, offline_since: new Date(T0) },
    ]);
    // A new outage after that end is told again.
    expect(await h.store.recordTransition(began('2026-01-01T09:30:00Z'))).toBe('written');
    expect((await h.rows()).at(-1)).toMatchObject({ state: 'pending' });
  });

  it('inside a maintenance window its rows are held: still partially down at the window end, the contact is told once; over by then, nobody is', async () => {
    const h = await setup();
    await h.sql(`INSERT INTO bearmon_maintenance (name, check_id, kind, spec, time_zone) VALUES ('nightly', 1, 'once', ?, 'UTC')`, [
      JSON.stringify({ start: '2026-01-01T08:30', end: '2026-01-01T09:30' }),
    ]);
    const { createHeldOutbox } = await import('../../src/db/maintenance-outbox.ts');
    const held = createHeldOutbox(h.store.cluster);
    const who = { view: 1, controller: 'ctl-1' };
    expect(await h.store.recordTransition(began())).toBe('written');
    expect(await h.rows()).toEqual([expect.objectContaining({ state: 'held', held_by: 'nightly' })]);
    // The window ends with the outage in progress: released (sent by the ordinary claim).
    const [row] = await held.held(new Date('2026-01-01T09:30:00Z'), 10);
    expect(await held.releaseHeld(row!, who, new Date('2026-01-01T09:30:00Z'))).toMatchObject({ result: 'released' });
    expect((await h.rows())[0]).toMatchObject({ state: 'pending' });

    // A second outage begins and ends inside a later window: both rows skipped at its end.
    await h.sql(`INSERT INTO bearmon_maintenance (name, check_id, kind, spec, time_zone) VALUES ('later', 1, 'once', ?, 'UTC')`, [
      JSON.stringify({ start: '2026-01-01T12:00', end: '2026-01-01T13:00' }),
    ]);
    expect(await h.store.recordTransition(ended('2026-01-01T11:00:00Z'))).toBe('written');
    expect(await h.store.recordTransition(began('2026-01-01T12:10:00Z'))).toBe('written');
    expect(await h.store.recordTransition(ended('2026-01-01T12:20:00Z', '2026-01-01T12:10:00Z'))).toBe('written');
    for (const r of await held.held(new Date('2026-01-01T13:00:00Z'), 10)) expect(await held.releaseHeld(r, who, new Date('2026-01-01T13:00:00Z'))).toMatchObject({ result: 'skipped' });
    expect((await h.rows()).map((r) => r.state)).toEqual(['pending', 'pending', 'skipped', 'skipped']);
  });

  it('queues no reminders for a partial row, and neither hides nor skips the reminders of the check\'s real outage', async () => {
    const h = await setup();
    await h.sql('UPDATE alerts SET remind_every = 60, remind_max = 3');
    const reminders = createReminderStore(h.store.cluster);
    // A partial outage of a check that is offline by its status: still no reminder candidate.
    await h.sql("UPDATE checks SET status = 'offline'");
    expect(await h.store.recordTransition(began('2026-01-01T08:00:00Z'))).toBe('written');
    expect(await reminders.candidates(10)).toEqual([]);
    await h.sql("UPDATE checks SET status = 'online'");
    // The real outage (contact 2), then a partial outage beginning and ending during it.
    expect(await h.store.recordTransition({ checkId: 1, to: 'offline', at: new Date(T0), key: 'k-off', view: 1, message: 'HTTP 503' })).toBe('written');
    expect(await h.store.recordTransition(began('2026-01-01T09:01:00Z'))).toBe('written');
    const [candidate, ...others] = await reminders.candidates(10);
    expect(others).toEqual([]);
    expect(candidate).toMatchObject({ transitionKey: 'k-off', contactId: 2 });
    expect(await reminders.queue(candidate!, 1, { view: 1, controller: 'ctl-1' }, new Date('2026-01-01T09:01:00Z'))).toBe(true);
    expect(await h.store.recordTransition(ended('2026-01-01T09:02:00Z', '2026-01-01T09:01:00Z'))).toBe('written');
    const reminderRows = (await h.rows()).filter((r) => r.reminder !== null);
    expect(reminderRows).toEqual([expect.objectContaining({ contact_id: 2, state: 'pending', partial: null, reminder: 1 })]);
    // The partial ended row says how long the partial outage lasted (from its notified start).
    const endedRow = (await h.rows()).find((r) => String(r.notification_key).includes(':ended'));
    expect(endedRow).toMatchObject({ status: 'online', partial: '{"phase":"ended","down":[],"up":["eu-west","us-east","ap-south"]}' });
    // Two starts without an end between are one outage in progress (the second told nobody):
    // the end quotes the start its contact was told of.
    expect(endedRow!.offline_since).toEqual(new Date('2026-01-01T08:00:00Z'));
  });
});

describe('partial outages: delivery', () => {
  it('delivers began and ended to the partial contact (status offline, then online) with the partial form field; the status contact hears nothing', async () => {
    const h = await setup();
    const at = new Date(Math.floor(Date.now() / 1000) * 1000);
    expect(await h.store.recordTransition(began(at.toISOString()))).toBe('written');
    expect(await h.store.recordTransition(ended(new Date(at.getTime() + 1000).toISOString(), at.toISOString()))).toBe('written');
    h.deliver();
    await vi.waitFor(() => expect(h.hook.posts).toHaveLength(2), WAIT);
    const fields = h.hook.posts.map((p) => p.fields);
    expect(fields.map((f) => [f.status, f.partial])).toEqual([
      ['offline', '{"phase":"began","down":["eu-west"],"up":["us-east","ap-south"]}'],
      ['online', '{"phase":"ended","down":[],"up":["eu-west","us-east","ap-south"]}'],
    ]);
    expect(fields[0]).toMatchObject({ check_id: '1', name: 'shop', message: 'connect ETIMEDOUT' });
    expect(h.json.requests).toEqual([]);
  });

  it('json contact: the default body carries partial (null for a status change)', async () => {
    const h = await setup();
    await h.sql("UPDATE alerts SET type = 'partial' WHERE id = 2");
    expect(await h.store.recordTransition(began(new Date().toISOString()))).toBe('written');
    h.deliver();
    await vi.waitFor(() => expect(h.json.requests).toHaveLength(1), WAIT);
    expect(h.json.requests[0]!.json).toMatchObject({ check_id: 1, status: 'offline', partial: { phase: 'began', down: ['eu-west'], up: ['us-east', 'ap-south'] } });
  });

  it('a malformed partial column fails that notification with an error naming the column and value, and sends nothing', async () => {
    const h = await setup();
    expect(await h.store.recordTransition(began(new Date().toISOString()))).toBe('written');
    await h.sql(`UPDATE bearmon_notifications SET partial = '{"phase":"sideways","down":[],"up":[]}'`);
    const d = h.deliver();
    await vi.waitFor(async () => expect((await h.rows())[0]!.state).toBe('failed'), WAIT);
    await d.idle();
    const [row] = await h.sql('SELECT outcome FROM bearmon_notifications');
    expect(row!.outcome).toMatch(/bearmon_notifications\.partial holds .*sideways.*: expected phase "began" or "ended"/);
    expect(h.hook.posts).toEqual([]);
    expect(h.events.map((e) => e.outcome)).toEqual(['failed']);
  });
});
