import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createContactContext, createContactRegistry } from '../../src/contacts/registry.ts';
import type { ContactContext } from '../../src/contacts/types.ts';
import { createOutbox, type Outbox } from '../../src/db/outbox.ts';
import { type Store, type Transition } from '../../src/db/store.ts';
import { startDelivery, type Delivery, type DeliveryDeps, type NotificationFailedNotice, type NotifyEvent } from '../../src/notify/delivery.ts';
import type { DeliveryPolicy } from '../../src/notify/policy.ts';
import type { DeliveryJob } from '../../src/notify/stages.ts';
import { type CapturedLogs } from '../helpers/logs.ts';
import { freshDatabase, withConnection } from '../helpers/mysql.ts';
import { refusedPort } from '../helpers/servers.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';
import { created, startTwilioServer, twilioError, type TwilioReply } from '../helpers/twilio-server.ts';
import { startWebhookReceiver } from '../helpers/webhook.ts';
import { migratedStore } from '../helpers/store.ts';

type Db = Awaited<ReturnType<typeof freshDatabase>>;

const ACCOUNT_SID = 'AC' + '0123456789abcdef'.repeat(2);
const AUTH_TOKEN = 'twilio-token-Hq7Lw2';
const TWILIO_FROM = '+15550001111';
const MAIL_FROM = 'monitor@example.net';

const POLICY: DeliveryPolicy = { maxAttempts: 4, backoffMs: 50, backoffMaxMs: 200, attemptTimeoutMs: 2000 };

const CHECK = { id: 7, name: 'shop api', type: 'http', data: '{"url":"http://127.0.0.1:9/health","expect_status":200}' };
const KEY = 'evt-7-1-offline';
const MESSAGE = 'HTTP 503 in 4 ms';
const WORKERS = ['probe-ams1', 'probe-fra2'];
const WAIT = { timeout: 20_000, interval: 20 };

interface Harness {
  db: Db;
  store: Store;
  outbox: Outbox;
  logs: CapturedLogs;
  events: NotifyEvent[];
  notices: NotificationFailedNotice[];
  ctx: ContactContext;
  /** Runs a delivery actor as the controller role does; stopped after the test. */
  deliver(options?: Partial<Pick<DeliveryDeps, 'policy' | 'who' | 'stages' | 'concurrency' | 'outbox' | 'pollMs'>>): Delivery;
  /** Records the transition of check 7 to offline (the outbox rows come with it). */
  transition(overrides?: Partial<Transition>): Promise<Transition>;
  sql<T extends RowDataPacket[]>(query: string, params?: unknown[]): Promise<T>;
}

async function harness(config: { smtpPort?: number; twilio?: ContactContext['createTwilioClient'] } = {}): Promise<Harness> {
  const { db, logs, store } = await migratedStore();
  const outbox = createOutbox(store.cluster);
  const events: NotifyEvent[] = [];
  const notices: NotificationFailedNotice[] = [];
  const ctx = createContactContext(
    {
      smtp: { host: '127.0.0.1', port: config.smtpPort ?? 25, from: MAIL_FROM, username: undefined, password: undefined, admin: undefined, adminInterval: 900_000 },
      twilio: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: TWILIO_FROM },
    },
    logs.log,
    { httpTimeoutMs: 2000, ...(config.twilio ? { createTwilioClient: config.twilio } : {}) },
  );
  const deliveries: Delivery[] = [];
  // Registered after store.close: onTestFinished runs in reverse, so deliveries stop first.
  onTestFinished(async () => {
    for (const d of deliveries) await d.stop();
  });
  const sql = <T extends RowDataPacket[]>(query: string, params: unknown[] = []) =>
    withConnection(db, async (c) => (await c.query<T>(query, params))[0]);
  await sql(`INSERT INTO checks (id, name, type, data) VALUES (?, ?, ?, ?), (8, 'other', 'tcp', '{"address":"127.0.0.1:7"}')`, [
    CHECK.id,
    CHECK.name,
    CHECK.type,
    CHECK.data,
  ]);
  return {
    db,
    store,
    outbox,
    logs,
    events,
    notices,
    ctx,
    sql,
    deliver: (options = {}) => {
      const delivery = startDelivery({
        outbox,
        registry: createContactRegistry(),
        ctx,
        policy: POLICY,
        who: { view: 1, controller: 'ctl-a' },
        log: logs.log,
        publish: (event) => events.push(event),
        notice: (notice) => notices.push(notice),
        pollMs: 100,
        ...options,
      });
      deliveries.push(delivery);
      return delivery;
    },
    transition: async (overrides = {}) => {
      const t: Transition = { checkId: CHECK.id, to: 'offline', at: new Date(), key: KEY, view: 1, message: MESSAGE, workers: WORKERS, ...overrides };
      expect(await store.recordTransition(t)).toBe('written');
      return t;
    },
  };
}

