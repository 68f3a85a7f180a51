/**
 * Partial outages across a controller change: the notification of a partial outage is sent
 * EXACTLY ONCE even though the controller that began it is replaced mid-outage.
 *
 * End to end in one process, as test/controller/regions.test.ts: the controller role
 * (controllerRole: controller, transition writer, outbox, notification delivery, snapshot
 * keeper) on a real nats-server and a fresh MariaDB database, with real in-process workers
 * bound to 127.0.0.x source addresses naming their region. eu (w1 127.0.0.2, w2 127.0.0.3) is
 * refused by the target, us (w3 127.0.0.4) is not; the check has min_regions 2, and a
 * `partial` alert goes to a webhook contact.
 *
 * The controller of view 1 (ctl1) sees the partial outage begin and its 'began' notification
 * is delivered (a, b) — or only queued, its first attempt refused by the receiver with 503 (c).
 * Then it is gone: it is stopped (as the harness's replaceController does, no
 * hand-over of any state: nothing is passed to the successor) and the viewserver's part is
 * played by announcing view 2 naming ctl2, whose controller role starts and rebuilds its check
 * machines
 *   a) from the result log alone (no snapshot, no standby), or
 *   b) from the stored snapshot ctl1's keeper wrote while the partial outage was in
 *      progress (snapshots keep it), then the log's tail.
 *   c) from the result log, with the 'began' notification still owed to the contact: ctl2's
 *      delivery sends it (the one 200 'began', its delivered attempt of view 2), ctl2's fold
 *      does not queue another.
 * The successor keeps seeing eu down and us up: it reports the same partial outage (same
 * `since`) and sends NO second 'began' (one began POST in all, one began outbox row). When eu
 * recovers, exactly one 'ended' POST. Throughout, checks.status stays online and check_events
 * stays empty (a partial outage is no status change).
 *
 * Every wait is on an event (a POST, a log line, a status, a hit count); nothing asserts on time.
 */
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { controllerRole } from '../../src/actors/controller.ts';
import { startWorker, type WorkerHandle } from '../../src/actors/worker.ts';
import { natsOptions } from '../../src/bus/connect.ts';
import { requestStatus } from '../../src/cli/status.ts';
import { loadConfig } from '../../src/config/load.ts';
import { migrate } from '../../src/db/migrate.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { captureLogs } from '../helpers/logs.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { announceView } from '../helpers/view.ts';
import { startWebhookReceiver, type ReceivedPost } from '../helpers/webhook.ts';
import { switchableTarget } from './harness.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

const HEARTBEAT_MS = 200;
/** The controller's default worker timeout: quorum is first judged this long after its start. */
const WORKER_TIMEOUT_MS = 3000;
/** The snapshot keeper's interval in case b). */
const SNAPSHOT_MS = 500;
/** First retry of a failed notification (case c). */
const NOTIFY_BACKOFF_MS = 1000;
const REGIONS = [
  { id: 'w1', address: '127.0.0.2', region: 'eu' },
  { id: 'w2', address: '127.0.0.3', region: 'eu' },
  { id: 'w3', address: '127.0.0.4', region: 'us' },
];
const EU = ['127.0.0.2', '127.0.0.3'];
const US = '127.0.0.4';

const phaseOf = (p: ReceivedPost) => (JSON.parse(p.fields.partial ?? '{}') as { phase?: string }).phase;

/**
 * `after`: when ctl1 goes — once the 'began' notification is delivered, or once it is queued
 * but its first attempt failed (the receiver answers 503 until ctl1 is gone).
 */
