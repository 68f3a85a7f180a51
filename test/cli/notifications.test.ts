import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createCheckRegistry } from '../../src/checks/registry.ts';
import { createContactContext, createContactRegistry } from '../../src/contacts/registry.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createOutbox } from '../../src/db/outbox.ts';
import { createStore } from '../../src/db/store.ts';
import { startDelivery, type NotifyEvent } from '../../src/notify/delivery.ts';
import type { DeliveryPolicy } from '../../src/notify/policy.ts';
import { runBearmon } from '../helpers/bearmon.ts';
import { captureLogs } from '../helpers/logs.ts';
import { freshDatabase, withConnection } from '../helpers/mysql.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook.ts';

type Db = Awaited<ReturnType<typeof freshDatabase>>;

/** A webhook whose path and query are its secret: only scheme and host may ever be printed. */
const SECRET_URL = 'https://bot:pa55word@hooks.example.com/services/T0001/B0002/XXsecretXX?token=abc123tok';
const SECRETS = ['pa55word', 'bot:', '/services', 'XXsecretXX', 'abc123tok', 'T0001'];
const LONG_OUTCOME = `not retried: ${'x'.repeat(300)}`;

interface Fixture {
  id: number;
  checkId: number;
  checkName: string;
  contactId: number;
  contact: [type: string, data: string] | null;
  status: 'online' | 'offline';
  state: string;
  attempts: number;
  outcome: string | null;
  /** UTC, as the pool session stores it. */
  created: string;
}

const SHOP = { checkId: 7, checkName: 'shop api' };
const DB_CHECK = { checkId: 8, checkName: 'orders db' };

/** One row of each state, and a contact that no longer exists; ids grow with creation time. */
const FIXTURES: Fixture[] = [
  { id: 1, ...SHOP, contactId: 1, contact: ['email', 'ops@example.com'], status: 'offline', state: 'delivered', attempts: 1, outcome: 'mail to ops@example.com accepted by 127.0.0.1:2525: 250 OK', created: '2024-05-01 10:00:00.000' },
  { id: 2, ...SHOP, contactId: 2, contact: ['webhook', SECRET_URL], status: 'offline', state: 'failed', attempts: 1, outcome: 'not retried: webhook hooks.example.com answered HTTP 404', created: '2024-05-01 10:00:01.000' },
  { id: 3, ...DB_CHECK, contactId: 3, contact: ['sms', '+15551234567'], status: 'online', state: 'pending', attempts: 0, outcome: null, created: '2024-05-01 10:00:02.000' },
  { id: 4, ...SHOP, contactId: 4, contact: ['voice', '+15557654321'], status: 'offline', state: 'unconfirmed', attempts: 1, outcome: 'attempt 1 by controller ctl-a (view 1) was never recorded', created: '2024-05-01 10:00:03.000' },
  { id: 5, ...DB_CHECK, contactId: 2, contact: ['webhook', SECRET_URL], status: 'online', state: 'sending', attempts: 1, outcome: null, created: '2024-05-01 10:00:04.000' },
  { id: 6, ...SHOP, contactId: 99, contact: null, status: 'offline', state: 'failed', attempts: 1, outcome: LONG_OUTCOME, created: '2024-05-01 10:00:05.000' },
];

const NEXT_ATTEMPT = '2024-05-01 10:05:00.000';

/** A migrated database holding the fixtures, its DSN in gobearmon's form, and SQL in UTC. */
async function outboxDatabase() {
  const db = await freshDatabase();
  await migrate(db);
  const utc = { ...db, timezone: 'Z' as const };
  const sql = <T extends RowDataPacket[]>(query: string, params: unknown[] = []) => withConnection(utc, async (c) => (await c.query<T>(query, params))[0]);
  await sql(
    `INSERT INTO bearmon_notifications (id, notification_key, transition_key, check_id, alert_id, contact_id, contact_type, contact_data,
       check_name, check_type, check_data, status, message, workers, transition_at, state, attempts, next_attempt_at,
       claimed_view, claimed_by, claimed_at, outcome, finished_at, created_at) VALUES ?`,
    [
      FIXTURES.map((f) => [
        f.id,
        `evt-${f.id}/${f.contactId}`,
        `evt-${f.id}`,
        f.checkId,
        100 + f.id,
        f.contactId,
        f.contact?.[0] ?? null,
        f.contact?.[1] ?? null,
        f.checkName,
        'http',
        '{"url":"http://127.0.0.1:9/health?key=checksecret"}',
        f.status,
        'HTTP 503 in 4 ms',
        '["probe-ams1","probe-fra2"]',
        f.created,
        f.state,
        f.attempts,
        NEXT_ATTEMPT,
        f.attempts > 0 ? 1 : null,
        f.attempts > 0 ? 'ctl-a' : null,
        f.attempts > 0 ? f.created : null,
        f.outcome,
        ['delivered', 'failed', 'unconfirmed'].includes(f.state) ? f.created : null,
        f.created,
      ]),
    ],
  );
  const dsn = `${db.user}:${db.password ?? ''}@tcp(${db.host ?? '127.0.0.1'}:${db.port ?? 3306})/${db.database}`;
  return { db, dsn, sql };
}