/** Contacts (id, type, data) each with an alert of check 7 of type 'both'. */
async function contacts(h: Harness, list: [number, string, string][]): Promise<void> {
  for (const [id, type, data] of list) {
    await h.sql('INSERT INTO contacts (id, type, data) VALUES (?, ?, ?)', [id, type, data]);
    await h.sql('INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (?, ?, ?, 1)', [CHECK.id, id, 'both']);
  }
}

async function outboxRows(h: Harness) {
  const rows = await h.sql(
    'SELECT id, notification_key, contact_id, state, attempts, outcome, claimed_view, claimed_by, finished_at FROM bearmon_notifications ORDER BY id',
  );
  return rows.map((r) => ({
    id: Number(r.id),
    key: String(r.notification_key),
    contactId: r.contact_id as number,
    state: r.state as string,
    attempts: r.attempts as number,
    outcome: r.outcome as string | null,
    claimedView: r.claimed_view === null ? null : Number(r.claimed_view),
    claimedBy: r.claimed_by as string | null,
    finished: r.finished_at instanceof Date,
  }));
}

async function rowOf(h: Harness, contactId: number) {
  const row = (await outboxRows(h)).find((r) => r.contactId === contactId);
  if (!row) throw new Error(`no outbox row for contact ${contactId}`);
  return row;
}

async function attemptsOf(h: Harness, contactId: number) {
  const row = await rowOf(h, contactId);
  const rows = await h.sql('SELECT attempt, view, controller, result, detail, finished_at FROM bearmon_notification_attempts WHERE notification_id = ? ORDER BY attempt', [
    row.id,
  ]);
  return rows.map((r) => ({
    attempt: r.attempt as number,
    view: Number(r.view),
    controller: r.controller as string,
    result: r.result as string | null,
    detail: r.detail as string | null,
    finished: r.finished_at instanceof Date,
  }));
}

const outcomes = (events: NotifyEvent[], contact?: number) => events.filter((e) => contact === undefined || e.contact === contact).map((e) => e.outcome);
const keyOf = (contactId: number, key = KEY) => `${key}/${contactId}`;
const finalStates = new Set(['delivered', 'failed', 'unconfirmed']);

async function waitForFinal(h: Harness, contactIds: number[]) {
  await vi.waitFor(async () => {
    const rows = await outboxRows(h);
    for (const id of contactIds) expect(finalStates.has(rows.find((r) => r.contactId === id)?.state ?? '')).toBe(true);
  }, WAIT);
}

const FORM = { check_id: '7', name: CHECK.name, type: CHECK.type, data: CHECK.data, status: 'offline', message: MESSAGE };

describe('delivery: webhook', () => {
  it('retries 500, 500 and stops at the 200: one accepted delivery, one Idempotency-Key, every attempt recorded', async () => {
    const statuses = [500, 500, 200];
    const receiver = await startWebhookReceiver((n) => statuses[n] ?? 200);
    const h = await harness();
    await contacts(h, [[1, 'webhook', receiver.url]]);
    await h.transition();
    h.deliver();

    await vi.waitFor(() => expect(outcomes(h.events)).toContain('delivered'), WAIT);

    expect(receiver.posts).toHaveLength(3);
    for (const post of receiver.posts) {
      expect(post.path).toBe('/hook');
      expect(post.headers['idempotency-key']).toBe(keyOf(1));
      expect(post.fields).toEqual(FORM);
    }
    const host = new URL(receiver.url).host;
    // Each attempt the delivery recorded is the answer the receiver gave to that POST, in order.
    expect((await attemptsOf(h, 1)).map((a) => a.detail)).toEqual(receiver.posts.map((p) => `webhook ${host} answered HTTP ${p.status}`));
    expect(await rowOf(h, 1)).toMatchObject({
      key: keyOf(1),
      state: 'delivered',
      attempts: 3,
      outcome: `webhook ${host} answered HTTP 200`,
      claimedView: 1,
      claimedBy: 'ctl-a',
      finished: true,
    });
    expect(await attemptsOf(h, 1)).toEqual([
      { attempt: 1, view: 1, controller: 'ctl-a', result: 'retry', detail: `webhook ${host} answered HTTP 500`, finished: true },
      { attempt: 2, view: 1, controller: 'ctl-a', result: 'retry', detail: `webhook ${host} answered HTTP 500`, finished: true },
      { attempt: 3, view: 1, controller: 'ctl-a', result: 'delivered', detail: `webhook ${host} answered HTTP 200`, finished: true },
    ]);
    expect(h.events.map((e) => [e.attempt, e.outcome])).toEqual([
      [1, 'retry'],
      [2, 'retry'],
      [3, 'delivered'],
    ]);
    for (const event of h.events) {
      expect(event).toMatchObject({ type: 'notify', checkId: 7, notification: keyOf(1), transition: KEY, contact: 1, contactType: 'webhook', view: 1, controller: 'ctl-a' });
    }
    // Each retry event says when the next attempt is due (the doubling itself: rules.test.ts).
    expect(h.events.map((e) => typeof e.nextAttemptAt)).toEqual(['string', 'string', 'undefined']);
    expect(h.notices).toEqual([]);
  });

  it('does not retry a 404: one POST, row failed, one notice naming contact and check', async () => {
    const receiver = await startWebhookReceiver(() => 404);
    const h = await harness();
    await contacts(h, [[3, 'webhook', receiver.url]]);
    await h.transition();
    h.deliver();

    await waitForFinal(h, [3]);

    const host = new URL(receiver.url).host;
    expect(receiver.posts).toHaveLength(1);
    expect(await rowOf(h, 3)).toMatchObject({ state: 'failed', attempts: 1, outcome: `not retried: webhook ${host} answered HTTP 404`, finished: true });
    expect(await attemptsOf(h, 3)).toMatchObject([{ attempt: 1, result: 'failed', detail: `not retried: webhook ${host} answered HTTP 404` }]);
    // Published (and the admin told) right after the record's COMMIT.
    await vi.waitFor(() => expect(outcomes(h.events)).toEqual(['failed']), WAIT);
    expect(h.notices).toEqual([
      {
        kind: 'notification-failed',
        checkId: 7,
        checkName: CHECK.name,
        contactId: 3,
        contactType: 'webhook',
        notificationId: keyOf(3),
        attempts: 1,
        error: `not retried: webhook ${host} answered HTTP 404`,
      },
    ]);
  });
});

