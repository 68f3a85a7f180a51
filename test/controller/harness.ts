import http from 'node:http';
import net from 'node:net';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { natsOptions } from '../../src/bus/connect.ts';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { onTestFinished } from 'vitest';
import { startWorker, type WorkerHandle } from '../../src/actors/worker.ts';
import { readLog } from '../../src/bus/result-log.ts';
import { createCheckRegistry } from '../../src/checks/registry.ts';
import { startController, type AdminNotice, type ControllerHandle } from '../../src/controller/controller.ts';
import type { Standby } from '../../src/controller/standby.ts';
import { subject } from '../../src/bus/subjects.ts';
import { migrate } from '../../src/db/migrate.ts';
import type { HistorySink } from '../../src/history/buckets.ts';
import { createStore } from '../../src/db/store.ts';
import { createTransitionWriter, type TransitionWriter } from '../../src/db/transition-writer.ts';
import { replay } from '../../src/replay/run.ts';
import { captureLogs, type CapturedLogs } from '../helpers/logs.ts';
import { announceView } from '../helpers/view.ts';
import { freshDatabase } from '../helpers/mysql.ts';

export const STREAM = 'BEARMON';
/** The cluster's timers, for the bounds tests wait by: a worker silent this long is dead (and quorum is first judged this long after start)... */
export const WORKER_TIMEOUT_MS = 1000;
/** ...each worker beats this often... */
export const HEARTBEAT_MS = 200;
/** ...and the controller's clock ticks this often (its default): expiry, due runs and quorum are looked at on a tick. */
export const TICK_MS = 100;

/**
 * An HTTP target the test switches off and on. `refuse` lists source addresses whose
 * connections are reset (a target only one worker cannot reach); `captive` those that get
 * 200 whatever `up` says (a worker behind a captive proxy that answers for everything).
 */
export async function switchableTarget(): Promise<{ url: string; up: boolean; refuse: Set<string>; captive: Set<string>; hits: Map<string, number> }> {
  const state = { up: true, refuse: new Set<string>(), captive: new Set<string>(), hits: new Map<string, number>() };
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const from = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    state.hits.set(from, (state.hits.get(from) ?? 0) + 1);
    if (state.refuse.has(from)) return void req.socket.destroy();
    const up = state.up || state.captive.has(from);
    res.writeHead(up ? 200 : 503).end(up ? 'ok' : 'down');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  return Object.assign(state, { url });
}

export interface Cluster {
  nc: NatsConnection;
  db: Awaited<ReturnType<typeof freshDatabase>>;
  controller: ControllerHandle;
  /** Stops the controller (as if its process died) and starts a new one for `view`, with its own store and writer. */
  replaceController(view: number, standby?: Standby): Promise<ControllerHandle>;
  writer: TransitionWriter;
  workers: Map<string, WorkerHandle>;
  logs: CapturedLogs;
  notices: AdminNotice[];
  /** Starts another worker binding its checks to `sourceAddress`, in `region` (default: the default region). */
  startWorker(id: string, sourceAddress: string, region?: string): WorkerHandle;
  events(checkId: number): Promise<{ type: string; checkId: number; to?: string; rounds?: number; evidence?: { worker: string }[] }[]>;
  checkEvents(checkId: number): Promise<{ type: string }[]>;
  query<T>(sql: string, args: unknown[]): Promise<T>;
  statusOf(checkId: number): Promise<string>;
}

/**
 * A controller and in-process workers on a real nats-server and a fresh MariaDB database,
 * everything torn down after the test. `dbPort` lets a test put a proxy in front of MySQL.
 */
