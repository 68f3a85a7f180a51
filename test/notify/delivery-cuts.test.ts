import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createCheckRegistry } from '../../src/checks/registry.ts';
import { createContactContext, createContactRegistry } from '../../src/contacts/registry.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createOutbox } from '../../src/db/outbox.ts';
import { createStore } from '../../src/db/store.ts';
import { startDelivery, type NotifyEvent } from '../../src/notify/delivery.ts';
import { startCommitCutter } from '../helpers/commit-cutter.ts';
import { captureLogs } from '../helpers/logs.ts';
import { freshDatabase, withConnection } from '../helpers/mysql.ts';
import { startWebhookReceiver } from '../helpers/webhook.ts';

/**
 * MySQL lost around a commit, for real: the delivery actor's connection goes through a
 * proxy that lets a COMMIT reach MariaDB and then cuts the connection before the answer
 * comes back. The transaction committed; the controller saw "connection lost".
 */
const POLICY = { maxAttempts: 4, backoffMs: 50, backoffMaxMs: 200, attemptTimeoutMs: 2000 };

async function setUp() {
  const db = await freshDatabase();
  await migrate(db);
  const logs = captureLogs();
  const registry = createCheckRegistry();
  const dsn = (host: string, port: number) => `${db.user}:${db.password ?? ''}@tcp(${host}:${port})/${db.database}`;
  const direct = createStore({ dsns: [dsn(db.host ?? '127.0.0.1', db.port ?? 3306)], log: logs.log, registry, connectTimeoutMs: 2000 });
  onTestFinished(() => direct.close());
  const cutter = await startCommitCutter({ host: db.host ?? '127.0.0.1', port: db.port ?? 3306 });
  const proxied = createStore({ dsns: [dsn(cutter.host, cutter.port)], log: logs.log, registry, connectTimeoutMs: 2000 });
  onTestFinished(() => proxied.close());
  const receiver = await startWebhookReceiver();
  await withConnection(db, async (c) => {
    await c.query(`INSERT INTO checks (id, name, type, data) VALUES (7, 'shop api', 'http', '{"url":"http://127.0.0.1:9/"}')`);
    await c.query('INSERT INTO contacts (id, type, data) VALUES (1, ?, ?)', ['webhook', receiver.url]);
    await c.query(`INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (7, 1, 'both', 1)`);
  });
  expect(await direct.recordTransition({ checkId: 7, to: 'offline', at: new Date(), key: 'evt-7-offline', view: 1, message: 'HTTP 503', workers: ['w1', 'w2'] })).toBe('written');
  const events: NotifyEvent[] = [];
  const start = () => {
    const delivery = startDelivery({
      outbox: createOutbox(proxied.cluster),
      registry: createContactRegistry(),
      ctx: createContactContext({ smtp: { host: '127.0.0.1', port: 25, from: 'm@example.net', username: undefined, password: undefined, admin: undefined, adminInterval: 900_000 }, twilio: { accountSid: undefined, authToken: undefined, from: undefined } }, logs.log, { httpTimeoutMs: 2000 }),
      policy: POLICY,
      who: { view: 1, controller: 'ctl-a' },
      log: logs.log,
      publish: (event) => events.push(event),
      notice: () => {},
      pollMs: 100,
    });
    onTestFinished(() => delivery.stop());
    return delivery;
  };
  const row = async () =>
    withConnection(db, async (c) => ((await c.query<RowDataPacket[]>('SELECT state, attempts FROM bearmon_notifications WHERE contact_id = 1'))[0][0] as { state: string; attempts: number }));
  return { cutter, receiver, logs, events, start, row, direct };
}

describe('delivery: MySQL lost around a commit (a real cut after the COMMIT reached the server)', () => {
  it('a claim that committed but whose answer was lost is released and sent once', async () => {
    const t = await setUp();
    t.cutter.arm(); // the first COMMIT of the delivery actor is its claim
    t.start();
    await expect.poll(t.row, { timeout: 15_000, interval: 100 }).toMatchObject({ state: 'delivered' });
    expect(t.cutter.cuts()).toBe(1);
    expect(t.receiver.posts).toHaveLength(1);
    expect(t.events.map((e) => e.outcome)).toEqual(['delivered']);
    expect(t.logs.matching(/released a claim that was never confirmed/)).toHaveLength(1);
  });

  it('an outcome recorded while the connection dropped is recorded once, and the contact hears once', async () => {
    const t = await setUp();
    // Armed when the POST arrives: the next COMMIT is the one recording its outcome.
    const reply = t.receiver.reply;
    t.receiver.reply = (n, post) => (t.cutter.arm(), reply(n, post));
    t.start();
    await expect.poll(t.row, { timeout: 15_000, interval: 100 }).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(t.cutter.cuts()).toBe(1);
    expect(t.receiver.posts).toHaveLength(1);
    // Nothing more for it. The marker: a later transition's notification is delivered by the same
    // actor (it kept polling), and still only one POST carries the first one's key.
    await t.direct.recordTransition({ checkId: 7, to: 'online', at: new Date(), key: 'evt-7-online', view: 1, message: 'HTTP 200', workers: ['w1', 'w2'] });
    await expect.poll(() => t.receiver.posts.length, { timeout: 15_000 }).toBe(2);
    expect(t.receiver.posts.map((p) => p.fields.status)).toEqual(['offline', 'online']);
    // Its outcome event is published once too (the retried record found its own first COMMIT), and nothing says "taken over".
    await expect.poll(() => t.events.map((e) => [e.contact, e.outcome]), { timeout: 15_000 }).toEqual([
      [1, 'delivered'],
      [1, 'delivered'],
    ]);
    expect(t.logs.matching(/could not record an attempt outcome; trying again/).length).toBeGreaterThanOrEqual(1);
    expect(t.logs.matching(/taken over meanwhile/)).toEqual([]);
  });
});