describe('delivery: e-mail', () => {
  it('keeps retrying while the SMTP server is down and delivers exactly one mail once it is up', async () => {
    const port = await refusedPort();
    const h = await harness({ smtpPort: port });
    await contacts(h, [[2, 'email', 'oncall@example.com']]);
    const t = await h.transition();
    h.deliver({ policy: { ...POLICY, maxAttempts: 100 } });

    await vi.waitFor(() => expect(outcomes(h.events)).toContain('retry'), WAIT);
    expect(h.events[0]).toMatchObject({ attempt: 1, outcome: 'retry', message: expect.stringContaining(`SMTP 127.0.0.1:${port}:`) });
    expect(h.events[0]!.message).toMatch(/ECONNREFUSED|ECONNECTION/);

    const smtp = await startSmtpServer({ port });
    await vi.waitFor(() => expect(outcomes(h.events)).toContain('delivered'), WAIT);

    expect(smtp.port).toBe(port);
    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0]!;
    expect(mail.envelopeFrom).toBe(MAIL_FROM);
    expect(mail.envelopeTo).toEqual(['oncall@example.com']);
    expect(mail.headers.subject).toBe('Check offline: shop api');
    expect(mail.headers['x-bearmon-notification']).toBe(keyOf(2));
    expect(mail.text.split('\n')).toEqual([
      'Check [shop api] is now offline: HTTP 503 in 4 ms',
      '',
      'ID: 7',
      'Name: shop api',
      'Type: http',
      `Data: ${CHECK.data}`,
      `Time: ${t.at.toISOString()}`,
      'Confirmed by: probe-ams1, probe-fra2',
      `Notification: ${keyOf(2)}`,
      '',
      'bearmon',
    ]);
    const row = await rowOf(h, 2);
    expect(row).toMatchObject({ state: 'delivered', outcome: expect.stringContaining(`mail to oncall@example.com accepted by 127.0.0.1:${port}: 250`) });
    expect(row.attempts).toBeGreaterThanOrEqual(2);
    const results = (await attemptsOf(h, 2)).map((a) => a.result);
    expect(results).toEqual([...Array(row.attempts - 1).fill('retry'), 'delivered']);
    await vi.waitFor(() => expect(outcomes(h.events)).toEqual(results), WAIT);
    expect(h.notices).toEqual([]);
  });
});