export async function startCluster(options: {
  natsUrl: string;
  confirmations: number;
  /** `minRegions`: checks.min_regions (left to the column's default when absent). */
  checks: { name: string; type: string; data: object; interval: number; delay: number; minRegions?: number }[];
  /** [id, source address] or [id, source address, region]: a worker binds its checks to its source address (a place a target can refuse). */
  workers: ([string, string] | [string, string, string])[];
  dbOverride?: (db: Awaited<ReturnType<typeof freshDatabase>>) => Promise<{ host: string; port: number }>;
  rows?: string[];
  view?: number;
  /** A worker's own clock (a skewed one), by worker id. */
  clocks?: Record<string, () => number>;
  /** Where every controller of the cluster records accepted results (src/history/). */
  history?: HistorySink;
}): Promise<Cluster> {
  const db = await freshDatabase();
  await migrate(db);
  const admin = await mysql.createConnection(db);
  for (const c of options.checks) {
    if (c.minRegions === undefined) await admin.query('INSERT INTO checks (name, type, data, check_interval, delay) VALUES (?, ?, ?, ?, ?)', [c.name, c.type, JSON.stringify(c.data), c.interval, c.delay]);
    else await admin.query('INSERT INTO checks (name, type, data, check_interval, delay, min_regions) VALUES (?, ?, ?, ?, ?, ?)', [c.name, c.type, JSON.stringify(c.data), c.interval, c.delay, c.minRegions]);
  }
  for (const sql of options.rows ?? []) await admin.query(sql);
  await admin.end();
  const nc = await connect(natsOptions([options.natsUrl]));
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(STREAM).catch(() => {});
  const logs = captureLogs();
  const registry = createCheckRegistry();
  const target = options.dbOverride ? await options.dbOverride(db) : { host: db.host!, port: db.port! };
  const dsn = `${db.user}:${db.password}@tcp(${target.host}:${target.port})/${db.database}`;
  const notices: AdminNotice[] = [];
  const stores: { close(): Promise<void> }[] = [];
  const writers: TransitionWriter[] = [];
  const launch = async (view: number, standby?: Standby) => {
    const store = createStore({ dsns: [dsn], log: logs.log, registry, connectTimeoutMs: 1000 });
    // As the controller role does: a recorded transition is logged, so successors need not rewrite it.
    const js = jetstream(nc);
    const writer = createTransitionWriter({
      store,
      log: logs.log,
      retry: { initialMs: 100, maxMs: 500 },
      onRecorded: (t) =>
        void js
          .publish(subject.decision(`ctl${view}`, t.checkId), JSON.stringify({ type: 'recorded', checkId: t.checkId, key: t.key, transitionAt: t.at.toISOString(), view }), { msgID: `recorded:${t.key}` })
          .catch(() => {}),
    });
    stores.push(store);
    writers.push(writer);
    // As the viewserver does: the view naming this controller is in the log before its lines, and the workers follow it.
    if (view > 0) await announceView(nc, { stream: STREAM, view, controller: `ctl${view}`, workers: workers.values() });
    const handle = await startController({
      nc,
      id: `ctl${view}`,
      view,
      confirmations: options.confirmations,
      reloadIntervalMs: 60_000,
      store,
      writer,
      registry,
      log: logs.log,
      resultLog: { stream: STREAM, retentionMs: 3_600_000 },
      workerTimeoutMs: WORKER_TIMEOUT_MS,
      tickMs: TICK_MS,
      onNotice: (n) => notices.push(n),
      standby,
      history: options.history,
    });
    return { handle, writer };
  };
  const workers = new Map<string, WorkerHandle>();
  const start = (id: string, sourceAddress: string, region?: string) => {
    const worker = startWorker({ nc, id, numThreads: 4, sourceAddress, ...(region !== undefined && { region }), dnsServer: '127.0.0.1:53', log: logs.log, heartbeatMs: HEARTBEAT_MS, now: options.clocks?.[id], viewZeroController: 'ctl0' });
    workers.set(id, worker);
    return worker;
  };
  for (const [id, address, region] of options.workers) start(id, address, region);
  const first = await launch(options.view ?? 0);
  let controller = first.handle;
  onTestFinished(async () => {
    await controller.stop();
    for (const w of workers.values()) await w.stop();
    for (const writer of writers) await writer.stop().catch(() => {});
    for (const store of stores) await store.close();
    await jsm.streams.delete(STREAM).catch(() => {});
    await nc.close();
  });
  const query = async <T>(sql: string, args: unknown[]) => {
    const c = await mysql.createConnection(db);
    try {
      return (await c.query<RowDataPacket[]>(sql, args))[0] as T;
    } finally {
      await c.end();
    }
  };
  const cluster: Cluster = {
    nc,
    db,
    controller,
    writer: first.writer,
    replaceController: async (view, standby) => {
      await controller.stop();
      const next = await launch(view, standby);
      controller = next.handle;
      cluster.controller = controller;
      cluster.writer = next.writer;
      return controller;
    },
    workers,
    logs,
    notices,
    startWorker: start,
    events: async (checkId) => {
      const out: string[] = [];
      await replay(readLog(nc, { stream: STREAM }), { mode: 'ndjson', confirmations: options.confirmations, checkId }, { out: (l) => out.push(l), err: () => {} });
      return out.map((l) => JSON.parse(l));
    },
    checkEvents: (checkId) => query('SELECT type FROM check_events WHERE check_id = ? ORDER BY id', [checkId]),
    query,
    statusOf: async (checkId) => (await query<{ status: string }[]>('SELECT status FROM checks WHERE id = ?', [checkId]))[0]!.status,
  };
  return cluster;
}
