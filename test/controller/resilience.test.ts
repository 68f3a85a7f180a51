import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { setupBus } from '../../src/bus/setup.ts';
import { subject } from '../../src/bus/subjects.ts';
import { migrate } from '../../src/db/migrate.ts';
import { startBearmon } from '../helpers/bearmon.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { switchableTarget } from './harness.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

/** Every process under its own role from nats.conf (`urlFor` may route one through a proxy); the set-up is admin's. */
async function cluster(stream: string, urlFor: (id: string) => string = (id) => nats.urlFor(id)) {
  const target = await switchableTarget();
  const db = await freshDatabase();
  await migrate(db);
  const conn = await mysql.createConnection(db);
  onTestFinished(() => conn.end());
  await conn.query(`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('web', 'http', ?, 1, 1)`, [JSON.stringify({ url: target.url, expect_status: 200 })]);
  const env = (id: string) => ({
    BEARMON_NATS_URL: urlFor(id),
    BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
    BEARMON_CONTROLLER_CONFIRMATIONS: '2',
    BEARMON_NATS_STREAM: stream,
  });
  const nc = await connect({ ...natsOptions([nats.url]), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  // Streams may not overlap: the next test's cluster needs this one's gone. (Registered
  // first, so it runs after the processes are stopped.)
  onTestFinished(async () => {
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
    await nc.close();
  });
  await setupBus(nc, { stream, retentionMs: 7 * 86_400_000, maxBytes: 1024 ** 3 }); // the [nats] defaults
  const events = { views: [] as { view: number; controller: string }[], transitions: [] as unknown[], results: 0 };
  nc.subscribe(subject.view('current'), { callback: (_e, m) => void events.views.push(m.json()) });
  nc.subscribe('bearmon.transition.>', { callback: (_e, m) => void events.transitions.push(m.json()) });
  nc.subscribe('bearmon.result.>', { callback: () => void (events.results += 1) });
  const logs = new Map<string, Record<string, unknown>[]>();
  startBearmon(['viewserver'], env('viewserver'));
  for (const [i, id] of ['w1', 'w2', 'w3'].entries()) {
    logs.set(id, startBearmon(['worker'], { ...env(id), BEARMON_WORKER_ID: id, BEARMON_WORKER_SOURCEADDRESS: `127.0.0.${i + 2}` }).logs);
  }
  // A viewserver that finds a stored view whose controller answers keeps it without a new
  // view: ask it to say the current one again rather than wait for a change.
  const currentView = async () => {
    nc.publish(subject.view('get'));
    return events.views.at(-1)?.controller ?? null;
  };
  await expect.poll(currentView, { timeout: 20_000, interval: 250 }).not.toBeNull();
  await expect.poll(() => events.results, { timeout: 20_000 }).toBeGreaterThan(5);
  const checkEvents = async () => (await conn.query<RowDataPacket[]>('SELECT type FROM check_events'))[0];
  return { target, events, logs, checkEvents };
}

describe('resilience (real processes)', () => {
  it('a NATS server restart: every role reconnects and monitoring resumes without a false transition', async () => {
    const { events, checkEvents } = await cluster('BEARMON_RESTART');
    await nats.restart();
    const before = events.results;
    // Monitoring resumes: fresh results arrive from the reconnected workers.
    await expect.poll(() => events.results - before, { timeout: 30_000 }).toBeGreaterThan(10);
    expect(events.transitions).toEqual([]);
    expect(await checkEvents()).toEqual([]);
  }, 90_000);

  it('a controller cut off from NATS is replaced; when it returns it steps down, and no false transition happens', async () => {
    const proxies = new Map<string, Awaited<ReturnType<typeof startTcpProxy>>>();
    for (const id of ['w1', 'w2', 'w3']) proxies.set(id, await startTcpProxy({ host: '127.0.0.1', port: nats.port }));
    const { events, logs, checkEvents } = await cluster('BEARMON_PARTITION', (id) =>
      proxies.has(id) ? nats.urlFor(id).replace(`:${nats.port}`, `:${proxies.get(id)!.port}`) : nats.urlFor(id),
    );
    const first = events.views.at(-1)!;
    proxies.get(first.controller)!.cut();
    await expect.poll(() => events.views.at(-1)!.view, { timeout: 15_000 }).toBeGreaterThan(first.view);
    const second = events.views.at(-1)!;
    expect(second.controller).not.toBe(first.controller);
    proxies.get(first.controller)!.restore();
    // Back on the bus, the old controller sees the newer view and steps down.
    await expect.poll(() => logs.get(first.controller)!.some((l) => /stepping down as controller/.test(String(l.msg))), { timeout: 20_000 }).toBe(true);
    const results = events.results;
    await expect.poll(() => events.results - results, { timeout: 20_000 }).toBeGreaterThan(5);
    expect(events.transitions).toEqual([]);
    expect(await checkEvents()).toEqual([]);
  }, 90_000);
});