describe('delivery: a controller that dies between send and record', () => {
  /** Runs view 1 until its first send is done, then "kills" it: the outcome is never recorded. */
  async function dieAfterSend(h: Harness): Promise<DeliveryJob> {
    const sent: DeliveryJob[] = [];
    const dying = h.deliver({ stages: { record: async (job) => (sent.push(job), null) } });
    await vi.waitFor(() => expect(sent).toHaveLength(1), WAIT);
    await dying.stop();
    return sent[0]!;
  }

  /** The successor: view 2, with an attempt deadline short enough that the claim soon counts as stale (2 × 150 ms). */
  const successor = (h: Harness) => h.deliver({ who: { view: 2, controller: 'ctl-b' }, policy: { ...POLICY, attemptTimeoutMs: 150 } });

  it('e-mail: the successor never sends a second mail; the row ends unconfirmed and the admin hears of it', async () => {
    const smtp = await startSmtpServer();
    const h = await harness({ smtpPort: smtp.port });
    await contacts(h, [[2, 'email', 'oncall@example.com']]);
    await h.transition();

    const job = await dieAfterSend(h);
    expect(job.outcome).toMatchObject({ ok: true });
    expect(smtp.mails).toHaveLength(1);
    expect(await rowOf(h, 2)).toMatchObject({ state: 'sending', attempts: 1, claimedView: 1, claimedBy: 'ctl-a' });
    // Its send had started (and was recorded as such): the successor cannot know whether the mail left.
    expect((await h.sql('SELECT send_started_at FROM bearmon_notifications'))[0]!.send_started_at).toBeInstanceOf(Date);
    expect(h.events).toEqual([]);

    successor(h);
    await waitForFinal(h, [2]);

    const detail = 'attempt 1 by controller ctl-a (view 1) was never recorded: it may or may not have arrived, and is not sent again';
    expect(smtp.mails).toHaveLength(1);
    expect(await rowOf(h, 2)).toMatchObject({ state: 'unconfirmed', attempts: 1, outcome: detail, finished: true });
    expect(await attemptsOf(h, 2)).toEqual([{ attempt: 1, view: 1, controller: 'ctl-a', result: 'unconfirmed', detail, finished: true }]);
    expect(h.events).toEqual([expect.objectContaining({ contact: 2, attempt: 1, outcome: 'unconfirmed', message: detail, view: 2, controller: 'ctl-b' })]);
    expect(h.notices).toEqual([expect.objectContaining({ kind: 'notification-failed', checkId: 7, contactId: 2, contactType: 'email', notificationId: keyOf(2), error: detail })]);
    expect(h.logs.matching(/was never recorded/)).toEqual([expect.objectContaining({ level: 'warn', contactId: 2, resolution: 'unconfirmed' })]);
  });

  it('webhook: the successor sends again with the same Idempotency-Key; a deduplicating receiver accepts it once', async () => {
    // Deduplicates as the Idempotency-Key asks: acts on the first POST of a key only, answers 200 to every one.
    const actedOn: string[] = [];
    const receiver = await startWebhookReceiver((_n, post) => {
      const key = String(post.headers['idempotency-key']);
      if (!actedOn.includes(key)) actedOn.push(key);
      return 200;
    });
    const h = await harness();
    await contacts(h, [[1, 'webhook', receiver.url]]);
    await h.transition();

    await dieAfterSend(h);
    expect(receiver.posts).toHaveLength(1);

    successor(h);
    await waitForFinal(h, [1]);

    // Two POSTs, both under the notification's one key: the receiver acted on the notification once.
    // (A resend under any other key would be a second notification to a deduplicating receiver.)
    const postsPerKey = new Map<string, number>();
    for (const p of receiver.posts) postsPerKey.set(String(p.headers['idempotency-key']), (postsPerKey.get(String(p.headers['idempotency-key'])) ?? 0) + 1);
    expect([...postsPerKey]).toEqual([[keyOf(1), 2]]);
    expect(actedOn).toEqual([keyOf(1)]);
    expect(receiver.posts[1]!.fields).toEqual(FORM);
    const host = new URL(receiver.url).host;
    expect(await rowOf(h, 1)).toMatchObject({ state: 'delivered', attempts: 2, claimedView: 2, claimedBy: 'ctl-b', outcome: `webhook ${host} answered HTTP 200` });
    expect(await attemptsOf(h, 1)).toEqual([
      {
        attempt: 1,
        view: 1,
        controller: 'ctl-a',
        result: 'unconfirmed',
        detail: 'attempt 1 by controller ctl-a (view 1) was never recorded; sending again with the same Idempotency-Key',
        finished: true,
      },
      { attempt: 2, view: 2, controller: 'ctl-b', result: 'delivered', detail: `webhook ${host} answered HTTP 200`, finished: true },
    ]);
    expect(h.events.map((e) => [e.attempt, e.outcome, e.view])).toEqual([
      [1, 'resend', 2],
      [2, 'delivered', 2],
    ]);
    expect(h.notices).toEqual([]);
  });
});

