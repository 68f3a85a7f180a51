/**
 * Regions, partial outages and faulty probes (issue #17), end to end in one process: the
 * controller role as `bearmon worker --controller` runs it (controllerRole: controller,
 * transition writer, outbox and notification delivery) on a real nats-server and a fresh
 * MariaDB database, with real in-process workers, each binding its checks to its own
 * 127.0.0.x source address (standing for a place) and naming a region. Targets are local
 * HTTP servers that reset connections from the source addresses in their `refuse` set.
 *
 * a) Partial outage. eu (w1 127.0.0.2, w2 127.0.0.3) cannot reach the target, us (w3
 *    127.0.0.4) can. A check with min_regions 2 does not flip (a round must span two regions):
 *    checks.status stays online and check_events gets no row, while the controller reports
 *    the check partially down (log line; `bearmon status`: partial.down ['eu'], up ['us']). The
 *    webhook contact of a `partial` alert hears of it exactly once (its form names the
 *    regions), the contact of a `both` alert hears nothing; when eu recovers the partial
 *    outage ends with one 'ended' notification to the partial contact, nothing else.
 * b) Faulty probe. w3's own network is broken (every target refuses 127.0.0.4) with
 *    quarantine = exclude and a short probe window: it is flagged (log, 'probe-flagged'
 *    notice, status probe.flagged/excluded), from then on it gets only audit runs, and its
 *    offline votes never flip a check (w1 and w2's verdicts stand: every check stays online, no
 *    check_events). Its network heals: its audits agree, it is released (log,
 *    'probe-released' notice) and gets regular runs again.
 * e) A captive proxy. w3 gets 200 from every target whatever it says (127.0.0.4 is
 *    "captive"); two of eight checks go down. w1 and w2 flip them offline; w3 agrees with
 *    nearly every verdict (six checks stay up) and is flagged on its verdicts about the down
 *    checks alone (log, notice and status say so), then excluded.
 * c) Quorum lost through quarantine. confirmations = 3 with three workers: once w3 is
 *    quarantined only two voters are left; the controller says so (log naming w3, a
 *    'quorum-lost' notice with quarantined ['w3'], status quorum false), and quorum comes back
 *    when w3 is released.
 *
 * Every wait is on an event (a log line, a notice, a status, a row, a hit count); nothing
 * asserts on time.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { controllerRole } from '../../src/actors/controller.ts';
import { startWorker, type WorkerHandle } from '../../src/actors/worker.ts';
import { natsOptions } from '../../src/bus/connect.ts';
import { wildcard } from '../../src/bus/subjects.ts';
import { requestStatus } from '../../src/cli/status.ts';
import { loadConfig } from '../../src/config/load.ts';
import { migrate } from '../../src/db/migrate.ts';
import type { AdminNotice } from '../../src/notices/types.ts';
import type { ControllerStatus } from '../../src/controller/status.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { captureLogs, type CapturedLogs } from '../helpers/logs.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { startWebhookReceiver } from '../helpers/webhook.ts';
import { switchableTarget } from './harness.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

/** Worker heartbeats (the controller's default worker timeout, 3 s, is left as it is). */
const HEARTBEAT_MS = 200;
/** The controller's default worker timeout: quorum is first judged this long after its start. */
const WORKER_TIMEOUT_MS = 3000;
/** Short probe scoring: a window of 10 s, 5 samples to judge, audits every 10 s / (2 × 5) = 1 s. */
const PROBE_WINDOW_MS = 10_000;
const PROBE_ENV = { BEARMON_CONTROLLER_QUARANTINE: 'exclude', BEARMON_CONTROLLER_PROBEWINDOW: '10s', BEARMON_CONTROLLER_PROBEMINSAMPLES: '5' };

interface AssignLine {
  type: string;
  checkId: number;
  worker: string;
  audit?: boolean;
}

