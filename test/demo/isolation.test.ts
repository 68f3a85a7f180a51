import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { ensureResultLog } from '../../src/bus/result-log.ts';
import { migrate } from '../../src/db/migrate.ts';
import { BIN } from '../helpers/bearmon.ts';
import { spawnBearmon, type LineProcess } from '../helpers/bearmon-lines.ts';
import { freshDatabase, testServerOptions, withConnection } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';

/**
 * Issue 13, "The demo touches only its own": `bearmon start` run where a production
 * configuration is found (./bearmon.cfg, and BEARMON_* variables in the shell, naming a
 * result log stream on a NATS server and a database with rows) starts its own nats-server,
 * stream and database, and leaves the production ones as they were. Its banner's
 * `export BEARMON_CONFIG=…` points every operator command it lists at the demo.
 */

const PRODUCTION_STREAM = 'PROD_LOG';
let production: NatsServerHandle;
let folder: string;
beforeAll(async () => {
  production = await startNatsServer();
  folder = await mkdtemp(join(tmpdir(), 'bearmon-demo-isolation-'));
});
afterAll(async () => {
  await production?.stop();
  if (folder) await rm(folder, { recursive: true, force: true });
});

/** A production result log with three events in it. */
async function productionStream(): Promise<() => Promise<number>> {
  const nc = await connect(natsOptions([production.url]));
  onTestFinished(() => nc.close());
  await ensureResultLog(nc, { stream: PRODUCTION_STREAM, retentionMs: 3_600_000 });
  const js = jetstream(nc);
  for (const checkId of [1, 2, 3]) await js.publish(`bearmon.check.w1.${checkId}`, JSON.stringify({ type: 'check', checkId, interval: 60, delay: 1, status: 'online' }));
  return async () => (await (await jetstreamManager(nc)).streams.info(PRODUCTION_STREAM)).state.messages;
}

const isGone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

/** Waits for the first line matching `pattern` (the demo prints as things happen); fails with the output so far. */
async function lineMatching(demo: LineProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  try {
    await expect.poll(() => demo.lines.some((l) => pattern.test(l)) || demo.child.exitCode !== null, { timeout: 45_000, interval: 100 }).toBe(true);
  } catch {
    // the check below says what was missing
  }
  const line = demo.lines.find((l) => pattern.test(l));
  if (!line) throw new Error(`the demo printed no ${what}; its output:\n${[...demo.lines.slice(-20), ...demo.stderr.slice(-10)].join('\n')}`);
  return pattern.exec(line)!;
}

