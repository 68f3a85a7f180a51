import { connect, type NatsConnection } from '@nats-io/transport-node';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { expect, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { setupBus } from '../../src/bus/setup.ts';
import { subject } from '../../src/bus/subjects.ts';
import { migrate } from '../../src/db/migrate.ts';
import { startBearmon, type BearmonProcess } from './bearmon.ts';
import { freshDatabase } from './mysql.ts';
import type { NatsServerHandle } from './nats-server.ts';

export interface RoleCluster {
  /** A connection to the test's database (rows in, status out). */
  conn: Connection;
  /** The admin's connection (set-up and observing only). */
  admin: NatsConnection;
  /** Views as published on bearmon.view.current (a consumer's delivery, with its own subject, is left out, as followers do). */
  views: { view: number; controller: string | null }[];
  workers: Map<string, BearmonProcess>;
  viewserver: BearmonProcess;
  /** The environment every process got (database, stream, confirmations, …). */
  env: Record<string, string>;
  /** Waits for the first view naming a controller. */
  firstView(): Promise<{ view: number; controller: string }>;
  /** Starts one more worker under its own credential (e.g. a killed one back). */
  startWorker(id: string, sourceAddress: string): BearmonProcess;
}

/**
 * The production shape in one test: a viewserver and workers w1..w3 as real processes, each
 * under its own credential from nats.conf; only the set-up (`bearmon setup`: streams and the
 * view's bucket, with the [nats] defaults) is admin's. `rows` run against a fresh database first.
 */
export async function startRoleCluster(nats: NatsServerHandle, options: { stream: string; rows: [string, unknown[]?][]; env?: Record<string, string> }): Promise<RoleCluster> {
  const db = await freshDatabase();
  await migrate(db);
  const conn = await mysql.createConnection(db);
  onTestFinished(() => conn.end());
  for (const [sql, args] of options.rows) await conn.query<RowDataPacket[]>(sql, args ?? []);
  const env = {
    BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
    BEARMON_CONTROLLER_CONFIRMATIONS: '2',
    BEARMON_NATS_STREAM: options.stream,
    ...options.env,
  };
  const admin = await connect(natsOptions([nats.url]));
  onTestFinished(() => admin.close());
  await setupBus(admin, { stream: options.stream, retentionMs: 7 * 86_400_000, maxBytes: 1024 ** 3 }); // the [nats] defaults
  const views: RoleCluster['views'] = [];
  admin.subscribe(subject.view('current'), { callback: (_e, m) => void (m.subject === subject.view('current') && views.push(m.json())) });
  await admin.flush();
  const viewserver = startBearmon(['viewserver'], { ...env, BEARMON_NATS_URL: nats.urlFor('viewserver') });
  const workers = new Map<string, BearmonProcess>();
  const startWorker = (id: string, sourceAddress: string) => {
    const worker = startBearmon(['worker'], { ...env, BEARMON_NATS_URL: nats.urlFor(id), BEARMON_WORKER_ID: id, BEARMON_WORKER_SOURCEADDRESS: sourceAddress });
    workers.set(id, worker);
    return worker;
  };
  for (const [i, id] of ['w1', 'w2', 'w3'].entries()) startWorker(id, `127.0.0.${i + 2}`);
  return {
    conn,
    admin,
    views,
    workers,
    viewserver,
    env,
    startWorker,
    firstView: async () => {
      // Discovery grace (1.5 s) + a heartbeat round or two.
      await expect.poll(() => views.at(-1)?.controller ?? null, { timeout: 20_000 }).not.toBeNull();
      return views.at(-1) as { view: number; controller: string };
    },
  };
}