type OutboxDb = Awaited<ReturnType<typeof outboxDatabase>>;

const bearmon = (o: OutboxDb, args: string[]) => runBearmon(['notifications', ...args], { BEARMON_CONTROLLER_DATABASE: o.dsn });
/** The table's rows (the header left out), each split into its cells: columns stand at least two spaces apart. */
const cells = (stdout: string) =>
  stdout
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/ {2,}/));
const ids = (stdout: string) => cells(stdout).map((row) => Number(row[0]));

async function rowById(o: OutboxDb, id: number) {
  const rows = await o.sql('SELECT * FROM bearmon_notifications WHERE id = ?', [id]);
  return rows[0]!;
}

describe('bearmon notifications list (the binary)', () => {
  it('prints a table, one row per notification, newest first, with contact id and type but never the contact data', async () => {
    const o = await outboxDatabase();

    const { code, stdout, stderr } = await bearmon(o, ['list']);

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]!.split(/ {2,}/)).toEqual(['ID', 'CREATED', 'CHECK', 'CONTACT', 'STATUS', 'STATE', 'ATTEMPTS', 'DUE', 'OUTCOME']);
    expect(cells(stdout)).toEqual([
      ['6', '2024-05-01T10:00:05Z', '7 (shop api)', '99 (missing)', 'offline', 'failed', '1', '-', `${LONG_OUTCOME.slice(0, 119)}…`],
      ['5', '2024-05-01T10:00:04Z', '8 (orders db)', '2 (webhook)', 'online', 'sending', '1', '-', '-'],
      ['4', '2024-05-01T10:00:03Z', '7 (shop api)', '4 (voice)', 'offline', 'unconfirmed', '1', '-', 'attempt 1 by controller ctl-a (view 1) was never recorded'],
      ['3', '2024-05-01T10:00:02Z', '8 (orders db)', '3 (sms)', 'online', 'pending', '0', '2024-05-01T10:05:00Z', '-'],
      ['2', '2024-05-01T10:00:01Z', '7 (shop api)', '2 (webhook)', 'offline', 'failed', '1', '-', 'not retried: webhook hooks.example.com answered HTTP 404'],
      ['1', '2024-05-01T10:00:00Z', '7 (shop api)', '1 (email)', 'offline', 'delivered', '1', '-', 'mail to ops@example.com accepted by 127.0.0.1:2525: 250 OK'],
    ]);
    // Each column starts where its header does, with two spaces before it on every line.
    const starts = [...lines[0]!.matchAll(/\S+/g)].map((m) => m.index!).slice(1);
    for (const line of lines) for (const at of starts) expect(line.slice(at - 2, at)).toBe('  ');
    // The text form names contacts by id and type only (the e-mail above is the delivery's own outcome text).
    expect(stdout).not.toContain('+1555');
    expect(stdout).not.toContain('hooks.example.com/');
    for (const secret of [...SECRETS, 'checksecret']) expect(stdout).not.toContain(secret);
  });

  it('filters by --state and --check, and --limit keeps the newest', async () => {
    const o = await outboxDatabase();

    const failed = await bearmon(o, ['list', '--state', 'failed']);
    const check8 = await bearmon(o, ['list', '--check', '8']);
    const both = await bearmon(o, ['list', '--state', 'failed', '--check', '7']);
    const limited = await bearmon(o, ['list', '--limit', '2']);
    const none = await bearmon(o, ['list', '--state', 'delivered', '--check', '8']);

    for (const run of [failed, check8, both, limited, none]) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(ids(failed.stdout)).toEqual([6, 2]);
    expect(ids(check8.stdout)).toEqual([5, 3]);
    expect(ids(both.stdout)).toEqual([6, 2]);
    expect(ids(limited.stdout)).toEqual([6, 5]);
    expect(none.stdout).toBe('no notifications\n');
  });

  it('--json prints one object per row with the fields, the webhook URL reduced to scheme://host', async () => {
    const o = await outboxDatabase();

    const { code, stdout, stderr } = await bearmon(o, ['list', '--json', '--limit', '6']);

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const objects = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(objects.map((r) => r.id)).toEqual([6, 5, 4, 3, 2, 1]);
    expect(objects[4]).toEqual({
      id: 2,
      key: 'evt-2/2',
      transitionKey: 'evt-2',
      createdAt: '2024-05-01T10:00:01.000Z',
      checkId: 7,
      checkName: 'shop api',
      checkType: 'http',
      alertId: 102,
      contactId: 2,
      contactType: 'webhook',
      contactData: 'https://hooks.example.com',
      status: 'offline',
      message: 'HTTP 503 in 4 ms',
      workers: ['probe-ams1', 'probe-fra2'],
      transitionAt: '2024-05-01T10:00:01.000Z',
      state: 'failed',
      attempts: 1,
      nextAttemptAt: '2024-05-01T10:05:00.000Z',
      claimedView: 1,
      claimedBy: 'ctl-a',
      claimedAt: '2024-05-01T10:00:01.000Z',
      outcome: 'not retried: webhook hooks.example.com answered HTTP 404',
      finishedAt: '2024-05-01T10:00:01.000Z',
    });
    expect(objects[3]).toMatchObject({ id: 3, contactType: 'sms', contactData: '+15551234567', state: 'pending', attempts: 0, claimedBy: null, claimedAt: null, outcome: null, finishedAt: null });
    expect(objects[5]).toMatchObject({ id: 1, contactType: 'email', contactData: 'ops@example.com' });
    expect(objects[1]).toMatchObject({ id: 5, contactType: 'webhook', contactData: 'https://hooks.example.com' });
    expect(objects[0]).toMatchObject({ id: 6, contactId: 99, contactType: null, contactData: null, outcome: LONG_OUTCOME });
    for (const secret of [...SECRETS, 'checksecret']) expect(stdout).not.toContain(secret);
  });

  it('refuses a bad --state, --check or --limit with exit 2, naming the option and value', async () => {
    const o = await outboxDatabase();

    const state = await bearmon(o, ['list', '--state', 'bogus']);
    const check = await bearmon(o, ['list', '--check', 'seven']);
    const limit = await bearmon(o, ['list', '--limit', '0']);

    expect(state).toEqual({
      code: 2,
      stdout: '',
      stderr: 'bearmon: --state: expected one of pending, sending, delivered, failed, unconfirmed, held, skipped (value "bogus")\n',
    });
    expect(check).toEqual({ code: 2, stdout: '', stderr: 'bearmon: --check: expected a check id, a positive integer (value "seven")\n' });
    expect(limit).toEqual({ code: 2, stdout: '', stderr: 'bearmon: --limit: expected an integer from 1 to 10000 (value "0")\n' });
  });
});

