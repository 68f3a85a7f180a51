import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import mysql, { type ResultSetHeader } from 'mysql2/promise';
import { connectBus } from '../bus/connect.ts';
import { setupBus } from '../bus/setup.ts';
import type { Config } from '../config/schema.ts';
import { parseDsn } from '../db/dsn.ts';
import { migrate } from '../db/migrate.ts';
import type { Logger } from '../log.ts';
import { formatEvent } from '../trace.ts';
import { startDnsServer } from './dns-server.ts';
import { DEMO_NAME, startHttpTarget, startTcpTarget, startTlsTarget } from './targets.ts';

const BIN = fileURLToPath(new URL('../../bin/bearmon', import.meta.url));
export const DEMO_DATABASE = 'bearmon_demo';
const WORKERS = ['demo-w1', 'demo-w2', 'demo-w3'];
/**
 * The demo's result log ([nats] stream on the local server) starts empty, like its database.
 * (A second stream for the demo is not possible: JetStream refuses streams whose subjects
 * overlap.)
 */
async function resetDemoLog(config: Config): Promise<void> {
  const nc = await connectBus({ ...config.nats, user: 'admin', password: 'bearmon-dev-admin' }, 'bearmon-demo-setup');
  try {
    await (await jetstreamManager(nc)).streams.delete(config.nats.stream).catch(() => false);
    // What only admin may make (the roles below run with least privilege): `bearmon setup`.
    await setupBus(nc, { stream: config.nats.stream, retentionMs: config.nats.retention, maxBytes: config.nats.maxBytes });
  } finally {
    await nc.close();
  }
}
/** Families worth watching in the demo (heartbeats, run requests and assignments are noise here). */
const SHOWN = /^bearmon\.(result|transition|decision|check|view|notify)\./;

export interface ClusterOptions {
  intervalSeconds: number;
  /** The flapping target's schedule. */
  upMs: number;
  downMs: number;
}

/** Fresh demo database with one check of each type against the demo targets, each alerting the demo webhook. */
async function seedDatabase(config: Config, rows: [string, string, Record<string, unknown>][], intervalSeconds: number, webhookUrl: string) {
  const server = parseDsn(config.controller.database[0]!);
  const admin = await mysql.createConnection({ ...server, database: undefined });
  await admin.query(`DROP DATABASE IF EXISTS ${DEMO_DATABASE}`);
  await admin.end();
  const options = { ...server, database: DEMO_DATABASE };
  await migrate(options);
  const db = await mysql.createConnection(options);
  for (const [name, type, data] of rows) {
    await db.query('INSERT INTO checks (name, type, data, check_interval, delay) VALUES (?, ?, ?, ?, 1)', [name, type, JSON.stringify(data), intervalSeconds]);
  }
  // Every check alerts the demo webhook (served by the demo HTTP target) on both changes.
  const [contact] = await db.query<ResultSetHeader>("INSERT INTO contacts (type, data) VALUES ('webhook', ?)", [webhookUrl]);
  await db.query("INSERT INTO alerts (check_id, contact_id, type, enabled) SELECT id, ?, 'both', 1 FROM checks", [contact.insertId]);
  await db.end();
  const { user, password, host, port } = server;
  return `${user}:${password}@tcp(${host}:${port})/${DEMO_DATABASE}`;
}

/**
 * `npm start`: a local cluster in one process tree — three worker processes on 127.0.0.2-4
 * (the first also acting as controller), demo targets, demo checks in a fresh database
 * `bearmon_demo` — printing results and transitions as they happen. The flapping web
 * target goes down and comes back on a schedule, so a check goes offline and online
 * within two minutes. Ctrl-C stops everything.
 */
export async function runCluster(config: Config, log: Logger, options: ClusterOptions): Promise<void> {
  const now = Date.now;
  const targets = {
    http: await startHttpTarget({ upMs: options.upMs, downMs: options.downMs }, now, '127.0.0.1', (fields, key) =>
      process.stdout.write(`demo webhook received: check ${fields.check_id} (${fields.name}) is ${fields.status}: ${fields.message}  [Idempotency-Key ${key}]\n`),
    ),
    tcp: await startTcpTarget(),
    tls: await startTlsTarget(90, now),
    dns: await startDnsServer({ [DEMO_NAME]: [{ type: 'A', ttl: 60, data: '127.0.0.1' }] }),
  };
  const dsn = await seedDatabase(
    config,
    [
      ['demo web', 'http', { url: `http://${targets.http.address}/`, expect_status: 200, expect_substring: 'ok' }],
      ['demo flapping web', 'http', { url: `http://${targets.http.address}/flapping`, expect_status: 200, timeout: 3 }],
      ['demo line service', 'tcp', { address: targets.tcp.address, payload: 'PING', expect: 'PONG' }],
      ['demo ping', 'icmp', { target: '127.0.0.1' }],
      ['demo certificate', 'ssl_expire', { address: targets.tls.address, days: 30 }],
      ['demo name', 'dns', { server: targets.dns.address, name: DEMO_NAME, type: 'a', expect: '127.0.0.1' }],
    ],
    options.intervalSeconds,
    `http://${targets.http.address}/webhook`,
  );
  // Each role with its own credentials from nats.conf (ignored by a server without auth).
  const credentials = (user: string) => ({ BEARMON_NATS_USER: user, BEARMON_NATS_PASSWORD: `bearmon-dev-${user}` });
  const nc = await connectBus({ ...config.nats, user: config.nats.user ?? 'operator', password: config.nats.password ?? 'bearmon-dev-operator' }, 'bearmon-demo');
  const sub = nc.subscribe('bearmon.>', {
    callback: (_err, msg) => {
      if (SHOWN.test(msg.subject)) process.stdout.write(`${formatEvent(msg.subject, msg.string())}\n`);
    },
  });
  // The demo's database is made anew each time, so is its result log: a log from an earlier
  // demo would otherwise hand the fresh database that run's transitions (and notify again).
  await resetDemoLog(config);
  const common = {
    ...process.env,
    BEARMON_CONTROLLER_DATABASE: dsn,
    BEARMON_CONTROLLER_RELOADINTERVAL: '10',
    BEARMON_NATS_URL: config.nats.url.join(','),
  };
  const children: ChildProcess[] = [
    spawn(BIN, ['viewserver'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...common, ...credentials('viewserver') } }),
    ...WORKERS.map((id, i) =>
      spawn(BIN, ['worker'], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...common, ...credentials(id), BEARMON_WORKER_ID: id, BEARMON_WORKER_SOURCEADDRESS: `127.0.0.${i + 2}` },
      }),
    ),
  ];
  log.info({ workers: WORKERS, database: DEMO_DATABASE }, 'demo cluster started');
  process.stdout.write(
    `bearmon local cluster: a viewserver and ${WORKERS.length} workers (the viewserver names the controller), 6 demo checks every ${options.intervalSeconds}s.\n` +
      `"demo flapping web" goes down for ${options.downMs / 1000}s every ${(options.upMs + options.downMs) / 1000}s. Ctrl-C to stop.\n` +
      `In another terminal (as the read-only operator): export BEARMON_NATS_USER=operator BEARMON_NATS_PASSWORD=bearmon-dev-operator\n` +
      `  bin/bearmon status  |  bin/bearmon trace  |  bin/bearmon replay --explain\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  sub.unsubscribe();
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    }),
  );
  await nc.close();
  await Promise.all(Object.values(targets).map((t) => t.close()));
  process.stdout.write('bearmon local cluster stopped\n');
}