describe('delivery: a controller that dies between claim and send start', () => {
  it('e-mail: the successor sends the mail the dead controller claimed but never started, exactly once', async () => {
    const smtp = await startSmtpServer();
    const h = await harness({ smtpPort: smtp.port });
    await contacts(h, [[2, 'email', 'oncall@example.com']]);
    await h.transition();

    // View 1 claims, then "dies" before its send starts: the start stage never runs.
    const claimed: DeliveryJob[] = [];
    const dying = h.deliver({ stages: { start: async (job) => (claimed.push(job), null) } });
    await vi.waitFor(() => expect(claimed).toHaveLength(1), WAIT);
    await dying.stop();
    expect(smtp.mails).toEqual([]);
    expect(await rowOf(h, 2)).toMatchObject({ state: 'sending', attempts: 1, claimedView: 1, claimedBy: 'ctl-a' });
    expect(await h.sql('SELECT send_started_at FROM bearmon_notifications')).toEqual([{ send_started_at: null }]);

    // The successor (claims stale after 2 × 2 s; its own send gets the whole 2 s, a loaded
    // machine's SMTP exchange included) knows nothing went out: it sends, under the same key.
    h.deliver({ who: { view: 2, controller: 'ctl-b' } });
    await waitForFinal(h, [2]);

    expect(await rowOf(h, 2)).toMatchObject({ state: 'delivered', attempts: 2, claimedView: 2, claimedBy: 'ctl-b' });
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]!.headers['x-bearmon-notification']).toBe(keyOf(2));
    const detail = 'attempt 1 by controller ctl-a (view 1) was claimed but its send never started; sending it (same notification key)';
    expect((await attemptsOf(h, 2)).map((a) => [a.attempt, a.view, a.result, a.detail])).toEqual([
      [1, 1, 'retry', detail],
      [2, 2, 'delivered', expect.stringContaining('mail to oncall@example.com accepted')],
    ]);
    await vi.waitFor(() => expect(h.events.map((e) => [e.attempt, e.outcome, e.view])).toEqual([[1, 'resend', 2], [2, 'delivered', 2]]), WAIT);
    expect(h.events[0]!.message).toBe(detail);
    expect(h.notices).toEqual([]);
    expect((await h.sql('SELECT send_started_at FROM bearmon_notifications'))[0]!.send_started_at).toBeInstanceOf(Date);
  });

  it('a send start refused because the claim was taken over sends nothing', async () => {
    const smtp = await startSmtpServer();
    const h = await harness({ smtpPort: smtp.port });
    await contacts(h, [[2, 'email', 'oncall@example.com']]);
    await h.transition();
    // Between this controller's claim and its send start, the claim is resolved by someone else.
    const outbox: Outbox = {
      ...h.outbox,
      startSend: async (row, who) => {
        await h.sql("UPDATE bearmon_notifications SET state = 'pending', next_attempt_at = NOW(3) + INTERVAL 1 HOUR WHERE id = ?", [row.id]);
        return h.outbox.startSend(row, who);
      },
    };
    const d = h.deliver({ outbox });
    await vi.waitFor(async () => expect(await rowOf(h, 2)).toMatchObject({ state: 'pending', attempts: 1 }), WAIT);
    await d.idle();
    expect(smtp.mails).toEqual([]);
    expect(h.events).toEqual([]);
  });
});

describe('delivery: contacts that cannot be used', () => {
  it('fails each bad contact for good, naming contact id and value, and still delivers the good one', async () => {
    const receiver = await startWebhookReceiver();
    const h = await harness();
    await contacts(h, [
      [1, 'webhook', receiver.url],
      [2, 'email', 'not-an-address'],
      [3, 'sms', '555'],
      [4, 'http', 'ftp://127.0.0.1/hook'],
      [5, 'pager', 'beep'],
    ]);
    await h.sql("INSERT INTO alerts (id, check_id, contact_id, type, enabled) VALUES (60, 7, 99, 'offline', 1)");
    await h.transition();
    h.deliver();

    await waitForFinal(h, [1, 2, 3, 4, 5, 99]);

    expect(receiver.posts).toHaveLength(1);
    expect(receiver.posts[0]!.fields).toEqual(FORM);
    const expected: Record<number, string> = {
      2: 'not retried: contact 2 (email): data: expected an e-mail address such as ops@example.com (value "not-an-address")',
      3: 'not retried: contact 3 (sms): data: expected an E.164 phone number such as +15551234567 (value "555")',
      4: 'not retried: contact 4 (http): data: unsupported scheme "ftp:", expected http or https (value "ftp://127.0.0.1/hook")',
      5: 'not retried: contact 5 (pager): type: unknown contact type "pager"',
      99: 'not retried: contact 99 does not exist (alert 60 names it)',
    };
    const rows = await outboxRows(h);
    expect(rows.map((r) => [r.contactId, r.state, r.attempts])).toEqual([
      [1, 'delivered', 1],
      [2, 'failed', 1],
      [3, 'failed', 1],
      [4, 'failed', 1],
      [5, 'failed', 1],
      [99, 'failed', 1],
    ]);
    for (const [id, outcome] of Object.entries(expected)) expect((await rowOf(h, Number(id))).outcome).toBe(outcome);
    expect(
      h.notices
        .map((n) => ({ contactId: n.contactId, contactType: n.contactType, checkId: n.checkId, error: n.error }))
        .sort((a, b) => a.contactId - b.contactId),
    ).toEqual([
      { contactId: 2, contactType: 'email', checkId: 7, error: expected[2] },
      { contactId: 3, contactType: 'sms', checkId: 7, error: expected[3] },
      { contactId: 4, contactType: 'http', checkId: 7, error: expected[4] },
      { contactId: 5, contactType: 'pager', checkId: 7, error: expected[5] },
      { contactId: 99, contactType: '(missing)', checkId: 7, error: expected[99] },
    ]);
    expect(h.logs.matching(/delivery step failed|outbox sweep failed/)).toEqual([]);
  });
});

