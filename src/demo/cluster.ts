import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql, { type ResultSetHeader } from 'mysql2/promise';
import { connectBus } from '../bus/connect.ts';
import { developmentPassword } from '../bus/permissions.ts';
import { setupBus } from '../bus/setup.ts';
import { natsReplicas, type Config } from '../config/schema.ts';
import { parseDsn } from '../db/dsn.ts';
import { migrate } from '../db/migrate.ts';
import type { Logger } from '../log.ts';
import { formatEvent } from '../trace.ts';
import { DEMO_DATABASE, DEMO_DSN, DEMO_OPERATOR, DEMO_STREAM, DEMO_WORKERS, demoConfig, demoStateDir, renderConfig } from './config.ts';
import { startDnsServer } from './dns-server.ts';
import { killLeftovers, startDemoNatsServer, type DemoNatsServer } from './nats-server.ts';
import { DEMO_NAME, startHttpTarget, startTcpTarget, startTlsTarget } from './targets.ts';

export { DEMO_DATABASE, demoBaseConfig } from './config.ts';

const BIN = fileURLToPath(new URL('../../bin/bearmon', import.meta.url));
/** Families worth watching in the demo (heartbeats, run requests, assignments and workers' requests for the view are noise here). */
const SHOWN = /^bearmon\.(result|transition|decision|check|notify)\.|^bearmon\.view\.current$/;
/** Check names by id: the demo made its checks, so it names them in every event line. */
type CheckNames = Map<number, string>;
/** formatEvent with the names it prints beside ids (src/trace.ts; typed here so this file also builds against a trace.ts without them). */
const format: (subject: string, data: string, names?: CheckNames) => string = formatEvent;
/** Held on the demo's MySQL connection while it runs: a second demo would reset the database under the first. */
const DEMO_LOCK = 'bearmon_demo';

export interface ClusterOptions {
  /** Seconds between runs of each demo check: a whole number from 1 to 3600 (as typed after --interval, or a number). */
  intervalSeconds: number | string;
  /** The flapping target's schedule. */
  upMs: number;
  downMs: number;
}

type Row = [name: string, type: string, data: Record<string, unknown>];

/**
 * Fresh demo database with one check of each type against the demo targets, each alerting
 * the demo webhook. Returns the checks' names by id, for the event lines.
 */
async function seedDatabase(rows: Row[], intervalSeconds: number, webhookUrl: string): Promise<CheckNames> {
  const options = parseDsn(DEMO_DSN);
  const admin = await mysql.createConnection({ ...options, database: undefined });
  await admin.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(DEMO_DATABASE)}`);
  await admin.end();
  await migrate(options);
  const db = await mysql.createConnection(options);
  const names: CheckNames = new Map();
  try {
    for (const [name, type, data] of rows) {
      const [inserted] = await db.query<ResultSetHeader>('INSERT INTO checks (name, type, data, check_interval, delay) VALUES (?, ?, ?, ?, 1)', [name, type, JSON.stringify(data), intervalSeconds]);
      names.set(inserted.insertId, name);
    }
    // Every check alerts the demo webhook (served by the demo HTTP target) on both changes.
    const [contact] = await db.query<ResultSetHeader>("INSERT INTO contacts (type, data) VALUES ('webhook', ?)", [webhookUrl]);
    await db.query("INSERT INTO alerts (check_id, contact_id, type, enabled) SELECT id, ?, 'both', 1 FROM checks", [contact.insertId]);
  } finally {
    await db.end();
  }
  return names;
}

/**
 * One demo at a time on this MySQL server: both would drop and fill `bearmon_demo`. The lock
 * lives as long as this connection, so a demo that dies releases it.
 */
async function lockDemo(): Promise<mysql.Connection> {
  const { host, port, user, password } = parseDsn(DEMO_DSN);
  let connection: mysql.Connection;
  try {
    connection = await mysql.createConnection({ host, port, user, password });
  } catch (err) {
    throw new Error(`the demo's MySQL server ${user}@${host}:${port} is not reachable (npm start sets it up): ${(err as Error).message}`);
  }
  const [[row]] = await connection.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, 0) AS ok', [DEMO_LOCK]);
  if (row?.ok !== 1) {
    await connection.end();
    throw new Error(`another bearmon demo is running on this machine (it holds the MySQL lock ${DEMO_LOCK} on ${host}:${port}): stop it first`);
  }
  return connection;
}

function checkedInterval(given: number | string): number {
  const seconds = typeof given === 'number' ? given : /^\s*\d+\s*$/.test(given) ? Number(given) : Number.NaN;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) throw new Error(`--interval = ${JSON.stringify(String(given))}: expected whole seconds from 1 to 3600`);
  return seconds;
}

/** The environment of the demo's processes: none of the shell's BEARMON_* settings (they may name a production bus or database). */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BEARMON_')));
  return { ...env, ...extra };
}

