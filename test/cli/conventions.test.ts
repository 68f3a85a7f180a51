import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { ensureResultLog, publishLogged } from '../../src/bus/result-log.ts';
import { setupBus } from '../../src/bus/setup.ts';
import { subject } from '../../src/bus/subjects.ts';
import { migrate } from '../../src/db/migrate.ts';
import { BIN, runBearmon as bearmon, startBearmon } from '../helpers/bearmon.ts';
import { spawnBearmon, type LineProcess } from '../helpers/bearmon-lines.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { tcpServer } from '../helpers/servers.ts';

/**
 * Issue 13's conventions, through `bin/bearmon` itself: tables whose columns never touch,
 * checks named beside their ids, a trace without liveness noise, a pipe closed early, logs
 * on stderr (readable on a terminal).
 */

let nats: NatsServerHandle;
let admin: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer();
  admin = await connect(natsOptions([nats.url]));
});
afterAll(async () => {
  await admin?.close();
  await nats?.stop();
});

/** As long as `checks.name` (VARCHAR(64)) allows: the old status table cut names at 24 characters. */
const LONG_NAME = 'api-health-of-the-checkout-service-in-the-eu-west-production-z9';

/**
 * Columns never touch: every line splits on runs of two spaces into exactly the header's
 * cells. With `leftAligned`, those columns also start where their header does, two spaces
 * after whatever stands before them, on every line.
 */
function expectColumnsApart(table: string[], leftAligned: number[] = []): void {
  const headers = table[0]!.trim().split(/ {2,}/);
  for (const line of table) expect({ line, cells: line.trim().split(/ {2,}/).length }).toEqual({ line, cells: headers.length });
  const starts = [...table[0]!.matchAll(/\S+( \S+)*/g)].map((m) => m.index!);
  for (const column of leftAligned) for (const line of table) expect({ line, gap: line.slice(starts[column]! - 2, starts[column]) }).toEqual({ line, gap: '  ' });
}

/** A real controller (one worker, --controller) monitoring two tcp checks every second. */
async function controllerWithChecks() {
  const target = await tcpServer((socket) => socket.end());
  const db = await freshDatabase();
  await migrate(db);
  const conn = await mysql.createConnection(db);
  onTestFinished(() => conn.end());
  const data = JSON.stringify({ address: target.address });
  await conn.query('INSERT INTO checks (id, name, type, data, check_interval, delay) VALUES (1, ?, ?, ?, 1, 1), (2, ?, ?, ?, 1, 1)', [LONG_NAME, 'tcp', data, 'db', 'tcp', data]);
  const stream = `CONV_${randomBytes(4).toString('hex').toUpperCase()}`;
  onTestFinished(async () => void (await (await jetstreamManager(admin)).streams.delete(stream).catch(() => {})));
  await setupBus(admin, { stream, retentionMs: 3_600_000, maxBytes: 1024 ** 3 });
  const env = {
    BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
    BEARMON_CONTROLLER_CONFIRMATIONS: '1',
    BEARMON_NATS_STREAM: stream,
  };
  // A result of each check: the controller has loaded both and counts w1 alive (it assigns runs only to live workers).
  const ran = new Set<number>();
  const results = admin.subscribe(subject.result('w1', 1).replace(/\.1$/, '.*'), { callback: (_e, m) => void ran.add(Number(m.subject.split('.').at(-1))) });
  onTestFinished(() => results.unsubscribe());
  await admin.flush();
  startBearmon(['worker', '--controller'], { ...env, BEARMON_NATS_URL: nats.urlFor('w1'), BEARMON_WORKER_ID: 'w1' });
  await expect.poll(() => [...ran].sort(), { timeout: 20_000 }).toEqual([1, 2]);
  return { operator: { ...env, BEARMON_NATS_URL: nats.urlFor('operator') } };
}