async function partialOutageAcrossHandOver(stream: string, options: { snapshot: boolean; after: 'delivered' | 'failed' }) {
  const { snapshot } = options;
  const target = await switchableTarget();
  let accepting = options.after === 'delivered';
  const hook = await startWebhookReceiver(() => (accepting ? 200 : 503));
  const db = await freshDatabase();
  await migrate(db);
  const admin = await mysql.createConnection(db);
  await admin.query(`INSERT INTO checks (name, type, data, check_interval, delay, min_regions) VALUES ('shop', 'http', ?, 1, 1, 2)`, [JSON.stringify({ url: target.url, expect_status: 200 })]);
  await admin.query(`INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', ?)`, [hook.url]);
  await admin.query(`INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (1, 1, 'partial', 1)`);
  await admin.end();
  const query = async <T>(sql: string) => {
    const c = await mysql.createConnection(db);
    try {
      return (await c.query<RowDataPacket[]>(sql))[0].map((r) => ({ ...r })) as T;
    } finally {
      await c.end();
    }
  };

  const nc = await connect(natsOptions([nats.url]));
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => {});
  const logs = captureLogs('info');
  const workers: WorkerHandle[] = REGIONS.map((w) =>
    startWorker({ nc, id: w.id, numThreads: 4, sourceAddress: w.address, region: w.region, dnsServer: '127.0.0.1:53', log: logs.log, heartbeatMs: HEARTBEAT_MS, viewZeroController: 'ctl0' }),
  );
  const roles: { stop(): Promise<void> }[] = [];
  onTestFinished(async () => {
    for (const r of roles) await r.stop().catch(() => {});
    for (const w of workers) await w.stop();
    await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  });
  /** What the viewserver does, then the role of the controller it names, as `bearmon worker --controller` runs it. */
  const startRole = async (view: number) => {
    await announceView(nc, { stream, view, controller: `ctl${view}`, workers });
    const { config } = loadConfig({
      env: {
        BEARMON_WORKER_ID: `ctl${view}`,
        BEARMON_NATS_STREAM: stream,
        BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
        BEARMON_CONTROLLER_CONFIRMATIONS: '2',
        BEARMON_CONTROLLER_STORMTHRESHOLD: '0',
        BEARMON_CONTROLLER_SNAPSHOTINTERVAL: snapshot ? `${SNAPSHOT_MS}ms` : '0s',
        BEARMON_CONTROLLER_NOTIFYBACKOFF: `${NOTIFY_BACKOFF_MS}ms`,
      },
    });
    const role = await controllerRole(config, logs.log, { view, onNotice: () => {} })(nc);
    roles.push(role);
    return role;
  };
  const status = async () => (await requestStatus(nc)).checks[0];
  const hits = (address: string) => target.hits.get(address) ?? 0;
  const euHits = () => EU.reduce((n, a) => n + hits(a), 0);
  const noStatusChange = async () => {
    expect(await query('SELECT status FROM checks WHERE id = 1')).toEqual([{ status: 'online' }]);
    expect(await query('SELECT type FROM check_events')).toEqual([]);
  };

  const first = await startRole(1);
  await expect.poll(() => [...target.hits.keys()].sort(), { timeout: timeoutFor(3000) }).toEqual([...EU, US]);
  await expect.poll(async () => (await status())?.status, { timeout: timeoutFor(WORKER_TIMEOUT_MS) }).toBe('online');

  // eu loses the target: the partial outage begins, and its notification is delivered (or its first attempt fails).
  for (const a of EU) target.refuse.add(a);
  await expect.poll(() => logs.matching(/^check 1 is partially down: offline from eu, online from us$/).length, { timeout: timeoutFor(3000) }).toBe(1);
  await expect.poll(() => hook.posts.length, { timeout: timeoutFor() }).toBeGreaterThanOrEqual(1);
  expect(hook.posts[0]).toMatchObject({ status: accepting ? 200 : 503 });
  expect(phaseOf(hook.posts[0]!)).toBe('began');
  const before = await status();
  expect(before).toMatchObject({ status: 'online', partial: { since: expect.any(String), down: ['eu'], up: ['us'] } });
  const since = before!.partial!.since;
  if (snapshot) {
    // A snapshot stored after the delivery holds the partial outage in progress.
    const stored = logs.matching(/^stored a snapshot of the log state$/).length;
    await expect.poll(() => logs.matching(/^stored a snapshot of the log state$/).length, { timeout: timeoutFor(2 * SNAPSHOT_MS) }).toBeGreaterThan(stored + 1);
  }

  // ctl1 is gone (nothing handed over); view 2 names ctl2, which rebuilds from what is stored.
  await first.stop();
  const byCtl1 = hook.posts.length;
  accepting = true;
  const rebuilt = logs.matching(/^rebuilt the check machines from the result log$/).length;
  await startRole(2);
  expect(logs.matching(/^rebuilt the check machines from the result log$/)).toHaveLength(rebuilt + 1);
  if (snapshot) {
    expect(logs.matching(/^rebuilding from a stored snapshot$/)).toHaveLength(1);
    // Only the tail after the snapshot was folded.
    expect(Number(logs.matching(/^rebuilt the check machines from the result log$/).at(-1)!.standbyRecords)).toBeGreaterThan(0);
  } else expect(logs.matching(/snapshot/)).toEqual([]);

  if (options.after === 'failed') {
    // The notification ctl1 queued but could not deliver is delivered by ctl2, once.
    expect(hook.posts.map((p) => p.status)).toEqual(Array(byCtl1).fill(503));
    await expect.poll(() => hook.posts.length, { timeout: timeoutFor(NOTIFY_BACKOFF_MS) }).toBe(byCtl1 + 1);
  }
  // The successor keeps seeing it: runs from both regions under ctl2, the same partial outage, no second 'began'.
  const [us0, eu0] = [hits(US), euHits()];
  await expect.poll(() => hits(US) >= us0 + 4 && euHits() >= eu0 + 4, { timeout: timeoutFor(8000) }).toBe(true);
  expect(await status()).toMatchObject({ status: 'online', minRegions: 2, partial: { since, down: ['eu'], up: ['us'] } });
  expect(hook.posts.map(phaseOf)).toEqual(Array(byCtl1 + (options.after === 'failed' ? 1 : 0)).fill('began'));
  const delivered = () => hook.posts.filter((p) => p.status === 200);
  expect(delivered().map(phaseOf)).toEqual(['began']);
  await noStatusChange();

  // eu is back: exactly one 'ended', for the outage that began under ctl1.
  target.refuse.clear();
  await expect.poll(() => logs.matching(/^check 1 is no longer partially down \(online from every region\)$/).length, { timeout: timeoutFor(3000) }).toBe(1);
  await expect.poll(() => delivered().length, { timeout: timeoutFor() }).toBe(2);
  expect(delivered().map(phaseOf)).toEqual(['began', 'ended']);
  expect(hook.posts.at(-1)!.fields).toMatchObject({ check_id: '1', name: 'shop', status: 'online' });
  expect((await status())!.partial).toBeUndefined();
  const sinceMs = Date.parse(since);
  await expect
    .poll(async () => (await query<{ notification_key: unknown; state: string }[]>('SELECT notification_key, state FROM bearmon_notifications ORDER BY id')).map((r) => ({ ...r, notification_key: String(r.notification_key) })), {
      timeout: timeoutFor(),
    })
    .toEqual([
      { notification_key: `partial:1:${sinceMs}:began/1`, state: 'delivered' },
      { notification_key: `partial:1:${sinceMs}:ended/1`, state: 'delivered' },
    ]);
  // A few more runs after the end: nothing more is sent.
  const [us1, eu1] = [hits(US), euHits()];
  await expect.poll(() => hits(US) >= us1 + 2 && euHits() >= eu1 + 2, { timeout: timeoutFor(5000) }).toBe(true);
  expect(delivered()).toHaveLength(2);
  expect(hook.posts.filter((p) => p.status !== 200).map(phaseOf)).toEqual(Array(hook.posts.length - 2).fill('began'));
  // Who delivered what: the began by ctl1 (view 1), or by ctl2 after ctl1's failed attempt(s); the ended by ctl2.
  const attempts = await query<{ phase: string; view: number; result: string }[]>(
    "SELECT IF(n.notification_key LIKE '%:began/%', 'began', 'ended') AS phase, a.view, a.result FROM bearmon_notification_attempts a JOIN bearmon_notifications n ON n.id = a.notification_id ORDER BY a.notification_id, a.attempt",
  );
  const okBy = attempts.filter((a) => String(a.result) === 'delivered').map((a) => [String(a.phase), Number(a.view)]);
  expect(okBy).toEqual([
    ['began', options.after === 'delivered' ? 1 : 2],
    ['ended', 2],
  ]);
  await noStatusChange();
}

describe('partial outage across a controller change (controller role, in-process workers)', () => {
  it('a) the successor rebuilds from the result log: one began, one ended notification', async () => {
    await partialOutageAcrossHandOver('BEARMON_REGIONS_HO_A', { snapshot: false, after: 'delivered' });
  }, 60_000);

  it('b) the successor starts from a stored snapshot holding the partial outage: one began, one ended notification', async () => {
    await partialOutageAcrossHandOver('BEARMON_REGIONS_HO_B', { snapshot: true, after: 'delivered' });
  }, 60_000);

  it('c) ctl1 goes after the began notification was queued but before it was delivered (first attempt failed): ctl2 delivers it once, then one ended', async () => {
    await partialOutageAcrossHandOver('BEARMON_REGIONS_HO_C', { snapshot: false, after: 'failed' });
  }, 60_000);
});