interface RegionCluster {
  nc: NatsConnection;
  logs: CapturedLogs;
  notices: AdminNotice[];
  workers: Map<string, WorkerHandle>;
  /** Assign lines of the log (runs handed out), as they are published. */
  assigns: AssignLine[];
  query<T>(sql: string, args?: unknown[]): Promise<T>;
  /** What `bearmon status` gets (the controller's answer on bearmon.control.status). */
  status(): Promise<ControllerStatus>;
}

/**
 * The controller role (as a `--controller` process runs it, view 0, id ctl) and in-process
 * workers, each with its source address and region; `rows` run against a fresh database first.
 */
async function startRegionCluster(options: {
  stream: string;
  confirmations: number;
  workers: { id: string; address: string; region: string }[];
  rows: [string, unknown[]?][];
  env?: Record<string, string>;
}): Promise<RegionCluster> {
  const db = await freshDatabase();
  await migrate(db);
  const conn = await mysql.createConnection(db);
  for (const [sql, args] of options.rows) await conn.query(sql, args ?? []);
  await conn.end();
  const query = async <T>(sql: string, args: unknown[] = []) => {
    const c = await mysql.createConnection(db);
    try {
      const [rows] = await c.query<RowDataPacket[]>(sql, args);
      // A write answers with a header, not rows.
      return (Array.isArray(rows) ? rows.map((r) => ({ ...r })) : rows) as T;
    } finally {
      await c.end();
    }
  };

  const nc = await connect(natsOptions([nats.url]));
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(options.stream).catch(() => {});
  const assigns: AssignLine[] = [];
  nc.subscribe(wildcard.family('assign'), { callback: (_e, m) => void assigns.push(m.json()) });
  await nc.flush();

  const logs = captureLogs('info');
  const notices: AdminNotice[] = [];
  const { config } = loadConfig({
    env: {
      BEARMON_WORKER_ID: 'ctl',
      BEARMON_NATS_STREAM: options.stream,
      BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
      BEARMON_CONTROLLER_CONFIRMATIONS: String(options.confirmations),
      // Every notification at once (no storm grouping window), no snapshot keeper.
      BEARMON_CONTROLLER_STORMTHRESHOLD: '0',
      BEARMON_CONTROLLER_SNAPSHOTINTERVAL: '0s',
      ...options.env,
    },
  });
  const workers = new Map<string, WorkerHandle>();
  for (const w of options.workers) {
    workers.set(
      w.id,
      startWorker({ nc, id: w.id, numThreads: 4, sourceAddress: w.address, region: w.region, dnsServer: '127.0.0.1:53', log: logs.log, heartbeatMs: HEARTBEAT_MS, viewZeroController: 'ctl' }),
    );
  }
  const role = await controllerRole(config, logs.log, { onNotice: (n) => notices.push(n) })(nc);
  onTestFinished(async () => {
    await role.stop();
    for (const w of workers.values()) await w.stop();
    await jsm.streams.delete(options.stream).catch(() => {});
    await nc.close();
  });
  return { nc, logs, notices, workers, assigns, query, status: () => requestStatus(nc) };
}

const REGIONS = [
  { id: 'w1', address: '127.0.0.2', region: 'eu' },
  { id: 'w2', address: '127.0.0.3', region: 'eu' },
  { id: 'w3', address: '127.0.0.4', region: 'us' },
];
const ONE_REGION = REGIONS.map((w) => ({ ...w, region: 'eu' }));