describe('delivery: sms and voice through Twilio', () => {
  it('sends From/To/Body and Twiml, records each SID in charges; a 21211 fails for good with no charge', async () => {
    const twilio = await startTwilioServer();
    const sids: Record<string, string> = {};
    twilio.reply = (request): TwilioReply => {
      if (request.form.To === '+15550000000') return twilioError(400, 21211, "The 'To' number +15550000000 is not a valid phone number.");
      const reply = created(request);
      sids[request.form.To!] = (reply.body as { sid: string }).sid;
      return reply;
    };
    const h = await harness({ twilio: twilio.clientFactory });
    await contacts(h, [
      [1, 'sms', '+15551230001'],
      [2, 'voice', '+15551230002'],
      [3, 'sms', '+15550000000'],
    ]);
    await h.transition();
    h.deliver();

    await waitForFinal(h, [1, 2, 3]);

    expect(twilio.requests).toHaveLength(3);
    for (const request of twilio.requests) expect([request.method, request.username, request.password]).toEqual(['POST', ACCOUNT_SID, AUTH_TOKEN]);
    const to = (number: string) => twilio.requests.find((r) => r.form.To === number)!;
    expect(to('+15551230001').path).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`);
    expect(to('+15551230001').form).toEqual({ To: '+15551230001', From: TWILIO_FROM, Body: 'Check [shop api] is now offline: HTTP 503 in 4 ms' });
    expect(to('+15551230002').path).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/Calls.json`);
    expect(to('+15551230002').form).toEqual({
      To: '+15551230002',
      From: TWILIO_FROM,
      Twiml:
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say>This is a monitoring call from bearmon. The check . shop api . is now offline . Reason: HTTP 503 in 4 ms</Say></Response>',
    });

    expect(sids['+15551230001']).toMatch(/^SM[0-9a-f]{32}$/);
    expect(sids['+15551230002']).toMatch(/^CA[0-9a-f]{32}$/);
    const charges = await h.sql('SELECT check_id, type, data FROM charges ORDER BY type');
    expect(charges.map((c) => ({ ...c }))).toEqual([
      { check_id: 7, type: 'sms', data: sids['+15551230001'] },
      { check_id: 7, type: 'voice', data: sids['+15551230002'] },
    ]);
    expect(await rowOf(h, 1)).toMatchObject({ state: 'delivered', attempts: 1, outcome: `SMS to +15551230001 accepted by Twilio as ${sids['+15551230001']}` });
    expect(await rowOf(h, 2)).toMatchObject({ state: 'delivered', attempts: 1, outcome: `call to +15551230002 accepted by Twilio as ${sids['+15551230002']}` });
    const rejected =
      "not retried: Twilio error 21211 (HTTP 400): The 'To' number +15550000000 is not a valid phone number. (https://www.twilio.com/docs/errors/21211)";
    expect(await rowOf(h, 3)).toMatchObject({ state: 'failed', attempts: 1, outcome: rejected });
    expect(h.notices).toEqual([expect.objectContaining({ contactId: 3, contactType: 'sms', checkId: 7, error: rejected })]);
    // The auth token never reaches a stored outcome, an event or a log line.
    const everything = JSON.stringify([await outboxRows(h), await attemptsOf(h, 3), h.events, h.notices, h.logs.lines]);
    expect(everything).not.toContain(AUTH_TOKEN);
  });
});

