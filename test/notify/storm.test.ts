/**
 * Storm grouping against real MariaDB, a real webhook receiver and a real SMTP server: when
 * many checks notifying one contact flip within stormWindow, the contact gets one message
 * naming them all (each outbox row records the message that carried it); below
 * stormThreshold, one message per check. The delivery clock is injected.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { createContactContext, createContactRegistry } from '../../src/contacts/registry.ts';
import { createOutbox } from '../../src/db/outbox.ts';
import { createStormOutbox } from '../../src/db/storm-outbox.ts';
import type { OutboxRow } from '../../src/db/outbox.ts';
import { startDelivery, type Delivery, type NotifyEvent } from '../../src/notify/delivery.ts';
import { stormGroup } from '../../src/notify/storm.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';
import { startWebhookReceiver } from '../helpers/webhook.ts';
import { migratedStore } from '../helpers/store.ts';

const POLICY = { maxAttempts: 3, backoffMs: 50, backoffMaxMs: 200, attemptTimeoutMs: 5000 };
const STORM = { windowMs: 30_000, threshold: 5 };
const T0 = Date.parse('2026-01-01T10:00:00Z');

async function setup(checks: number) {
  // First attempts wait stormWindow after their transition, as the controller role sets it up.
  const { logs, store, sql } = await migratedStore({ owe: { groupWaitMs: STORM.windowMs } });
  const hook = await startWebhookReceiver();
  const smtp = await startSmtpServer();
  await sql('INSERT INTO contacts (id, type, data) VALUES (1, ?, ?), (2, ?, ?)', ['webhook', hook.url, 'email', 'oncall@example.com']);
  for (let id = 1; id <= checks; id++) {
    await sql(`INSERT INTO checks (id, name, type, data) VALUES (?, ?, 'http', '{"url":"http://127.0.0.1:9/"}')`, [id, `site-${id}`]);
    await sql(`INSERT INTO alerts (check_id, contact_id, type) VALUES (?, 1, 'both'), (?, 2, 'both')`, [id, id]);
  }
  const clock = { now: T0 };
  const events: NotifyEvent[] = [];
  const deliveries: Delivery[] = [];
  onTestFinished(async () => {
    for (const d of deliveries) await d.stop();
  });
  const ctx = createContactContext(
    {
      smtp: { host: '127.0.0.1', port: smtp.port, from: 'monitor@example.net', username: undefined, password: undefined, admin: undefined, adminInterval: 900_000 },
      twilio: { accountSid: undefined, authToken: undefined, from: undefined },
    } as never,
    logs.log,
    { httpTimeoutMs: 5000 },
  );
  const deliver = (view: number, policy = POLICY) => {
    const d = startDelivery({
      outbox: createOutbox(store.cluster),
      storm: { policy: STORM, outbox: createStormOutbox(store.cluster) },
      registry: createContactRegistry(),
      ctx,
      policy,
      who: { view, controller: `ctl-${view}` },
      log: logs.log,
      publish: (e) => events.push(e),
      notice: () => {},
      now: () => clock.now,
      pollMs: 60_000,
      concurrency: 8,
    });
    deliveries.push(d);
    return d;
  };
  /** Check `id` goes offline `offsetMs` after T0, recorded as the controller's writer does. */
  const flip = async (id: number, offsetMs: number) => {
    const at = new Date(T0 + offsetMs);
    expect(await store.recordTransition({ checkId: id, to: 'offline', at, key: `${id}:${at.toISOString()}:offline`, view: 1, message: `HTTP 503 from site-${id}`, workers: ['w1'] })).toBe('written');
  };
  const at = async (d: Delivery, offsetMs: number) => {
    clock.now = T0 + offsetMs;
    d.wake();
    await d.idle();
  };
  return { hook, smtp, events, deliver, flip, at, sql, store, clock };
}

