import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { setupBus } from '../../src/bus/setup.ts';
import { subject } from '../../src/bus/subjects.ts';
import { VIEW_BUCKET } from '../../src/actors/viewserver.ts';
import { SNAPSHOT_STREAM } from '../../src/controller/snapshot.ts';
import { natsReplicas } from '../../src/config/schema.ts';
import { migrate } from '../../src/db/migrate.ts';
import { startBearmon } from '../helpers/bearmon.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { startNatsCluster, type NatsClusterHandle } from '../helpers/nats-cluster.ts';
import { switchableTarget } from '../controller/harness.ts';
import { startWebhookReceiver } from '../helpers/webhook.ts';

const STREAM = 'BEARMON_CLUSTER';

let nats: NatsClusterHandle;
beforeAll(async () => {
  nats = await startNatsCluster(3);
}, 120_000);
afterAll(async () => {
  await nats?.stop();
});

describe('bearmon on a three-server NATS cluster (real processes)', () => {
  it('kill -9 of the stream leader during a confirmation round, then during a notification\'s delivery: each transition recorded once, each notification delivered once, results keep flowing, the restarted server catches up', async () => {
    const target = await switchableTarget();
    const db = await freshDatabase();
    await migrate(db);
    const conn = await mysql.createConnection(db);
    onTestFinished(() => conn.end());
    await conn.query(`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('web', 'http', ?, 1, 1)`, [JSON.stringify({ url: target.url, expect_status: 200 })]);
    // Each transition alerts a webhook; the second delivery (the check back online) kills the
    // stream's leader while it is under way.
    let killDuringDelivery: () => void = () => {};
    const hook = await startWebhookReceiver((n) => {
      if (n === 1) killDuringDelivery();
      return 200;
    });
    await conn.query(`INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', ?)`, [hook.url]);
    await conn.query(`INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (1, 1, 'both', 1)`);
    const env = (id: string) => ({
      // Every server listed: the client picks one and fails over to the others.
      BEARMON_NATS_URL: nats.urlsFor(id).join(','),
      BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
      BEARMON_CONTROLLER_CONFIRMATIONS: '2',
      BEARMON_NATS_STREAM: STREAM,
    });
    const nc = await connect({ ...natsOptions(nats.urls), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const jsm = await jetstreamManager(nc);
    onTestFinished(async () => {
      await jsm.streams.delete(STREAM).catch(() => {});
      await nc.close();
    });
    // `bearmon setup` as it runs with three servers in [nats] url: three replicas of everything.
    const replicas = natsReplicas({ url: nats.urls });
    expect(replicas).toBe(3);
    await setupBus(nc, { stream: STREAM, retentionMs: 7 * 86_400_000, maxBytes: 1024 ** 3, replicas });
    for (const name of [STREAM, SNAPSHOT_STREAM, `KV_${VIEW_BUCKET}`]) expect((await jsm.streams.info(name)).config.num_replicas).toBe(3);

    const events = { results: 0, transitions: [] as unknown[], views: [] as { controller: string }[] };
    nc.subscribe('bearmon.result.>', { callback: () => void (events.results += 1) });
    nc.subscribe('bearmon.transition.>', { callback: (_e, m) => void events.transitions.push(m.json()) });
    nc.subscribe(subject.view('current'), { callback: (_e, m) => void events.views.push(m.json()) });
    startBearmon(['viewserver'], env('viewserver'));
    for (const [i, id] of ['w1', 'w2', 'w3'].entries()) startBearmon(['worker'], { ...env(id), BEARMON_WORKER_ID: id, BEARMON_WORKER_SOURCEADDRESS: `127.0.0.${i + 2}` });
    await expect.poll(() => { nc.publish(subject.view('get')); return events.views.length; }, { timeout: 60_000, interval: 250 }).toBeGreaterThan(0);
    await expect.poll(() => events.results, { timeout: 60_000 }).toBeGreaterThan(5);
    const checkEvents = async () => (await conn.query<RowDataPacket[]>('SELECT type FROM check_events'))[0].map((r) => r.type);
    expect(await checkEvents()).toEqual([]);

    // The check goes down; at its first failed result (a confirmation round under way), the
    // server leading the result log's stream dies without a word.
    target.up = false;
    const firstFailure = events.results;
    await expect.poll(() => target.hits.size > 0 && events.results > firstFailure, { timeout: 30_000 }).toBe(true);
    const leader = (await jsm.streams.info(STREAM)).cluster!.leader!;
    const killed = nats.member(leader);
    await killed.kill();

    // The transition is recorded once, and results keep flowing through the other two servers.
    await expect.poll(checkEvents, { timeout: 90_000, interval: 250 }).toHaveLength(1);
    const afterKill = events.results;
    await expect.poll(() => events.results - afterKill, { timeout: 60_000 }).toBeGreaterThan(10);
    expect(await checkEvents()).toHaveLength(1);

    // The killed server comes back, catches up (its replica current, no lag), and nothing is doubled.
    await killed.start();
    await expect
      .poll(
        async () => {
          const info = await jsm.streams.info(STREAM).catch(() => null);
          const peers = [info?.cluster?.leader, ...(info?.cluster?.replicas ?? []).filter((r) => r.current && !r.offline && (r.lag ?? 0) === 0).map((r) => r.name)];
          return peers.includes(leader) || peers.filter(Boolean).length === 3;
        },
        { timeout: 90_000, interval: 250 },
      )
      .toBe(true);
    const afterRestart = events.results;
    await expect.poll(() => events.results - afterRestart, { timeout: 60_000 }).toBeGreaterThan(5);
    // Direct from the restarted server: it has the transition once, like the others.
    const direct = await connect({ ...natsOptions([nats.urls[nats.members.indexOf(killed)]!]) });
    onTestFinished(() => direct.close());
    const stored = await (await jetstreamManager(direct)).streams.info(STREAM);
    expect(stored.cluster!.replicas!.every((r) => !r.offline)).toBe(true);
    expect(await checkEvents()).toHaveLength(1);
    const logged = (await conn.query<RowDataPacket[]>('SELECT COUNT(DISTINCT id) AS n, COUNT(*) AS m FROM check_events'))[0][0]!;
    expect(logged.n).toBe(logged.m);
    // One transition in the replicated log (a re-sent one carries the same message id and is
    // dropped). Its line may still be on its way: a publish the dead leader never answered is
    // retried after the client's timeout (src/bus/log-publisher.ts), and may land after MySQL
    // has the transition — so wait for it, then make sure there is exactly one.
    const transitionLines = async () => Object.values((await jsm.streams.info(STREAM, { subjects_filter: 'bearmon.transition.>' })).state.subjects ?? {});
    await expect.poll(transitionLines, { timeout: 100_000, interval: 250 }).toEqual([1]);
    await expect.poll(() => hook.posts.length, { timeout: 60_000 }).toBe(1);

    // Back online: the second notification is being delivered when the leader of the moment dies.
    let second: Promise<void> | undefined;
    let secondName = '';
    killDuringDelivery = () => {
      second = (async () => {
        secondName = (await jsm.streams.info(STREAM)).cluster!.leader!;
        await nats.member(secondName).kill();
      })();
    };
    target.up = true;
    await expect.poll(checkEvents, { timeout: 90_000, interval: 250 }).toHaveLength(2);
    await expect.poll(() => second !== undefined, { timeout: 60_000 }).toBe(true);
    await second;
    const afterSecondKill = events.results;
    await expect.poll(() => events.results - afterSecondKill, { timeout: 60_000 }).toBeGreaterThan(10);
    await nats.member(secondName).start();
    const afterSecondRestart = events.results;
    await expect.poll(() => events.results - afterSecondRestart, { timeout: 60_000 }).toBeGreaterThan(10);
    // Each notification delivered once; no further transition.
    expect(hook.posts).toHaveLength(2);
    expect(await checkEvents()).toHaveLength(2);
  }, 360_000);
});
