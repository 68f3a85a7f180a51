import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { subject } from '../../src/bus/subjects.ts';
import { describeKeys } from '../../src/config/load.ts';
import { runBearmon as bearmon } from '../helpers/bearmon.ts';
import { spawnBearmon } from '../helpers/bearmon-lines.ts';
import { dnsServer } from '../helpers/dns-server.ts';
import { freshDatabase, testServerOptions } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { refusedPort, tcpServer } from '../helpers/servers.ts';

/**
 * The README's command table, through `bin/bearmon` itself: `replay --since/--until` and its
 * exit code, `config check`, `config keys`, `db migrate --no-create`, `trace --json`,
 * `check run --source-address/--dns-server`.
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

async function tempFile(name: string, text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'bearmon-cmd-')), name);
  await writeFile(file, text);
  return file;
}

const line = (o: object) => JSON.stringify(o);
const result = (worker: string, status: string, at: string) => line({ type: 'result', checkId: 1, worker, status, at, message: status === 'online' ? 'HTTP 200' : 'ECONNREFUSED' });
// Check 1 (C=2, delay 1) goes offline at 00:01:01 and online again at 00:06:01.
const OUTAGE = [
  line({ type: 'check', checkId: 1, interval: 60, delay: 1, status: 'online' }),
  result('w1', 'offline', '2026-01-01T00:00:00Z'),
  result('w2', 'offline', '2026-01-01T00:00:01Z'),
  result('w3', 'offline', '2026-01-01T00:01:00Z'),
  result('w1', 'offline', '2026-01-01T00:01:01Z'),
  result('w2', 'online', '2026-01-01T00:05:00Z'),
  result('w3', 'online', '2026-01-01T00:05:01Z'),
  result('w1', 'online', '2026-01-01T00:06:00Z'),
  result('w2', 'online', '2026-01-01T00:06:01Z'),
];
const parse = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
const transitions = (stdout: string) => parse(stdout).filter((l) => l.type === 'transition').map((t) => [t.to, t.at]);

describe('bearmon replay FILE --since / --until, exit 1 on a skipped line', () => {
  it('without a window: both transitions, exit 0', async () => {
    const file = await tempFile('outage.ndjson', `${OUTAGE.join('\n')}\n`);
    const { code, stdout, stderr } = await bearmon(['replay', file, '--confirmations', '2']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(transitions(stdout)).toEqual([
      ['offline', '2026-01-01T00:01:01.000Z'],
      ['online', '2026-01-01T00:06:01.000Z'],
    ]);
  });

  it('--since: earlier lines build the state, output starts at the window (only the way back online is printed)', async () => {
    const file = await tempFile('outage.ndjson', `${OUTAGE.join('\n')}\n`);
    const { code, stdout } = await bearmon(['replay', file, '--confirmations', '2', '--since', '2026-01-01T00:02:00Z']);
    expect(code).toBe(0);
    // Went online from offline: the state before the window was rebuilt, not started over.
    expect(parse(stdout).filter((l) => l.type === 'transition').map((t) => [t.from, t.to, t.at])).toEqual([['offline', 'online', '2026-01-01T00:06:01.000Z']]);
    expect(parse(stdout).some((l) => String(l.at ?? '9') < '2026-01-01T00:02:00')).toBe(false);
  });

  it('--until: reading stops at the end of the window', async () => {
    const file = await tempFile('outage.ndjson', `${OUTAGE.join('\n')}\n`);
    const before = await bearmon(['replay', file, '--confirmations', '2', '--until', '2026-01-01T00:01:00Z']);
    expect(before.code).toBe(0);
    expect(transitions(before.stdout)).toEqual([]);
    expect(parse(before.stdout).filter((l) => l.type === 'round').map((l) => l.at)).toEqual(['2026-01-01T00:00:01.000Z']);
    const both = await bearmon(['replay', file, '--confirmations', '2', '--since', '2026-01-01T00:01:00Z', '--until', '2026-01-01T00:05:30Z']);
    expect(transitions(both.stdout)).toEqual([['offline', '2026-01-01T00:01:01.000Z']]);
  });

  it('relative times (-2h) count back from now', async () => {
    const now = Date.now();
    const at = (msAgo: number) => new Date(now - msAgo).toISOString();
    const lines = [
      line({ type: 'check', checkId: 1, interval: 60, delay: 0, status: 'online' }),
      result('w1', 'offline', at(3 * 3_600_000)),
      result('w2', 'offline', at(3 * 3_600_000 - 1000)),
      result('w1', 'online', at(3_600_000)),
      result('w2', 'online', at(3_600_000 - 1000)),
    ];
    const file = await tempFile('recent.ndjson', `${lines.join('\n')}\n`);
    const { code, stdout } = await bearmon(['replay', file, '--confirmations', '2', '--since', '-2h']);
    expect(code).toBe(0);
    expect(transitions(stdout)).toEqual([['online', new Date(now - 3_600_000 + 1000).toISOString()]]);
  });

  it('a bad line is reported with its line number and skipped, the rest is replayed, and the exit code is 1 (file and stdin)', async () => {
    const lines = [...OUTAGE.slice(0, 2), '{"type":"result",', ...OUTAGE.slice(2)];
    const file = await tempFile('bad.ndjson', `${lines.join('\n')}\n`);
    const runs: [string, () => ReturnType<typeof bearmon>][] = [
      [file, () => bearmon(['replay', file, '--confirmations', '2'])],
      ['stdin', () => bearmon(['replay', '-', '--confirmations', '2'], {}, `${lines.join('\n')}\n`)],
    ];
    for (const [where, run] of runs) {
      const { code, stdout, stderr } = await run();
      expect(code).toBe(1);
      const [first, ...rest] = stderr.split('\n');
      expect(first!.startsWith(`${where}:3: skipped: invalid JSON (`)).toBe(true);
      expect(rest).toEqual(['1 record(s) skipped', '']);
      expect(transitions(stdout)).toEqual([
        ['offline', '2026-01-01T00:01:01.000Z'],
        ['online', '2026-01-01T00:06:01.000Z'],
      ]);
    }
  });

  it('a time it cannot read is a usage error: exit 2 before anything is read, naming the option and the value', async () => {
    const file = await tempFile('outage.ndjson', `${OUTAGE.join('\n')}\n`);
    const { code, stdout, stderr } = await bearmon(['replay', file, '--since', 'yesterday']);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr.split('\n')[0]).toBe("error: option '--since <time>' argument 'yesterday' is invalid. expected an RFC 3339 time or a relative time such as -7d");
    const count = await bearmon(['replay', file, '--confirmations', '0']);
    expect({ code: count.code, stdout: count.stdout, first: count.stderr.split('\n')[0] }).toEqual({
      code: 2,
      stdout: '',
      first: "error: option '--confirmations <n>' argument '0' is invalid. expected an integer >= 1",
    });
  });
});

describe('bearmon replay FILE --regions / --quarantine', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 3, 14, s)).toISOString();
  const said = (checkId: number, worker: string, region: string, status: string, s: number) =>
    line({ type: 'result', checkId, worker, region, status, at: at(s), message: status === 'online' ? 'HTTP 200' : 'ECONNREFUSED' });

  it('the same log: a transition as logged, none with --regions 2 (a partial outage instead)', async () => {
    // eu's two workers see the target down, us sees it up.
    const lines = [line({ type: 'check', checkId: 7, interval: 10, delay: 0, status: 'online' })];
    for (let round = 0; round < 6; round++) lines.push(said(7, 'a1', 'eu', 'offline', round * 10 + 1), said(7, 'a2', 'eu', 'offline', round * 10 + 2), said(7, 'b1', 'us', 'online', round * 10 + 3));
    const file = await tempFile('regional.ndjson', `${lines.join('\n')}\n`);
    const asLogged = await bearmon(['replay', file, '--confirmations', '2']);
    expect({ code: asLogged.code, transitions: transitions(asLogged.stdout).map(([to]) => to) }).toEqual({ code: 0, transitions: ['offline'] });
    const two = await bearmon(['replay', file, '--confirmations', '2', '--regions', '2']);
    expect({ code: two.code, transitions: transitions(two.stdout) }).toEqual({ code: 0, transitions: [] });
    expect(parse(two.stdout).filter((l) => l.type === 'partial').map((l) => [l.phase, l.down, l.up])).toEqual([['began', ['eu'], ['us']]]);
  });

  it('--quarantine exclude (probe settings from the config): the broken probe is flagged and its votes rejected; off: neither', async () => {
    const lines = [1, 2, 3].map((id) => line({ type: 'check', checkId: id, interval: 10, delay: 0, status: 'online' }));
    for (let round = 0; round < 3; round++)
      for (const id of [1, 2, 3]) lines.push(said(id, 'w3', 'eu', 'offline', round * 10 + id), said(id, 'w1', 'eu', 'online', round * 10 + id), said(id, 'w2', 'us', 'online', round * 10 + id));
    const file = await tempFile('probe.ndjson', `${lines.join('\n')}\n`);
    const env = { BEARMON_CONTROLLER_PROBEMINSAMPLES: '4' };
    const excluded = await bearmon(['replay', file, '--confirmations', '2', '--quarantine', 'exclude'], env);
    expect(excluded.code).toBe(0);
    const derived = parse(excluded.stdout);
    expect(derived.filter((l) => l.type === 'probe').map((l) => [l.worker, l.verdict, l.excluded])).toEqual([['w3', 'flagged', true]]);
    expect(derived.filter((l) => l.type === 'rejected').map((l) => l.reason)).toContain('worker is quarantined: its votes do not count');
    const explained = await bearmon(['replay', file, '--confirmations', '2', '--quarantine', 'exclude', '--explain'], env);
    expect(explained.stdout).toMatch(/^worker w3 flagged as a faulty probe at .*: 100 % of its last 4 verdicts overruled; its votes no longer count/m);
    const off = await bearmon(['replay', file, '--confirmations', '2', '--quarantine', 'off'], env);
    expect(parse(off.stdout).some((l) => l.type === 'probe' || l.type === 'rejected')).toBe(false);
  });

  it.each([
    ['--regions', '0', "error: option '--regions <k>' argument '0' is invalid. expected an integer from 1 to 16"],
    ['--regions', '17', "error: option '--regions <k>' argument '17' is invalid. expected an integer from 1 to 16"],
    ['--regions', 'two', "error: option '--regions <k>' argument 'two' is invalid. expected an integer from 1 to 16"],
    ['--quarantine', 'maybe', "error: option '--quarantine <mode>' argument 'maybe' is invalid. expected off, flag or exclude"],
  ])('%s %s is a usage error: exit 2, naming the option and the value', async (option, value, message) => {
    const file = await tempFile('outage.ndjson', `${OUTAGE.join('\n')}\n`);
    const { code, stdout, stderr } = await bearmon(['replay', file, option, value]);
    expect({ code, stdout, first: stderr.split('\n')[0] }).toEqual({ code: 2, stdout: '', first: message });
  });
});

describe('bearmon config check', () => {
  it('prints the effective values: the file, environment variables over it, and the defaults of the rest', async () => {
    const file = await tempFile('bearmon.cfg', ['[controller]', 'confirmations = 3', '[worker]', 'id = probe-1', 'numThreads = 4', '[nats]', 'retention = 12h'].join('\n'));
    const { code, stdout, stderr } = await bearmon(['--config', file, 'config', 'check'], { BEARMON_WORKER_NUMTHREADS: '7', BEARMON_CONTROLLER_SNAPSHOTINTERVAL: '0s' });
    // stderr names what was read: the file, then the variables over it.
    expect({ code, stderr }).toEqual({ code: 0, stderr: `read ${file}\nenvironment: BEARMON_CONTROLLER_SNAPSHOTINTERVAL, BEARMON_WORKER_NUMTHREADS\n` });
    const shown = JSON.parse(stdout);
    expect(shown).toMatchObject({ source: file, environment: ['BEARMON_CONTROLLER_SNAPSHOTINTERVAL', 'BEARMON_WORKER_NUMTHREADS'] });
    // Every duration as written, whatever unit the key keeps it in.
    expect(shown.controller).toMatchObject({ confirmations: 3, reloadInterval: '1m', snapshotInterval: '0s', notifyTimeout: '1m' });
    expect(shown.worker).toMatchObject({ id: 'probe-1', numThreads: 7 });
    expect(shown.nats).toMatchObject({ retention: '12h', maxBytes: '1GB', stream: 'BEARMON' });
    expect(shown.viewserver).toMatchObject({ misses: 3, heartbeatPeriod: '1s', heartbeatTimeout: '500ms' });
  });

  it('an invalid value stops it with exit 78, naming file, line, section, key and value, and prints nothing on stdout', async () => {
    const file = await tempFile('bearmon.cfg', ['[controller]', 'confirmations = 3', 'snapshotInterval = soon'].join('\n'));
    const { code, stdout, stderr } = await bearmon(['--config', file, 'config', 'check']);
    expect({ code, stdout }).toEqual({ code: 78, stdout: '' });
    expect(stderr).toContain(`${file}:3: [controller] snapshotInterval = "soon": expected a duration such as 30s, 15m, 12h or 7d`);
  });
});

describe('bearmon --version', () => {
  it("prints package.json's version and exits 0", async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await bearmon(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
  });
});

describe('bearmon config keys', () => {
  it('lists every key with its default, unit, environment variable and meaning, exactly as the key table of docs/OPERATIONS.md documents them', async () => {
    const { code, stdout } = await bearmon(['config', 'keys', '--json']);
    expect(code).toBe(0);
    const printed = stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as ReturnType<typeof describeKeys>[number]);
    const asRow = (k: (typeof printed)[number]) => [`[${k.section}] ${k.key}${k.list ? ' (repeatable)' : ''}`, k.default, k.unit ?? '', k.env, k.doc];
    // The key table's rows (section, key, default, unit, environment, meaning), in the same order, say the same.
    const operations = await readFile(new URL('../../docs/OPERATIONS.md', import.meta.url), 'utf8');
    const rows = [...operations.matchAll(/^\| `\[(\w+)\]` \| `(\w+)`( \(repeatable\))? \| ([^|]*) \| ([^|]*) \| `(BEARMON_\w+)` \| (.*) \|$/gm)].map(
      ([, section, key, repeatable, def, unit, env, doc]) => [`[${section}] ${key}${repeatable ?? ''}`, def === '' ? null : def!.replace(/^`(.*)`$/, '$1'), unit, env, doc],
    );
    expect(rows).toEqual(printed.map(asRow));
    expect(printed.length).toBeGreaterThanOrEqual(35);
  });
});

describe('bearmon db migrate [--no-create]', () => {
  const server = testServerOptions();
  const dsn = (database: string) => `${server.user}:${server.password}@tcp(${server.host}:${server.port})/${database}`;
  const exists = async (database: string) => {
    const conn = await mysql.createConnection({ ...server, database: undefined });
    try {
      const [rows] = await conn.query<RowDataPacket[]>('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [database]);
      return rows.length === 1;
    } finally {
      await conn.end();
    }
  };
  const unusedName = () => {
    const database = `bearmon_test_nc_${randomBytes(4).toString('hex')}`;
    onTestFinished(async () => {
      const conn = await mysql.createConnection({ ...server, database: undefined });
      await conn.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(database)}`);
      await conn.end();
    });
    return database;
  };

  it('--no-create fails on a database that does not exist and leaves it absent; without it the database is created', async () => {
    const database = unusedName();
    const refused = await bearmon(['db', 'migrate', '--no-create'], { BEARMON_CONTROLLER_DATABASE: dsn(database) });
    expect(refused.code).toBe(1);
    // (The name shows with "bearmon" masked: the development password is "bearmon", and every occurrence of a secret is.)
    expect(refused.stderr).toMatch(new RegExp(`^bearmon: Unknown database '.*${database.slice('bearmon'.length)}'\\n$`));
    expect(await exists(database)).toBe(false);

    const created = await bearmon(['db', 'migrate'], { BEARMON_CONTROLLER_DATABASE: dsn(database) });
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stderr.trim().split('\n').at(-1)!)).toMatchObject({ msg: 'database schema is up to date', createdDatabase: true });
    expect(await exists(database)).toBe(true);
  });

  it('--no-create on an existing empty database creates every table; a second run changes nothing', async () => {
    const db = await freshDatabase();
    const first = await bearmon(['db', 'migrate', '--no-create'], { BEARMON_CONTROLLER_DATABASE: dsn(db.database) });
    expect(first.code).toBe(0);
    // The report is a log line: on stderr.
    const report = JSON.parse(first.stderr.trim().split('\n').at(-1)!);
    expect(report).toMatchObject({ msg: 'database schema is up to date', createdDatabase: false });
    const conn = await mysql.createConnection(db);
    onTestFinished(() => conn.end());
    const [tables] = await conn.query<RowDataPacket[]>('SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME', [db.database]);
    expect(tables.map((r) => r.t)).toEqual(
      expect.arrayContaining(['alerts', 'bearmon_fence', 'bearmon_notification_attempts', 'bearmon_notifications', 'bearmon_schema', 'bearmon_transitions', 'charges', 'check_events', 'checks', 'contacts']),
    );
    const second = await bearmon(['db', 'migrate', '--no-create'], { BEARMON_CONTROLLER_DATABASE: dsn(db.database) });
    expect(second.code).toBe(0);
    const again = JSON.parse(second.stderr.trim().split('\n').at(-1)!);
    expect(again).toMatchObject({ createdDatabase: false });
    for (const [field, value] of Object.entries(again)) if (Array.isArray(value)) expect({ field, value }).toEqual({ field, value: [] });
  });
});

describe('bearmon trace [SUBJECT] [--json]', () => {
  /** Publishes `probe` until the trace prints it (`seen`): then its subscription is in place. */
  async function ready(lines: string[], probeSubject: string, probe: string, seen: (line: string) => boolean) {
    await expect
      .poll(
        () => {
          admin.publish(probeSubject, probe);
          return lines.some(seen);
        },
        { timeout: 20_000, interval: 200 },
      )
      .toBe(true);
  }

  it('--json prints each event as its raw subject and payload, one per line, as the read-only operator; Ctrl-C ends it with exit 0', async () => {
    // --heartbeats: the probe below is a heartbeat, which a trace prints only when asked.
    const trace = spawnBearmon(['trace', '--json', '--heartbeats'], { BEARMON_NATS_URL: nats.urlFor('operator') });
    const probe = JSON.stringify({ type: 'heartbeat', worker: 'probe', capacity: 1, running: 0, startedAt: '2026-01-01T00:00:00.000Z', at: '2026-01-01T00:00:00.000Z' });
    await ready(trace.lines, subject.worker('probe'), probe, (l) => l.includes(probe));
    const from = trace.lines.length;
    const events: [string, string][] = [
      [subject.result('w1', 12), JSON.stringify({ type: 'result', checkId: 12, worker: 'w1', status: 'offline', message: 'ECONNREFUSED', at: '2026-01-01T00:00:00.000Z' })],
      [subject.transition('ctl', 12), JSON.stringify({ type: 'transition', checkId: 12, from: 'online', to: 'offline', rounds: 2, at: '2026-01-01T00:00:01.000Z' })],
      ['bearmon.foreign.thing', 'not json at all'],
    ];
    for (const [name, payload] of events) admin.publish(name, payload);
    await expect.poll(() => trace.lines.slice(from).filter((l) => !l.includes('"worker":"probe"')), { timeout: 20_000 }).toEqual(events.map(([name, payload]) => `${name} ${payload}`));
    expect(await trace.stop('SIGINT')).toEqual({ code: 0, signal: null });
  });

  it('SUBJECT limits it to that subject; without --json each event is one readable line', async () => {
    const trace = spawnBearmon(['trace', 'bearmon.transition.>'], { BEARMON_NATS_URL: nats.urlFor('operator') });
    const probe = JSON.stringify({ type: 'transition', checkId: 999, from: 'online', to: 'offline', rounds: 1, at: '2026-01-01T00:00:00.000Z' });
    await ready(trace.lines, subject.transition('ctl', 999), probe, (l) => l.includes('check 999'));
    const from = trace.lines.length;
    admin.publish(subject.result('w1', 5), JSON.stringify({ type: 'result', checkId: 5, worker: 'w1', status: 'offline', at: '2026-01-01T00:00:00.000Z' }));
    admin.publish(subject.transition('ctl', 5), JSON.stringify({ type: 'transition', checkId: 5, from: 'online', to: 'offline', rounds: 3, at: '2026-01-01T09:15:47.836Z' }));
    await expect.poll(() => trace.lines.slice(from).filter((l) => !l.includes('check 999')), { timeout: 20_000 }).toEqual([
      '09:15:47.836  TRANSITION  check 5       -              online->offline after 3 round(s)',
    ]);
    expect(await trace.stop('SIGINT')).toEqual({ code: 0, signal: null });
  });
});