describe('storm grouping', () => {
  it('20 checks flipping within the window: one message per contact naming all 20, each row recorded as carried by it, once across a change of controller', async () => {
    const h = await setup(20);
    const first = h.deliver(1);
    for (let id = 1; id <= 20; id++) await h.flip(id, id * 1000); // 1 s apart: all within 30 s of the first
    await h.at(first, 20_000);
    expect(h.hook.posts).toEqual([]); // the first is due 30 s after its transition

    await h.at(first, 31_000);
    expect(h.hook.posts).toHaveLength(1);
    const post = h.hook.posts[0]!.fields;
    expect(post.name).toBe('20 checks (20 offline)');
    expect(post.status).toBe('offline');
    for (let id = 1; id <= 20; id++) expect(post.message).toContain(`#${id} site-${id} offline (HTTP 503 from site-${id})`);
    expect(JSON.parse(post.data!).map((c: { check_id: number }) => c.check_id)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(h.smtp.mails).toHaveLength(1);
    expect(h.smtp.mails[0]!.headers.subject).toBe('Check offline: 20 checks (20 offline)');
    for (let id = 1; id <= 20; id++) expect(h.smtp.mails[0]!.text).toContain(`#${id} site-${id} offline`);

    // Every row is delivered, carried by its contact's one message.
    const rows = await h.sql('SELECT contact_id, state, attempts, group_key FROM bearmon_notifications ORDER BY contact_id, id');
    expect(rows).toHaveLength(40);
    for (const contact of [1, 2]) {
      const mine = rows.filter((r) => r.contact_id === contact);
      expect(new Set(mine.map((r) => `${r.state}/${r.attempts}`))).toEqual(new Set(['delivered/1']));
      expect(new Set(mine.map((r) => String(r.group_key))).size).toBe(1);
    }
    const delivered = h.events.filter((e) => e.outcome === 'delivered');
    expect(delivered).toHaveLength(40);
    const messageOf = new Map(rows.map((r) => [r.contact_id as number, String(r.group_key)]));
    expect(delivered.map((e) => [e.carriedBy, e.carried])).toEqual(delivered.map((e) => [messageOf.get(e.contact), 20]));

    await first.stop();
    const second = h.deliver(2);
    await h.at(second, 120_000);
    expect(h.hook.posts).toHaveLength(1);
    expect(h.smtp.mails).toHaveLength(1);
  });

  it('below the threshold: one message per check', async () => {
    const h = await setup(4);
    const d = h.deliver(1);
    for (let id = 1; id <= 4; id++) await h.flip(id, id * 1000);
    await h.at(d, 60_000);
    // Delivered concurrently: the order they reach the receiver in is not theirs to keep.
    const byCheck = (a: (string | undefined)[], b: (string | undefined)[]) => Number(a[0]) - Number(b[0]);
    expect(h.hook.posts.map((p) => [p.fields.check_id, p.fields.name]).sort(byCheck)).toEqual([
      ['1', 'site-1'],
      ['2', 'site-2'],
      ['3', 'site-3'],
      ['4', 'site-4'],
    ]);
    expect(h.smtp.mails.map((m) => m.headers.subject).sort()).toEqual(['Check offline: site-1', 'Check offline: site-2', 'Check offline: site-3', 'Check offline: site-4']);
    expect((await h.sql('SELECT DISTINCT group_key FROM bearmon_notifications')).map((r) => r.group_key)).toEqual([null]);
  });
});

describe('storm grouping across a controller that dies mid-send', () => {
  it('the successor sends the webhook group once, under the same key, carrying every row; the mail it may have sent is not resent', async () => {
    const h = await setup(6);
    for (let id = 1; id <= 6; id++) await h.flip(id, id * 1000);
    // Controller A (view 1) claims both groups and starts their sends, then dies: nothing was recorded.
    const storm = createStormOutbox(h.store.cluster);
    const dead = { view: 1, controller: 'ctl-1' };
    for (const contact of [1, 2]) {
      const rows = await storm.candidates(contact, new Date(T0), new Date(T0 + 60_000), 100);
      const claimed = await storm.claim(rows, `storm/${rows[0]!.key}`, dead, new Date());
      expect(claimed).toHaveLength(6);
      expect(await storm.startSend(claimed!, dead)).toBe(true);
    }
    // B (view 2) judges the claims stale (2 × the attempt deadline, by MySQL's clock) and resolves them.
    h.clock.now = T0 + 120_000;
    const successor = h.deliver(2, { ...POLICY, attemptTimeoutMs: 500 });
    // Its idle poll is long here: each look is asked for until the claims have gone stale.
    await expect.poll(() => (successor.wake(), h.hook.posts.length), { timeout: 20_000, interval: 100 }).toBe(1);
    await successor.idle();
    const rows = await h.sql('SELECT contact_id, state, attempts, group_key FROM bearmon_notifications ORDER BY contact_id, id');
    // The webhook takes an Idempotency-Key: the group goes again under its key, and every row is delivered by it.
    expect(h.hook.posts[0]!.headers['idempotency-key']).toBe(String(rows[0]!.group_key));
    expect(h.hook.posts[0]!.fields.name).toBe('6 checks (6 offline)');
    expect(rows.filter((r) => r.contact_id === 1).map((r) => `${r.state}/${r.attempts}`)).toEqual(Array(6).fill('delivered/2'));
    // A mail cannot be taken back: its send had started, so it ends unconfirmed, not sent twice.
    expect(rows.filter((r) => r.contact_id === 2).map((r) => r.state)).toEqual(Array(6).fill('unconfirmed'));
    expect(h.smtp.mails).toEqual([]);
  });
});

describe('stormGroup (pure)', () => {
  const row = (id: number, contactId: number, offsetMs: number, extra: Partial<OutboxRow> = {}): OutboxRow =>
    ({ id, key: `t${id}/${contactId}`, contactId, attempts: 0, groupKey: null, transitionAt: new Date(T0 + offsetMs), ...extra }) as OutboxRow;
  const ids = (rows: OutboxRow[] | null) => rows?.map((r) => r.id) ?? null;

  it.each([
    ['5 of one contact within the window: grouped', [1, 2, 3, 4, 5].map((i) => row(i, 1, i * 1000)), [1, 2, 3, 4, 5]],
    ['4: each on its own', [1, 2, 3, 4].map((i) => row(i, 1, i * 1000)), null],
    ['one outside the window does not count', [...[1, 2, 3, 4].map((i) => row(i, 1, i * 1000)), row(5, 1, 31_001 + 1000)], null],
    ['other contacts do not count', [...[1, 2, 3, 4].map((i) => row(i, 1, i * 1000)), row(5, 2, 5000)], null],
    ['rows already tried or grouped do not count', [...[1, 2, 3, 4].map((i) => row(i, 1, i * 1000)), row(5, 1, 5000, { attempts: 1 }), row(6, 1, 6000, { groupKey: 'storm/x' })], null],
  ])('%s', (_name, candidates, expected) => {
    expect(ids(stormGroup(candidates[0]!, candidates, STORM))).toEqual(expected);
  });

  it('threshold 0: off', () => {
    const candidates = [1, 2, 3, 4, 5, 6].map((i) => row(i, 1, i * 1000));
    expect(stormGroup(candidates[0]!, candidates, { windowMs: 30_000, threshold: 0 })).toBeNull();
  });
});