describe('bearmon notifications retry (the binary)', () => {
  it('puts a failed row back to pending, due now, keeping attempts, and exits 0', async () => {
    const o = await outboxDatabase();

    const before = Date.now();
    const { code, stdout, stderr } = await bearmon(o, ['retry', '2']);
    const after = Date.now();

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(
      /^notification 2 \(check 7 \(shop api\) contact 2 \(webhook\)\): failed -> pending, due \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; the controller makes attempt 2 at its next poll\n$/,
    );
    for (const secret of SECRETS) expect(stdout).not.toContain(secret);
    const row = await rowById(o, 2);
    expect(row).toMatchObject({ state: 'pending', attempts: 1, finished_at: null, claimed_by: 'ctl-a' });
    const due = (row.next_attempt_at as Date).getTime();
    expect(due).toBeGreaterThanOrEqual(before - 1);
    expect(due).toBeLessThanOrEqual(after);
    expect(row.outcome).toBe(`retry requested by operator at ${(row.next_attempt_at as Date).toISOString()}; was: not retried: webhook hooks.example.com answered HTTP 404`);
  });

  it('--json on an unconfirmed row says what was done', async () => {
    const o = await outboxDatabase();

    const { code, stdout, stderr } = await bearmon(o, ['retry', '4', '--json']);

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(stdout) as Record<string, unknown>;
    const row = await rowById(o, 4);
    const due = (row.next_attempt_at as Date).toISOString();
    expect(report).toEqual({
      id: 4,
      requeued: true,
      previousState: 'unconfirmed',
      state: 'pending',
      attempts: 1,
      nextAttempt: 2,
      nextAttemptAt: due,
      outcome: `retry requested by operator at ${due}; was: attempt 1 by controller ctl-a (view 1) was never recorded`,
    });
    expect(row).toMatchObject({ state: 'pending', attempts: 1, outcome: report.outcome });
  });

  it('leaves delivered, pending and sending rows alone: exit 1 saying why', async () => {
    const o = await outboxDatabase();
    const unchanged = await o.sql('SELECT * FROM bearmon_notifications ORDER BY id');

    const delivered = await bearmon(o, ['retry', '1']);
    const pending = await bearmon(o, ['retry', '3']);
    const sending = await bearmon(o, ['retry', '5', '--json']);

    expect(delivered).toEqual({
      code: 1,
      stdout: 'notification 1 (check 7 (shop api) contact 1 (email)): not retried: already delivered (state delivered)\n',
      stderr: '',
    });
    expect(pending).toEqual({
      code: 1,
      stdout: 'notification 3 (check 8 (orders db) contact 3 (sms)): not retried: already queued (state pending)\n',
      stderr: '',
    });
    expect({ code: sending.code, stderr: sending.stderr }).toEqual({ code: 1, stderr: '' });
    expect(JSON.parse(sending.stdout)).toEqual({ id: 5, requeued: false, state: 'sending', reason: 'already being sent' });
    expect(await o.sql('SELECT * FROM bearmon_notifications ORDER BY id')).toEqual(unchanged);
  });

  it('exits 2 for an unknown or malformed id', async () => {
    const o = await outboxDatabase();

    const unknown = await bearmon(o, ['retry', '999']);
    const unknownJson = await bearmon(o, ['retry', '999', '--json']);
    const word = await bearmon(o, ['retry', 'abc']);
    const fraction = await bearmon(o, ['retry', '1.5']);
    const zero = await bearmon(o, ['retry', '0']);

    expect(unknown).toEqual({ code: 2, stdout: 'notification 999: no such notification\n', stderr: '' });
    expect(unknownJson.code).toBe(2);
    expect(JSON.parse(unknownJson.stdout)).toEqual({ id: 999, requeued: false, error: 'no such notification' });
    expect(word).toEqual({ code: 2, stdout: '', stderr: 'bearmon: notification id: expected a positive integer (value "abc")\n' });
    expect(fraction).toEqual({ code: 2, stdout: '', stderr: 'bearmon: notification id: expected a positive integer (value "1.5")\n' });
    expect(zero).toEqual({ code: 2, stdout: '', stderr: 'bearmon: notification id: expected a positive integer (value "0")\n' });
  });
});