describe('bearmon status', () => {
  it('prints tables whose columns never touch, with a 64-character check name whole', async () => {
    const { operator } = await controllerWithChecks();
    const { code, stdout, stderr } = await bearmon(['status'], operator);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.split('\n');
    const checks = lines.slice(lines.indexOf('checks (2):') + 1).filter((l) => l !== '');
    expect(checks[0]!.split(/ {2,}/)).toEqual(['ID', 'NAME', 'TYPE', 'STATE', 'NEXT RUN', 'DETAIL']);
    expect(checks.slice(1).map((l) => l.trim().split(/ {2,}/).slice(0, 4))).toEqual([
      ['1', LONG_NAME, 'tcp', 'online'],
      ['2', 'db', 'tcp', 'online'],
    ]);
    expectColumnsApart(checks, [1, 2, 3, 4, 5]);
    const workers = lines.slice(lines.indexOf('workers (1 alive):') + 1, lines.indexOf('checks (2):') - 1);
    expect(workers.map((l) => l.trim().split(/ {2,}/).slice(0, 2))).toEqual([
      ['WORKER', 'BUSY'],
      ['w1', expect.stringMatching(/^\d+\/\d+$/)],
    ]);
    expectColumnsApart(workers);
  });
});

describe('bearmon trace', () => {
  /** Liveness traffic of worker `probe` and then a marker, from one connection: the marker's line comes after theirs, if theirs are printed. */
  function publishLivenessThen(probe: string, marker: number) {
    const at = '2026-01-01T00:00:00.000Z';
    admin.publish(subject.worker(probe), JSON.stringify({ type: 'heartbeat', worker: probe, capacity: 2, running: 0, startedAt: at, at }));
    admin.publish(subject.ping(probe), JSON.stringify({ worker: probe, at }));
    admin.publish(subject.pong(probe, 'n1'), JSON.stringify({ worker: probe, at }));
    admin.publish(subject.transition('ctl', marker), JSON.stringify({ type: 'transition', checkId: marker, from: 'online', to: 'offline', rounds: 1, at }));
  }
  const seen = (trace: LineProcess, text: string) => trace.lines.some((l) => l.includes(text));
  /** The kind (second field) of each line that is about `probe` or the marker. */
  const kindsAbout = (trace: LineProcess, probe: string, marker: number) =>
    trace.lines.filter((l) => new RegExp(`  (${probe}|check ${marker})( |$)`).test(l)).map((l) => l.split(/ {2,}/)[1]);

  it('names each check beside its id and prints no heartbeats, pings or pongs unless asked', async () => {
    const { operator } = await controllerWithChecks();
    const plain = spawnBearmon(['trace'], operator);
    const heartbeats = spawnBearmon(['trace', '--heartbeats'], operator);
    const all = spawnBearmon(['trace', '--all'], operator);

    // The checks' `check` lines went by before the trace started: the names come from the controller's status.
    const resultOf = (id: number, name: string) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  result {6}check ${id} \\(${name}\\)  w1 +online  `);
    await expect.poll(() => [1, 2].map((id) => plain.lines.some((l) => resultOf(id, id === 1 ? LONG_NAME : 'db').test(l))), { timeout: 20_000 }).toEqual([true, true]);

    // Once all three print a marker, their subscriptions are in place; then one round, once.
    const traces = [plain, heartbeats, all];
    await expect.poll(() => (publishLivenessThen('probe', 900), traces.every((t) => seen(t, 'check 900 '))), { timeout: 20_000, interval: 200 }).toBe(true);
    publishLivenessThen('probe2', 901);
    await expect.poll(() => traces.every((t) => seen(t, 'check 901 ')), { timeout: 20_000 }).toBe(true);
    // (nats.conf never delivers the viewserver's pings to the operator: --all shows the pongs.)
    expect(traces.map((t) => kindsAbout(t, 'probe2', 901))).toEqual([['TRANSITION'], ['heartbeat', 'TRANSITION'], ['heartbeat', 'pong', 'TRANSITION']]);
    // Nor the real worker's heartbeats (one a second) nor the viewserver-less controller's traffic.
    expect(plain.lines.map((l) => l.split(/ {2,}/)[1]).filter((k) => ['heartbeat', 'ping', 'pong'].includes(k!))).toEqual([]);
    expect(heartbeats.lines.some((l) => /^\S+  heartbeat {2,}w1 /.test(l))).toBe(true);
    for (const trace of traces) expect(await trace.stop('SIGINT')).toEqual({ code: 0, signal: null });
  }, 90_000);

  it('a SUBJECT naming a liveness family prints it without a flag', async () => {
    const trace = spawnBearmon(['trace', 'bearmon.worker.>'], { BEARMON_NATS_URL: nats.urlFor('operator') });
    const at = '2026-01-01T00:00:00.000Z';
    await expect
      .poll(() => {
        admin.publish(subject.worker('probe'), JSON.stringify({ type: 'heartbeat', worker: 'probe', capacity: 2, running: 1, at }));
        return trace.lines.find((l) => l.includes('probe'));
      }, { timeout: 20_000, interval: 200 })
      .toBe('00:00:00.000  heartbeat                 probe          1/2 busy');
    expect(await trace.stop('SIGINT')).toEqual({ code: 0, signal: null });
  });
});

describe('a pipe closed early', () => {
  it('`bearmon log export | head -2`: two lines out, exit 0, nothing on stderr', async () => {
    // More than a pipe holds (64 KiB), so the export is still writing when head has read its two lines and gone.
    const stream = `EPIPE_${randomBytes(4).toString('hex').toUpperCase()}`;
    onTestFinished(async () => void (await (await jetstreamManager(admin)).streams.delete(stream).catch(() => {})));
    await ensureResultLog(admin, { stream, retentionMs: 3_600_000 });
    const js = jetstream(admin);
    await publishLogged(js, subject.check('ctl', 1), { type: 'check', checkId: 1, interval: 60, delay: 1, status: 'online', view: 0, name: 'web' }, 'check-1');
    const message = 'x'.repeat(4000);
    for (let i = 0; i < 100; i++) {
      // A result counts from the stream only when it answers a run the controller handed out.
      const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
      await publishLogged(js, subject.assign('ctl', 1), { type: 'assign', checkId: 1, worker: 'w1', assignment: `a${i}`, at, view: 0 }, `assign-${i}`);
      await publishLogged(js, subject.result('w1', 1), { type: 'result', checkId: 1, worker: 'w1', status: 'online', at, message, assignment: `a${i}` }, `result-${i}`);
    }
    const run = await promisify(execFile)('bash', ['-o', 'pipefail', '-c', `"${BIN}" log export | head -2`], {
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', BEARMON_NATS_URL: nats.urlFor('operator'), BEARMON_NATS_STREAM: stream },
      maxBuffer: 1024 ** 2,
    });
    // (promisify(execFile) rejects on a non-zero exit: reaching here is exit 0 for the pipeline, bearmon included.)
    expect(run.stderr).toBe('');
    const lines = run.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { type: 'check', checkId: 1, interval: 60, delay: 1, status: 'online', name: 'web' },
      { type: 'assign', checkId: 1, worker: 'w1', assignment: 'a0', at: '2026-01-01T00:00:00.000Z' },
    ]);
  });
});

describe('logs', () => {
  it('go to stderr as JSON when it is not a terminal, and read as text on a terminal', async () => {
    const { address } = await tcpServer((socket) => socket.end());
    const args = ['check', 'run', '-t', 'tcp', '-d', JSON.stringify({ address })];
    const env = { BEARMON_NOT_A_KEY: '1' };
    const piped = await bearmon(args, env);
    expect(piped.code).toBe(0);
    expect(piped.stdout).toMatch(/^online: connected to /);
    expect(JSON.parse(piped.stderr)).toMatchObject({ level: 'warn', msg: 'environment variable BEARMON_NOT_A_KEY is not a bearmon setting and is ignored' });

    // script(1) runs it on a pseudo-terminal: stdout and stderr are both that terminal.
    const command = [BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const tty = await promisify(execFile)('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env } });
    const text = tty.stdout.replace(/\x1b\[[0-9;]*m/g, '').split(/\r?\n/).filter(Boolean);
    expect(text).toEqual([
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: environment variable BEARMON_NOT_A_KEY is not a bearmon setting and is ignored$/),
      expect.stringMatching(/^online: connected to /),
    ]);
  });
});