describe('routing through the database', () => {
  it('owes notifications only to enabled offline/both alerts of the check, and a rewritten transition adds none', async () => {
    const h = await harness();
    for (const id of [1, 2, 3, 4, 5, 6]) await h.sql('INSERT INTO contacts (id, type, data) VALUES (?, ?, ?)', [id, 'webhook', `http://127.0.0.1:9/hook/${id}`]);
    await h.sql(
      `INSERT INTO alerts (id, check_id, contact_id, type, enabled) VALUES
        (11, 7, 1, 'offline', 1), (12, 7, 2, 'online', 1), (13, 7, 3, 'both', 1),
        (14, 7, 4, 'offline', 0), (15, 7, 5, 'both', 0), (16, 8, 6, 'offline', 1), (17, 7, 3, 'offline', 1)`,
    );
    const t = await h.transition();

    const owed = async () =>
      (
        await h.sql(
          `SELECT notification_key, transition_key, check_id, alert_id, contact_id, contact_type, contact_data, check_name, check_type, check_data,
                  status, message, workers, state, attempts, transition_at, next_attempt_at FROM bearmon_notifications ORDER BY id`,
        )
      ).map((r): Record<string, unknown> => ({ ...r, notification_key: String(r.notification_key), transition_key: String(r.transition_key) }));
    const expected = [
      { key: keyOf(1), alert: 11, contact: 1 },
      { key: keyOf(3), alert: 13, contact: 3 },
    ].map(({ key, alert, contact }) => ({
      notification_key: key,
      transition_key: KEY,
      check_id: 7,
      alert_id: alert,
      contact_id: contact,
      contact_type: 'webhook',
      contact_data: `http://127.0.0.1:9/hook/${contact}`,
      check_name: CHECK.name,
      check_type: CHECK.type,
      check_data: CHECK.data,
      status: 'offline',
      message: MESSAGE,
      workers: JSON.stringify(WORKERS),
      state: 'pending',
      attempts: 0,
      transition_at: t.at,
      next_attempt_at: t.at,
    }));
    expect(await owed()).toEqual(expected);

    expect(await h.store.recordTransition({ ...t, at: new Date(t.at.getTime() + 1000) })).toBe('already-written');
    expect(await owed()).toEqual(expected);

    const back = await h.transition({ key: 'evt-7-2-online', to: 'online', message: 'HTTP 200 in 2 ms' });
    expect((await owed()).slice(2).map((r) => [r.notification_key, r.alert_id, r.status, r.transition_at])).toEqual([
      ['evt-7-2-online/2', 12, 'online', back.at],
      ['evt-7-2-online/3', 13, 'online', back.at],
    ]);
  });
});

describe('delivery: fencing', () => {
  it('a delivery of an older view claims nothing once a newer view has written, logs it and stops', async () => {
    const receiver = await startWebhookReceiver();
    const h = await harness();
    await contacts(h, [[1, 'webhook', receiver.url]]);
    await h.transition({ view: 2 });
    const newer = h.deliver({ who: { view: 2, controller: 'ctl-b' } });
    await waitForFinal(h, [1]);
    await newer.stop();

    // The check comes back online: a second transition, so a second notification.
    await h.transition({ key: 'evt-7-2-offline', view: 2, to: 'online' });
    const older = h.deliver({ who: { view: 1, controller: 'ctl-a' } });
    await vi.waitFor(() => expect(h.logs.matching(/a newer controller has taken over/)).toHaveLength(1), WAIT);
    await older.idle();

    expect(h.logs.matching(/a newer controller has taken over/)[0]).toMatchObject({ level: 'error', view: 1, notification: keyOf(1, 'evt-7-2-offline') });
    expect(await rowOf(h, 1)).toMatchObject({ state: 'delivered', attempts: 1, claimedView: 2 });
    const second = (await outboxRows(h))[1]!;
    expect(second).toMatchObject({ key: keyOf(1, 'evt-7-2-offline'), state: 'pending', attempts: 0, claimedView: null });
    expect(await h.sql('SELECT COUNT(*) AS n FROM bearmon_notification_attempts WHERE view = 1')).toEqual([{ n: 0 }]);
    // Stopped for good: woken again, it still claims nothing.
    older.wake();
    await older.idle();
    expect((await outboxRows(h))[1]).toMatchObject({ state: 'pending', attempts: 0 });
    expect(receiver.posts.map((p) => p.headers['idempotency-key'])).toEqual([keyOf(1)]);

    // The newer view's successor sends it, once.
    h.deliver({ who: { view: 2, controller: 'ctl-c' } });
    await vi.waitFor(async () => expect((await outboxRows(h))[1]).toMatchObject({ state: 'delivered', attempts: 1, claimedView: 2 }), WAIT);
    expect(receiver.posts.map((p) => p.headers['idempotency-key'])).toEqual([keyOf(1), keyOf(1, 'evt-7-2-offline')]);
  });

  it('an older view cannot resolve a stale claim of a newer view', async () => {
    const receiver = await startWebhookReceiver();
    const h = await harness();
    await contacts(h, [[1, 'webhook', receiver.url]]);
    await h.transition({ view: 2 });
    const sent: DeliveryJob[] = [];
    const dying = h.deliver({ who: { view: 2, controller: 'ctl-b' }, stages: { record: async (job) => (sent.push(job), null) } });
    await vi.waitFor(() => expect(sent).toHaveLength(1), WAIT);
    await dying.stop();

    // Claim stale after 2 × 50 ms: the older view finds it, is refused by the fence, and stops.
    h.deliver({ who: { view: 1, controller: 'ctl-a' }, policy: { ...POLICY, attemptTimeoutMs: 50 } });
    await vi.waitFor(() => expect(h.logs.matching(/a newer controller has taken over/)).toHaveLength(1), WAIT);

    expect(await rowOf(h, 1)).toMatchObject({ state: 'sending', attempts: 1, claimedView: 2, claimedBy: 'ctl-b', outcome: null });
    expect(await attemptsOf(h, 1)).toMatchObject([{ attempt: 1, view: 2, result: null, finished: false }]);
    expect(receiver.posts).toHaveLength(1);
    expect(h.events).toEqual([]);
    expect(h.notices).toEqual([]);
  });
});