describe('bearmon start touches only its own', () => {
  it('leaves the configured stream and database alone, runs on its own nats-server, and its BEARMON_CONFIG serves the banner\'s commands', async () => {
    // One demo at a time on this MySQL server (test/promises/demo.test.ts runs one too).
    const lock = await mysql.createConnection({ ...testServerOptions(), database: undefined });
    onTestFinished(() => lock.end());
    const [[got]] = await lock.query<mysql.RowDataPacket[]>("SELECT GET_LOCK('bearmon_demo_test', 300) AS ok");
    expect(got!.ok, 'another run of a demo test held the demo database for 5 minutes').toBe(1);
    onTestFinished(async () => void (await lock.query("SELECT RELEASE_LOCK('bearmon_demo_test')")));

    const messages = await productionStream();
    expect(await messages()).toBe(3);
    const db = await freshDatabase();
    await migrate(db);
    // Contact 1 of production is an e-mail address: `contact test 1` against it would say so.
    await withConnection(db, (c) => c.query("INSERT INTO checks (name, type, data) VALUES ('production api', 'http', '{\"url\":\"http://127.0.0.1:9/\"}'); INSERT INTO contacts (type, data) VALUES ('email', 'ops@example.com')"));
    const dsn = `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`;
    await writeFile(join(folder, 'bearmon.cfg'), `[nats]\nurl = ${production.url}\nstream = ${PRODUCTION_STREAM}\n\n[controller]\ndatabase = ${dsn}\n`);

    const demo = spawnBearmon(
      ['start', '--interval', '2'],
      // The operator's shell names production too; the demo's state goes to the test's folder.
      { XDG_STATE_HOME: join(folder, 'state'), BEARMON_NATS_URL: production.url, BEARMON_CONTROLLER_DATABASE: dsn },
      { group: true, cwd: folder },
    );
    const [, natsPid, natsPort] = await lineMatching(demo, /^Its own nats-server \(pid (\d+)\) on nats:\/\/127\.0\.0\.1:(\d+), stream BEARMON_DEMO, database bearmon_demo /, 'line about its own nats-server');
    expect(Number(natsPort)).not.toBe(production.port);
    // The demo serves its dashboard (the printed login works) and a status page of every demo check.
    const [, dashboard = '', user = '', password = ''] = await lineMatching(demo, /^dashboard: (http:\/\/127\.0\.0\.1:\d+)\/ {2}\(user (\S+), password (\S+)\)$/, 'dashboard line');
    const login = await fetch(`${dashboard}/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: dashboard }, body: JSON.stringify({ user, password }), redirect: 'manual' });
    expect([login.status, await login.json()]).toEqual([200, { ok: true, user }]);
    const statusPage = (await (await fetch(`${dashboard}/status.json`)).json()) as { checks: { name: string }[] };
    expect(statusPage.checks.map((c) => c.name)).toContain('demo web');
    const [, configFile = ''] = await lineMatching(demo, /^ {2}export BEARMON_CONFIG=(\/\S+)$/, 'export BEARMON_CONFIG line');
    expect(configFile).toBe(join(folder, 'state', 'bearmon-demo', 'bearmon.cfg'));
    const pids = readFileSync(join(folder, 'state', 'bearmon-demo', 'pids'), 'utf8').trim().split('\n').map(Number);
    expect(pids).toHaveLength(5); // nats-server, the viewserver, three workers
    expect(pids[0]).toBe(Number(natsPid));
    // Should the test fail before the demo stops them: its nats-server is in a process group
    // of its own, which the demo's group kill does not reach.
    onTestFinished(() => {
      for (const pid of pids) if (!isGone(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(folder)) process.kill(pid, 'SIGKILL');
    });

    // The banner's commands, each as printed, after the export line.
    const start = demo.lines.findIndex((l) => l.startsWith('  export BEARMON_CONFIG='));
    const commands = demo.lines
      .slice(start + 1)
      .map((l) => /^ {2}(\S*bearmon) (.+)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => m![2]!);
    expect(commands).toEqual(['status', 'trace', 'replay --explain', 'log export', 'notifications list', 'contact test 1']);

    // Event lines name checks beside their ids.
    const [, firstId, firstName] = await lineMatching(demo, /^\S+\s+result\s+check (\d+) \((demo [a-z ]+)\)\s/, 'result line with a check name');
    expect(['demo web', 'demo flapping web', 'demo line service', 'demo ping', 'demo certificate', 'demo name'][Number(firstId) - 1]).toBe(firstName);

    // Run from the folder whose ./bearmon.cfg names production: BEARMON_CONFIG wins.
    const operator = (command: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(BIN, command.split(' '), { cwd: folder, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', BEARMON_CONFIG: configFile } }, (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr }),
        ),
      );
    const status = await operator('status');
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^controller demo-w[123] \(view \d+\)/);
    for (const name of ['demo web', 'demo flapping web', 'demo line service', 'demo ping', 'demo certificate', 'demo name']) expect(status.stdout).toContain(name);

    const trace = spawnBearmon(['trace'], { BEARMON_CONFIG: configFile }, { cwd: folder });
    await expect.poll(() => trace.lines.find((l) => /^\S+\s+result\s+check \d+/.test(l)), { timeout: 30_000 }).toBeDefined();
    await trace.stop('SIGINT');

    const replay = await operator('replay --explain');
    expect([replay.code, replay.stderr]).toEqual([0, '']);
    // The demo's own log: its checks, by name (production's holds checks 1-3 without names).
    const exported = await operator('log export');
    expect(exported.code).toBe(0);
    const names = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; name?: string }).filter((r) => r.type === 'check').map((r) => r.name);
    expect(new Set(names)).toEqual(new Set(['demo web', 'demo flapping web', 'demo line service', 'demo ping', 'demo certificate', 'demo name']));

    // The demo's outbox: empty until the flapping check changes (40 s in), then its rows only.
    const outbox = await operator('notifications list');
    expect(outbox.code).toBe(0);
    for (const line of outbox.stdout.trim().split('\n')) expect(line).toMatch(/^no notifications$|demo flapping web/);

    const contact = await operator('contact test 1');
    expect([contact.code, contact.stdout.trim()]).toEqual([0, expect.stringMatching(/^contact 1 \(webhook\): delivered: webhook 127\.0\.0\.1:\d+ answered HTTP 200$/)]);
    await lineMatching(demo, /^demo webhook received: check 0 \(bearmon contact test\) is offline: /, 'webhook line for the test notification');

    expect(await demo.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(demo.lines.at(-1)).toBe('bearmon local cluster stopped');
    // None of its processes ended before it stopped them.
    expect(demo.stderr.filter((l) => l.startsWith('bearmon demo:'))).toEqual([]);
    // Nothing left running: its nats-server (its own process group) and its four processes.
    expect(pids.filter((pid) => !isGone(pid))).toEqual([]);
    expect(existsSync(join(folder, 'state', 'bearmon-demo', 'pids'))).toBe(false);

    // Production as it was.
    expect(await messages()).toBe(3);
    const [rows] = await withConnection(db, (c) => c.query<mysql.RowDataPacket[]>('SELECT (SELECT COUNT(*) FROM checks) AS checks, (SELECT data FROM contacts WHERE id = 1) AS contact'));
    expect(rows[0]).toEqual({ checks: 1, contact: 'ops@example.com' });
  }, 6 * 60_000);
});