/** How the banner names bin/bearmon: relative when run from the checkout (npm start), else absolute, so every line works as printed. */
function binName(): string {
  const rel = relative(process.cwd(), BIN);
  return rel.startsWith('..') || rel === '' ? BIN : rel;
}

/**
 * `npm start`: a local cluster in one process tree, on nothing but its own — its own
 * nats-server (the repository's nats.conf and users, a free loopback port, its own store),
 * its own database `bearmon_demo` and stream, a viewserver and three worker processes on
 * 127.0.0.2-4, demo targets — printing results and transitions as they happen. The
 * flapping web target goes down and comes back on a schedule, so a check goes offline and
 * online within two minutes. It writes a configuration file for operator commands and
 * prints `export BEARMON_CONFIG=…`. Ctrl-C (or SIGTERM, SIGHUP) stops everything.
 *
 * `base` supplies only settings that name no bus, database or identity (SMTP, Twilio,
 * notification back-off, log level): see demoConfig.
 */
export async function runCluster(base: Config, log: Logger, options: ClusterOptions): Promise<void> {
  const intervalSeconds = checkedInterval(options.intervalSeconds);
  const stateDir = demoStateDir();
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const pidFile = join(stateDir, 'pids');
  const configFile = join(stateDir, 'bearmon.cfg');
  // Undone in reverse order however far the start got: a failed start leaves nothing running.
  const cleanup: (() => Promise<void> | void)[] = [];
  const undo = async () => {
    for (const step of cleanup.reverse()) await step();
  };
  let stopRequested: (reason: string) => void = () => {};
  /** From the moment a stop is asked for, processes that end are expected to. */
  let stopping = false;
  const stopped = new Promise<string>((resolve) => {
    stopRequested = (reason) => {
      stopping = true;
      resolve(reason);
    };
  });
  const onSignal = (signal: NodeJS.Signals) => stopRequested(signal);
  // Also SIGHUP (terminal closed): nats-server, in its own process group, would outlive it.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, onSignal);
  cleanup.push(() => void (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).forEach((s) => process.off(s, onSignal)));

  try {
    const lock = await lockDemo();
    // A lost connection loses the lock; the demo itself goes on (its processes have their own).
    lock.on('error', (err: Error) => log.warn({ err: err.message }, 'the demo lost its MySQL lock connection'));
    cleanup.push(() => lock.end().catch(() => undefined));
    const leftovers = await killLeftovers(pidFile, stateDir);
    if (leftovers.length > 0) log.warn({ pids: leftovers }, 'ended processes an earlier demo left running');

    // The demo's result log starts empty like its database: a log from an earlier demo would
    // hand the fresh database that run's transitions (and notify again).
    const storeDir = join(stateDir, 'jetstream');
    rmSync(storeDir, { recursive: true, force: true });
    // Removed only after everything it lists has stopped (cleanup runs in reverse).
    cleanup.push(() => rmSync(pidFile, { force: true }));
    const nats: DemoNatsServer = await startDemoNatsServer({ storeDir, logFile: join(stateDir, 'nats.log') });
    cleanup.push(() => nats.stop());
    void nats.exited.then(() => stopRequested(`nats-server exited (see ${join(stateDir, 'nats.log')})`));
    const pids = [nats.pid];
    writeFileSync(pidFile, `${pids.join('\n')}\n`);

    const config = demoConfig(base, { natsUrl: nats.url });
    // What only admin may make (the roles below run with least privilege): `bearmon setup`.
    const setup = await connectBus({ ...config.nats, user: 'admin', password: developmentPassword('admin') }, 'bearmon-demo-setup');
    try {
      await setupBus(setup, { stream: config.nats.stream, retentionMs: config.nats.retention, maxBytes: config.nats.maxBytes, replicas: natsReplicas(config.nats) });
    } finally {
      await setup.close();
    }

    const now = Date.now;
    const started = <T extends { close(): Promise<void> }>(target: T): T => {
      cleanup.push(() => target.close());
      return target;
    };
    const targets = {
      http: started(
        await startHttpTarget({ upMs: options.upMs, downMs: options.downMs }, now, '127.0.0.1', (fields, key) =>
          process.stdout.write(`demo webhook received: check ${fields.check_id} (${fields.name}) is ${fields.status}: ${fields.message}  [Idempotency-Key ${key}]\n`),
        ),
      ),
      tcp: started(await startTcpTarget()),
      tls: started(await startTlsTarget(90, now)),
      dns: started(await startDnsServer({ [DEMO_NAME]: [{ type: 'A', ttl: 60, data: '127.0.0.1' }] })),
    };
    const names = await seedDatabase(
      [
        ['demo web', 'http', { url: `http://${targets.http.address}/`, expect_status: 200, expect_substring: 'ok' }],
        ['demo flapping web', 'http', { url: `http://${targets.http.address}/flapping`, expect_status: 200, timeout: 3 }],
        ['demo line service', 'tcp', { address: targets.tcp.address, payload: 'PING', expect: 'PONG' }],
        ['demo ping', 'icmp', { target: '127.0.0.1' }],
        ['demo certificate', 'ssl_expire', { address: targets.tls.address, days: 30 }],
        ['demo name', 'dns', { server: targets.dns.address, name: DEMO_NAME, type: 'a', expect: '127.0.0.1' }],
      ],
      intervalSeconds,
      `http://${targets.http.address}/webhook`,
    );

    // Every process of the demo, and every operator command of the banner, reads this file
    // (and only it: -c). It names the read-only operator; each role overrides the user.
    writeFileSync(
      configFile,
      renderConfig(config, [
        'Written by `bearmon start` (the demo) for its own nats-server, stream and database; rewritten at each start.',
        `Operator commands: export BEARMON_CONFIG=${configFile}`,
      ]),
      { mode: 0o600 },
    );

    const nc = await connectBus(config.nats, 'bearmon-demo');
    cleanup.push(() => nc.close());
    nc.subscribe('bearmon.>', {
      callback: (_err, msg) => {
        if (SHOWN.test(msg.subject)) process.stdout.write(`${format(msg.subject, msg.string(), names)}\n`);
      },
    });

    // Each process logs to a file of its own: four processes' log lines would bury the events
    // on the terminal. One that ends on its own is said (it may have been killed on purpose, to
    // watch the viewserver pick another controller): the demo goes on.
    const start = (name: string, command: string, user: string, extra: Record<string, string> = {}) => {
      const logFile = join(stateDir, `${name}.log`);
      const out = openSync(logFile, 'w');
      const child = spawn(BIN, ['-c', configFile, command], {
        stdio: ['ignore', out, out],
        env: childEnv({ BEARMON_NATS_USER: user, BEARMON_NATS_PASSWORD: developmentPassword(user), ...extra }),
      });
      closeSync(out);
      child.once('exit', (code, signal) => {
        if (!stopping) process.stderr.write(`bearmon demo: ${name} (pid ${child.pid}) ended (${signal ?? `exit code ${code}`}); its log: ${logFile}\n`);
      });
      return child;
    };
    const children: ChildProcess[] = [
      start('viewserver', 'viewserver', 'viewserver'),
      ...DEMO_WORKERS.map((id, i) => start(id, 'worker', id, { BEARMON_WORKER_ID: id, BEARMON_WORKER_SOURCEADDRESS: `127.0.0.${i + 2}` })),
    ];
    cleanup.push(async () => {
      stopping = true; // also when a failed start is undone
      await Promise.all(
        children.map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          await once(child, 'exit');
        }),
      );
    });
    pids.push(...children.map((c) => c.pid!).filter(Boolean));
    writeFileSync(pidFile, `${pids.join('\n')}\n`);

    // The dashboard and the status page of the demo, in this process; stopped before its nats-server.
    const { startDemoWeb } = await import('../web/start.ts');
    const web = await startDemoWeb({ natsUrl: nats.url, operatorPassword: developmentPassword('operator'), stream: config.nats.stream, dsn: config.controller.database[0]!, log });
    cleanup.push(() => web.stop());

    log.info({ workers: DEMO_WORKERS, database: DEMO_DATABASE, nats: nats.url, stream: DEMO_STREAM, stateDir }, 'demo cluster started');
    const bin = binName();
    process.stdout.write(
      [
        `bearmon local cluster: a viewserver and ${DEMO_WORKERS.length} workers (the viewserver names the controller), ${names.size} demo checks every ${intervalSeconds}s.`,
        `"demo flapping web" goes down for ${options.downMs / 1000}s every ${(options.upMs + options.downMs) / 1000}s. Ctrl-C to stop.`,
        `Its own nats-server (pid ${nats.pid}) on ${nats.url}, stream ${DEMO_STREAM}, database ${DEMO_DATABASE} on 127.0.0.1:3306; state and logs in ${stateDir}.`,
        ...web.lines,
        `In another terminal (on NATS as ${DEMO_OPERATOR}, which reads the bus and changes nothing on it):`,
        `  export BEARMON_CONFIG=${configFile}`,
        ...['status', 'trace', 'replay --explain', 'log export', 'notifications list', 'contact test 1'].map((command) => `  ${bin} ${command}`),
        '',
      ].join('\n'),
    );

    const reason = await stopped;
    if (!/^SIG/.test(reason)) process.stderr.write(`bearmon demo: ${reason}; stopping\n`);
  } finally {
    await undo();
  }
  process.stdout.write('bearmon local cluster stopped\n');
}