describe('bearmon check run --source-address / --dns-server', () => {
  it('--source-address binds the check to that address, over [worker] sourceAddress', async () => {
    const remotes: string[] = [];
    const { address } = await tcpServer((socket) => remotes.push(socket.remoteAddress!));
    const data = JSON.stringify({ address });
    const configured = await bearmon(['check', 'run', '-t', 'tcp', '-d', data], { BEARMON_WORKER_SOURCEADDRESS: '127.0.0.2' });
    expect(configured.code).toBe(0);
    const given = await bearmon(['check', 'run', '-t', 'tcp', '-d', data, '--source-address', '127.0.0.3'], { BEARMON_WORKER_SOURCEADDRESS: '127.0.0.2' });
    expect(given.code).toBe(0);
    expect(remotes).toEqual(['127.0.0.2', '127.0.0.3']);
  });

  it('--dns-server is the resolver of a dns check that names no server, over [dns] server', async () => {
    const zone = { 'www.example.test': [{ type: 'A' as const, ttl: 60, data: '127.0.0.9' }] };
    const given = await dnsServer(zone);
    const configured = await dnsServer(zone);
    const data = JSON.stringify({ name: 'www.example.test', type: 'a', expect: '127.0.0.9' });
    const viaOption = await bearmon(['check', 'run', '-t', 'dns', '-d', data, '--dns-server', given.address], { BEARMON_DNS_SERVER: configured.address });
    expect(viaOption.code).toBe(0);
    expect(viaOption.stdout).toMatch(/^online: answer contains expected string \(www\.example\.test\.\t60\tIN\tA\t127\.0\.0\.9\) \(\d+ ms\)\n$/);
    expect([given.queries.udp, configured.queries.udp]).toEqual([1, 0]);
    const viaConfig = await bearmon(['check', 'run', '-t', 'dns', '-d', data], { BEARMON_DNS_SERVER: configured.address });
    expect(viaConfig.code).toBe(0);
    expect([given.queries.udp, configured.queries.udp]).toEqual([1, 1]);
    // A server named in the check wins over both.
    const port = await refusedPort();
    const named = await bearmon(['check', 'run', '-t', 'dns', '-d', JSON.stringify({ server: given.address, name: 'www.example.test', type: 'a' }), '--dns-server', `127.0.0.1:${port}`]);
    expect(named.code).toBe(0);
    expect(given.queries.udp).toBe(2);
  });
});