describe('delivery: every slot busy', () => {
  it('waits for a slot instead of sweeping the outbox in a loop', async () => {
    // A webhook receiver that answers the first POST only when the test says so.
    const posts: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        posts.push(String(req.headers['idempotency-key']));
        if (posts.length === 1) void held.then(() => res.writeHead(200).end());
        else res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

    const h = await harness();
    await contacts(h, [
      [1, 'webhook', url],
      [2, 'webhook', url],
    ]);
    await h.transition();
    // Every sweep starts by looking for stale claims: counting those calls counts sweeps.
    const sweeps: number[] = [];
    const outbox: Outbox = { ...h.outbox, stale: (olderThanMs, limit) => (sweeps.push(Date.now()), h.outbox.stale(olderThanMs, limit)) };
    const pollMs = 100;
    h.deliver({ outbox, concurrency: 1, pollMs });

    await vi.waitFor(() => expect(posts).toHaveLength(1), WAIT);
    const from = sweeps.length;
    // The only slot is taken and the second notification is due: four more sweeps may only
    // come from the poll timer, not from a sweep rescheduling itself at once.
    await vi.waitFor(() => expect(sweeps.length).toBeGreaterThanOrEqual(from + 4), WAIT);
    const spent = sweeps[from + 3]! - sweeps[from - 1]!;
    release();
    await waitForFinal(h, [1, 2]);

    expect(spent).toBeGreaterThanOrEqual(3 * pollMs);
    expect(posts).toEqual([keyOf(1), keyOf(2)]);
    expect((await outboxRows(h)).map((r) => [r.contactId, r.state, r.attempts])).toEqual([
      [1, 'delivered', 1],
      [2, 'delivered', 1],
    ]);
  });
});

describe('delivery: MySQL lost around a commit', () => {
  const connectionLost = () => Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST' });

  it('a claim that committed but could not be confirmed is released by the same controller, then sent once', async () => {
    const receiver = await startWebhookReceiver();
    const h = await harness();
    await contacts(h, [[1, 'webhook', receiver.url]]);
    await h.transition();
    let failed = false;
    const outbox: Outbox = {
      ...h.outbox,
      claim: async (row, who, at) => {
        const claimed = await h.outbox.claim(row, who, at);
        if (!failed) {
          failed = true;
          throw connectionLost(); // committed, but the reply never came
        }
        return claimed;
      },
    };
    h.deliver({ outbox });
    await waitForFinal(h, [1]);
    expect(await rowOf(h, 1)).toMatchObject({ state: 'delivered', attempts: 2 });
    expect(receiver.posts).toHaveLength(1);
    expect((await attemptsOf(h, 1)).map((a) => [a.attempt, a.result])).toEqual([
      [1, 'retry'],
      [2, 'delivered'],
    ]);
    expect(h.logs.matching(/released a claim that was never confirmed/)).toHaveLength(1);
    expect(h.notices).toEqual([]);
  });

  it('an outcome whose record lost its connection is recorded on a later try, and reported once', async () => {
    const receiver = await startWebhookReceiver();
    const h = await harness();
    await contacts(h, [[1, 'webhook', receiver.url]]);
    await h.transition();
    let failed = false;
    const outbox: Outbox = {
      ...h.outbox,
      record: async (row, outcome) => {
        if (!failed) {
          failed = true;
          throw connectionLost();
        }
        return h.outbox.record(row, outcome);
      },
    };
    h.deliver({ outbox });
    await waitForFinal(h, [1]);
    expect(await rowOf(h, 1)).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(receiver.posts).toHaveLength(1);
    // The event follows the record's COMMIT: the row can be final a moment before it is published.
    await vi.waitFor(() => expect(outcomes(h.events)).toEqual(['delivered']), WAIT);
    expect(h.logs.matching(/could not record an attempt outcome; trying again/)).toHaveLength(1);
  });
});