describe('regions, partial outages and faulty probes (controller role, in-process workers)', () => {
  it('a) eu cannot reach a min_regions 2 check, us can: a partial outage (status, one partial notification), no status change', async () => {
    const target = await switchableTarget();
    const partialHook = await startWebhookReceiver();
    const bothHook = await startWebhookReceiver();
    const cluster = await startRegionCluster({
      stream: 'BEARMON_REGIONS_A',
      confirmations: 2,
      workers: REGIONS,
      rows: [
        [`INSERT INTO checks (name, type, data, check_interval, delay, min_regions) VALUES ('shop', 'http', ?, 1, 1, 2)`, [JSON.stringify({ url: target.url, expect_status: 200 })]],
        [`INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', ?), (2, 'webhook', ?)`, [partialHook.url, bothHook.url]],
        [`INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (1, 1, 'partial', 1), (1, 2, 'both', 1)`],
      ],
    });
    // Every place has run the check (a run every second, rotating over three workers).
    await expect.poll(() => [...target.hits.keys()].sort(), { timeout: timeoutFor(3000) }).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    await expect.poll(async () => (await cluster.status()).checks[0]?.status, { timeout: timeoutFor() }).toBe('online');

    // eu loses the target.
    target.refuse.add('127.0.0.2');
    target.refuse.add('127.0.0.3');
    await expect
      .poll(() => cluster.logs.matching(/^check 1 is partially down: offline from eu, online from us$/).length, { timeout: timeoutFor(3 * 1000) })
      .toBe(1);
    const down = await cluster.status();
    expect(down.checks[0]).toMatchObject({ id: 1, status: 'online', minRegions: 2, partial: { since: expect.any(String), down: ['eu'], up: ['us'] } });
    expect(down.workers.map((w) => [w.id, w.region])).toEqual([
      ['w1', 'eu'],
      ['w2', 'eu'],
      ['w3', 'us'],
    ]);
    await expect.poll(() => partialHook.posts.length, { timeout: timeoutFor() }).toBe(1);
    expect(partialHook.posts[0]!.fields).toMatchObject({ check_id: '1', name: 'shop', type: 'http', status: 'offline' });
    expect(JSON.parse(partialHook.posts[0]!.fields.partial!)).toEqual({ phase: 'began', down: ['eu'], up: ['us'] });

    // It lasts: ten more runs from us and from eu each, still partial, still one notification.
    const hits = (address: string) => target.hits.get(address) ?? 0;
    const [us0, eu0] = [hits('127.0.0.4'), hits('127.0.0.2') + hits('127.0.0.3')];
    await expect.poll(() => hits('127.0.0.4') >= us0 + 10 && hits('127.0.0.2') + hits('127.0.0.3') >= eu0 + 10, { timeout: timeoutFor(20 * 1000) }).toBe(true);
    expect((await cluster.status()).checks[0]).toMatchObject({ status: 'online', partial: { down: ['eu'], up: ['us'] } });
    expect(partialHook.posts).toHaveLength(1);
    expect(bothHook.posts).toEqual([]);
    expect(await cluster.query('SELECT status FROM checks WHERE id = 1')).toEqual([{ status: 'online' }]);
    expect(await cluster.query('SELECT type FROM check_events')).toEqual([]);
    expect(cluster.logs.matching(/partially down/)).toHaveLength(1);
    // Overruled eu votes corroborated by their own region are a regional outage, not faulty probes.
    expect(cluster.notices.filter((n) => n.kind === 'probe-flagged')).toEqual([]);

    // eu is back: the partial outage ends, once, told to the partial contact only.
    target.refuse.clear();
    await expect.poll(() => cluster.logs.matching(/^check 1 is no longer partially down \(online from every region\)$/).length, { timeout: timeoutFor(3 * 1000) }).toBe(1);
    await expect.poll(() => partialHook.posts.length, { timeout: timeoutFor() }).toBe(2);
    expect(partialHook.posts[1]!.fields).toMatchObject({ check_id: '1', name: 'shop', status: 'online' });
    expect(JSON.parse(partialHook.posts[1]!.fields.partial!)).toMatchObject({ phase: 'ended' });
    expect((await cluster.status()).checks[0]).toMatchObject({ state: 'online', status: 'online' });
    expect((await cluster.status()).checks[0]!.partial).toBeUndefined();
    await expect
      .poll(() => cluster.query('SELECT contact_id, state, partial IS NOT NULL AS partial FROM bearmon_notifications ORDER BY id'), { timeout: timeoutFor() })
      .toEqual([
        { contact_id: 1, state: 'delivered', partial: 1 },
        { contact_id: 1, state: 'delivered', partial: 1 },
      ]);
    expect(bothHook.posts).toEqual([]);
    expect(await cluster.query('SELECT status FROM checks WHERE id = 1')).toEqual([{ status: 'online' }]);
    expect(await cluster.query('SELECT type FROM check_events')).toEqual([]);
  }, 90_000);

  /** Three checks on three targets, one region; w3 (127.0.0.4) is cut off from every target once all three have run. */
  async function brokenProbe(stream: string, confirmations: number) {
    const targets = [await switchableTarget(), await switchableTarget(), await switchableTarget()];
    const cluster = await startRegionCluster({
      stream,
      confirmations,
      workers: ONE_REGION,
      rows: targets.map((t, i) => [
        `INSERT INTO checks (name, type, data, check_interval, delay) VALUES (?, 'http', ?, 1, 1)`,
        [`site${i + 1}`, JSON.stringify({ url: t.url, expect_status: 200 })],
      ]),
      env: PROBE_ENV,
    });
    const from = (address: string) => targets.reduce((sum, t) => sum + (t.hits.get(address) ?? 0), 0);
    await expect.poll(() => ['127.0.0.2', '127.0.0.3', '127.0.0.4'].every((a) => from(a) > 0), { timeout: timeoutFor(3000) }).toBe(true);
    await expect.poll(async () => (await cluster.status()).checks.map((c) => c.status), { timeout: timeoutFor() }).toEqual(['online', 'online', 'online']);
    for (const t of targets) t.refuse.add('127.0.0.4');
    const heal = () => {
      for (const t of targets) t.refuse.delete('127.0.0.4');
    };
    return { cluster, targets, from, heal };
  }

  const flaggedLine = /^worker w3 is a faulty probe: \d+ % of its last \d+ verdicts contradict the others; its votes no longer count \(quarantine = exclude\)$/;

  it('b) a worker whose every check fails is flagged and excluded, the others\' verdicts stand; healed, it is released', async () => {
    const { cluster, from, heal } = await brokenProbe('BEARMON_REGIONS_B', 2);

    // Flagged within a window or so of contradicted votes.
    await expect.poll(() => cluster.logs.matching(flaggedLine).length, { timeout: timeoutFor(PROBE_WINDOW_MS) }).toBe(1);
    expect(cluster.notices.filter((n) => n.kind === 'probe-flagged')).toEqual([{ kind: 'probe-flagged', worker: 'w3', ratio: expect.any(Number), samples: expect.any(Number), excluded: true }]);
    const flagged = await cluster.status();
    expect(flagged.quarantine).toBe('exclude');
    expect(flagged.workers.find((w) => w.id === 'w3')!.probe).toMatchObject({ flagged: true, excluded: true });
    expect(flagged.workers.filter((w) => w.probe?.flagged).map((w) => w.id)).toEqual(['w3']);
    expect(flagged.quorum).toBe(true);

    // Excluded: from now on w3 gets audit runs only, and its offline verdicts flip nothing.
    const since = cluster.assigns.length;
    const [w1, w2, w3] = [from('127.0.0.2'), from('127.0.0.3'), from('127.0.0.4')];
    await expect.poll(() => from('127.0.0.2') >= w1 + 8 && from('127.0.0.3') >= w2 + 8 && from('127.0.0.4') >= w3 + 4, { timeout: timeoutFor(20 * 1000) }).toBe(true);
    const after = cluster.assigns.slice(since).filter((a) => a.type === 'assign' && a.worker === 'w3');
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((a) => a.audit !== true)).toEqual([]);
    expect((await cluster.status()).checks.map((c) => c.status)).toEqual(['online', 'online', 'online']);
    expect(await cluster.query('SELECT status FROM checks ORDER BY id')).toEqual([{ status: 'online' }, { status: 'online' }, { status: 'online' }]);
    expect(await cluster.query('SELECT type FROM check_events')).toEqual([]);
    expect(cluster.logs.matching(/partially down/)).toEqual([]);

    // Its network heals: its audits agree, and once the contradictions leave the window it is released.
    heal();
    await expect.poll(() => cluster.logs.matching(/^worker w3 agrees with the others again \(\d+ % contradictions\): its votes count again$/).length, { timeout: timeoutFor(PROBE_WINDOW_MS + 2000) }).toBe(1);
    expect(cluster.notices.filter((n) => n.kind === 'probe-released')).toEqual([{ kind: 'probe-released', worker: 'w3', ratio: expect.any(Number), samples: expect.any(Number), excluded: false }]);
    expect((await cluster.status()).workers.find((w) => w.id === 'w3')!.probe).toMatchObject({ flagged: false, excluded: false });
    // Its votes count again: it gets regular runs.
    const released = cluster.assigns.length;
    await expect.poll(() => cluster.assigns.slice(released).some((a) => a.type === 'assign' && a.worker === 'w3' && a.audit !== true), { timeout: timeoutFor(3000) }).toBe(true);
    expect(await cluster.query('SELECT type FROM check_events')).toEqual([]);
    expect(cluster.logs.matching(flaggedLine)).toHaveLength(1);
  }, 90_000);

  it('c) confirmations = 3 of three workers: quarantining one loses quorum, said with its name; releasing it restores quorum', async () => {
    const { cluster, heal } = await brokenProbe('BEARMON_REGIONS_C', 3);

    await expect.poll(() => cluster.logs.matching(flaggedLine).length, { timeout: timeoutFor(PROBE_WINDOW_MS) }).toBe(1);
    await expect
      .poll(() => cluster.logs.matching(/^only 2 live worker\(s\) but confirmations = 3: no check can change state \(1 more quarantined as faulty probes: w3\)$/).length, {
        timeout: timeoutFor(WORKER_TIMEOUT_MS),
      })
      .toBe(1);
    expect(cluster.notices.filter((n) => n.kind === 'quorum-lost')).toEqual([{ kind: 'quorum-lost', alive: 2, confirmations: 3, quarantined: ['w3'] }]);
    const lost = await cluster.status();
    expect(lost.quorum).toBe(false);
    expect(lost.workers.map((w) => w.id)).toEqual(['w1', 'w2', 'w3']);
    expect(await cluster.query('SELECT type FROM check_events')).toEqual([]);

    heal();
    await expect.poll(() => cluster.notices.filter((n) => n.kind === 'probe-released').map((n) => n.kind === 'probe-released' && n.worker), { timeout: timeoutFor(PROBE_WINDOW_MS + 2000) }).toEqual(['w3']);
    // Restored once, after the loss: the start-up's first judgement is no news.
    await expect.poll(() => cluster.notices.filter((n) => n.kind === 'quorum-restored'), { timeout: timeoutFor() }).toEqual([{ kind: 'quorum-restored', alive: 3 }]);
    expect(cluster.notices.findIndex((n) => n.kind === 'quorum-restored')).toBeGreaterThan(cluster.notices.findIndex((n) => n.kind === 'quorum-lost'));
    expect((await cluster.status()).quorum).toBe(true);
    expect(cluster.notices.filter((n) => n.kind === 'quorum-lost')).toHaveLength(1);
    expect(await cluster.query('SELECT type FROM check_events')).toEqual([]);
  }, 90_000);

  it('e) a captive proxy (200 from everything) is flagged on its verdicts about down checks, though it agrees with most verdicts', async () => {
    const targets = await Promise.all(Array.from({ length: 8 }, () => switchableTarget()));
    const cluster = await startRegionCluster({
      stream: 'BEARMON_REGIONS_E',
      confirmations: 2,
      workers: ONE_REGION,
      // delay 0: one round flips a check. With delay 1 the second round (two of the three
      // workers) nearly always includes w3, whose one dissent cancels the suspicion (gobearmon's
      // rule): the checks would not go down, and w3 would never be judged on down checks.
      rows: targets.map((t, i) => [`INSERT INTO checks (name, type, data, check_interval, delay) VALUES (?, 'http', ?, 1, 0)`, [`site${i + 1}`, JSON.stringify({ url: t.url, expect_status: 200 })]]),
      env: PROBE_ENV,
    });
    for (const t of targets) t.captive.add('127.0.0.4');
    await expect.poll(async () => (await cluster.status()).checks.map((c) => c.status), { timeout: timeoutFor() }).toEqual(Array(8).fill('online'));
    targets[0]!.up = false;
    targets[1]!.up = false;

    // w3 cancels some of the others' suspicions before the checks flip; then each of its runs of a down check is overruled.
    await expect.poll(() => cluster.notices.filter((n) => n.kind === 'probe-flagged').length, { timeout: timeoutFor(6 * PROBE_WINDOW_MS) }).toBe(1);
    expect(cluster.notices.filter((n) => n.kind === 'probe-flagged')).toEqual([{ kind: 'probe-flagged', worker: 'w3', ratio: 1, samples: expect.any(Number), excluded: true, basis: 'down' }]);
    expect(cluster.logs.matching(/^worker w3 is a faulty probe: 100 % of its last \d+ verdicts on checks that were down contradict the others; its votes no longer count \(quarantine = exclude\)$/)).toHaveLength(1);
    const w3 = (await cluster.status()).workers.find((w) => w.id === 'w3')!.probe!;
    expect(w3).toMatchObject({ flagged: true, excluded: true });
    // Judged over all its verdicts it would pass: it agrees about the six checks that are up.
    expect(w3.ratio).toBeLessThan(0.5);
    expect(w3.down!.contradictions).toBeGreaterThan(0);
    // The others were never flagged, and the down checks went offline on their word.
    expect(cluster.logs.matching(/^worker w[12] is a faulty probe/)).toEqual([]);
    await expect.poll(async () => (await cluster.status()).checks.map((c) => c.status), { timeout: timeoutFor() }).toEqual(['offline', 'offline', ...Array(6).fill('online')]);
  }, 90_000);

  it('d) a check asking for more regions than the live workers span: said once (log, regions-short notice); a reload that asks for fewer ends it', async () => {
    const target = await switchableTarget();
    const cluster = await startRegionCluster({
      stream: 'BEARMON_REGIONS_D',
      confirmations: 2,
      workers: REGIONS,
      rows: [[`INSERT INTO checks (name, type, data, check_interval, delay, min_regions) VALUES ('shop', 'http', ?, 1, 1, 3)`, [JSON.stringify({ url: target.url, expect_status: 200 })]]],
    });
    await expect.poll(() => cluster.notices.filter((n) => n.kind === 'regions-short'), { timeout: timeoutFor(WORKER_TIMEOUT_MS) }).toEqual([{ kind: 'regions-short', regions: ['eu', 'us'], needed: 3 }]);
    expect(cluster.logs.matching(/^live workers whose votes count span 2 region\(s\) \(eu, us\) but a check asks for 3: such checks cannot change state$/)).toHaveLength(1);

    await cluster.query('UPDATE checks SET min_regions = 2 WHERE id = 1');
    const reply = await cluster.nc.request('bearmon.control.reload', '', { timeout: 10_000 });
    expect(reply.json()).toMatchObject({ ok: true, checks: 1 });
    await expect.poll(() => cluster.notices.filter((n) => n.kind === 'regions-restored'), { timeout: timeoutFor() }).toEqual([{ kind: 'regions-restored', regions: ['eu', 'us'] }]);
    expect(cluster.notices.filter((n) => n.kind === 'regions-short')).toHaveLength(1);
  }, 60_000);
});