describe('a requeued notification is delivered again (in process)', () => {
  const CHECK = { id: 7, name: 'shop api', type: 'http', data: '{"url":"http://127.0.0.1:9/health","expect_status":200}' };
  const KEY = 'evt-7-1-offline';
  const WAIT = { timeout: 20_000, interval: 20 };

  /** Check 7 alerting webhook contact 1 (the receiver), a transition to offline, and a delivery actor. */
  async function deliveringTo(receiver: WebhookReceiver, policy: DeliveryPolicy) {
    const db: Db = await freshDatabase();
    await migrate(db);
    const logs = captureLogs();
    const dsn = `${db.user}:${db.password ?? ''}@tcp(${db.host ?? '127.0.0.1'}:${db.port ?? 3306})/${db.database}`;
    const store = createStore({ dsns: [dsn], log: logs.log, registry: createCheckRegistry(), connectTimeoutMs: 2000 });
    onTestFinished(() => store.close());
    const outbox = createOutbox(store.cluster);
    const sql = <T extends RowDataPacket[]>(query: string, params: unknown[] = []) => withConnection(db, async (c) => (await c.query<T>(query, params))[0]);
    await sql('INSERT INTO checks (id, name, type, data) VALUES (?, ?, ?, ?)', [CHECK.id, CHECK.name, CHECK.type, CHECK.data]);
    await sql("INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', ?)", [receiver.url]);
    await sql("INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (7, 1, 'both', 1)");
    expect(await store.recordTransition({ checkId: 7, to: 'offline', at: new Date(), key: KEY, view: 1, message: 'HTTP 503 in 4 ms', workers: ['probe-ams1'] })).toBe('written');

    const events: NotifyEvent[] = [];
    const ctx = createContactContext(
      {
        smtp: { host: '127.0.0.1', port: 25, from: 'monitor@example.net', username: undefined, password: undefined, admin: undefined, adminInterval: 900_000 },
        twilio: { accountSid: undefined, authToken: undefined, from: undefined },
      },
      logs.log,
      { httpTimeoutMs: 2000 },
    );
    const delivery = startDelivery({
      outbox,
      registry: createContactRegistry(),
      ctx,
      policy,
      who: { view: 1, controller: 'ctl-a' },
      log: logs.log,
      publish: (event) => events.push(event),
      notice: () => {},
      pollMs: 100,
    });
    // Registered after store.close: onTestFinished runs in reverse, so delivery stops first.
    onTestFinished(() => delivery.stop());

    const row = async () => (await outbox.byKey(`${KEY}/1`))!;
    const attempts = async () =>
      (await sql('SELECT attempt, result, detail FROM bearmon_notification_attempts ORDER BY attempt')).map((r) => ({ attempt: r.attempt as number, result: r.result as string, detail: r.detail as string }));
    const stateOf = async () => (await sql("SELECT state FROM bearmon_notifications WHERE notification_key = ?", [`${KEY}/1`]))[0]?.state as string;
    return { outbox, events, row, attempts, stateOf };
  }

  it('a 404 fails the row; after requeue the receiver answers 200 and the row is delivered as attempt 2', async () => {
    const receiver = await startWebhookReceiver((n) => (n === 0 ? 404 : 200));
    const h = await deliveringTo(receiver, { maxAttempts: 4, backoffMs: 50, backoffMaxMs: 200, attemptTimeoutMs: 2000 });
    const host = new URL(receiver.url).host;

    await vi.waitFor(async () => expect(await h.stateOf()).toBe('failed'), WAIT);
    const failed = await h.row();
    expect(failed.attempts).toBe(1);
    expect(receiver.posts).toHaveLength(1);

    const result = await h.outbox.requeue(failed.id, new Date());
    expect(result).toMatchObject({ requeued: true, before: { state: 'failed', attempts: 1 }, row: { state: 'pending', attempts: 1 } });

    await vi.waitFor(async () => expect(await h.stateOf()).toBe('delivered'), WAIT);
    expect(await h.row()).toMatchObject({ state: 'delivered', attempts: 2 });
    expect(await h.attempts()).toEqual([
      { attempt: 1, result: 'failed', detail: `not retried: webhook ${host} answered HTTP 404` },
      { attempt: 2, result: 'delivered', detail: `webhook ${host} answered HTTP 200` },
    ]);
    expect(receiver.posts.map((p) => p.headers['idempotency-key'])).toEqual([`${KEY}/1`, `${KEY}/1`]);
    expect(h.events.map((e) => [e.attempt, e.outcome])).toEqual([
      [1, 'failed'],
      [2, 'delivered'],
    ]);
    // Delivered now: a second requeue changes nothing.
    expect(await h.outbox.requeue(failed.id, new Date())).toMatchObject({ requeued: false, row: { state: 'delivered', attempts: 2 } });
  });

  it('a row that gave up after notifyAttempts gets exactly one more try', async () => {
    const receiver = await startWebhookReceiver(() => 503);
    const h = await deliveringTo(receiver, { maxAttempts: 2, backoffMs: 20, backoffMaxMs: 40, attemptTimeoutMs: 2000 });
    const host = new URL(receiver.url).host;

    await vi.waitFor(async () => expect(await h.stateOf()).toBe('failed'), WAIT);
    expect(receiver.posts).toHaveLength(2);
    const requeued = await h.outbox.requeue((await h.row()).id, new Date());
    expect(requeued.requeued).toBe(true);

    await vi.waitFor(async () => expect((await h.attempts()).map((a) => a.result)).toEqual(['retry', 'failed', 'failed']), WAIT);
    expect(await h.row()).toMatchObject({ state: 'failed', attempts: 3 });
    expect((await h.attempts())[2]).toEqual({ attempt: 3, result: 'failed', detail: `gave up after 3 attempt(s): webhook ${host} answered HTTP 503` });
    expect(receiver.posts).toHaveLength(3);
  });
});
