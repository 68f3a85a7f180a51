import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { natsOptions } from '../../src/bus/connect.ts';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ensureResultLog, publishLogged, readLog } from '../../src/bus/result-log.ts';
import { subject } from '../../src/bus/subjects.ts';
import { asRecords } from '../helpers/log-records.ts';
import { replay } from '../../src/replay/run.ts';
import { fileRecordBatches } from '../../src/replay/sources.ts';
import { BIN, runBearmon } from '../helpers/bearmon.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';

let server: NatsServerHandle;
let nc: NatsConnection;
const natsUrl = () => server.url;

// A server of its own: streams may not overlap subjects, and other files use bearmon.> too.
beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect(natsOptions([server.url]));
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/** A fresh stream name; the stream is deleted when the test finishes. */
function uniqueStream(): string {
  const name = `TEST_${randomBytes(4).toString('hex').toUpperCase()}`;
  onTestFinished(async () => {
    await (await jetstreamManager(nc)).streams.delete(name).catch(() => {});
  });
  return name;
}

/** Writes the outage timeline of the replay tests into a fresh stream, each line under its publisher's subject; returns the lines as written. */
async function writeOutage(stream: string): Promise<string[]> {
  await ensureResultLog(nc, { stream, retentionMs: 3_600_000 });
  const js = jetstream(nc);
  const run = (n: number, worker: string, at: string) => [
    { type: 'assign', checkId: 1, worker, assignment: `a${n}`, at },
    { type: 'result', checkId: 1, worker, status: 'offline', at, message: 'ECONNREFUSED', assignment: `a${n}` },
  ];
  const lines = [
    { type: 'check', checkId: 1, interval: 60, delay: 1, status: 'online' },
    ...run(1, 'w1', '2026-01-01T00:00:00Z'),
    ...run(2, 'w2', '2026-01-01T00:00:01Z'),
    ...run(3, 'w3', '2026-01-01T00:01:00Z'),
    ...run(4, 'w1', '2026-01-01T00:01:01Z'),
  ];
  let n = 0;
  // A single controller without a viewserver (view 0): replay of the stream trusts it.
  const records = asRecords(lines);
  for (const record of records) await publishLogged(js, record.subject, JSON.parse(record.text), `outage-${n++}`);
  return records.map((r) => r.text);
}

const bearmon = (args: string[], input?: string) => runBearmon(args, { BEARMON_NATS_URL: natsUrl() }, input);

describe('a second log on one server', () => {
  it('is refused with a message naming the stream, the subjects taken and what to do', async () => {
    const first = uniqueStream();
    const second = uniqueStream();
    await ensureResultLog(nc, { stream: first, retentionMs: 3_600_000 });
    await expect(ensureResultLog(nc, { stream: second, retentionMs: 3_600_000 })).rejects.toThrow(
      new RegExp(`^stream ${second} does not exist and cannot be made: another stream on this server already keeps bearmon's subjects \\(bearmon\\.result\\.>, .*\\); use that stream's name in \\[nats\\] stream, or delete it`),
    );
  });
});

describe('the result log (JetStream)', () => {
  it('creates the stream with every logged family, retention and a duplicate window', async () => {
    const stream = uniqueStream();
    await ensureResultLog(nc, { stream, retentionMs: 7 * 86_400_000 });
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.config.subjects.sort()).toEqual(['bearmon.assign.>', 'bearmon.check.>', 'bearmon.decision.>', 'bearmon.notify.>', 'bearmon.result.>', 'bearmon.transition.>', 'bearmon.view.current']);
    expect(info.config.max_msg_size).toBe(64 * 1024);
    expect(info.config.max_age).toBe(7 * 86_400 * 1e9);
    expect(info.config.duplicate_window).toBe(120 * 1e9);
    // Idempotent, and a retention change is applied to the existing stream.
    await ensureResultLog(nc, { stream, retentionMs: 86_400_000 });
    expect((await (await jetstreamManager(nc)).streams.info(stream)).config.max_age).toBe(86_400 * 1e9);
  });

  it('a role without admin rights: a missing stream is an error naming `bearmon setup`; other settings are reported, not fatal', async () => {
    const { connect: connectNats } = await import('@nats-io/transport-node');
    const w1 = await connectNats({ ...natsOptions([server.urlFor('w1')]), inboxPrefix: '_INBOX_w1' });
    onTestFinished(() => w1.close());
    const stream = uniqueStream();
    await expect(ensureResultLog(w1, { stream, retentionMs: 7 * 86_400_000 })).rejects.toThrow(/does not exist, and this credential may not change streams: run `bearmon setup`/);
    await ensureResultLog(nc, { stream, retentionMs: 86_400_000 });
    expect(await ensureResultLog(w1, { stream, retentionMs: 7 * 86_400_000 })).toEqual({
      differences: ['max_age 86400s, not 604800s', expect.stringMatching(/^not updated: Permissions Violation/)],
    });
    expect(await ensureResultLog(w1, { stream, retentionMs: 86_400_000 })).toEqual({ differences: [] });
  });

  it('brings a stream made before (other subjects, no max_consumers) up to date without failing', async () => {
    const stream = uniqueStream();
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: ['bearmon.result.>', 'bearmon.assign.>', 'bearmon.check.>', 'bearmon.decision.>', 'bearmon.transition.>', 'bearmon.notify.>'] });
    expect(await ensureResultLog(nc, { stream, retentionMs: 86_400_000 })).toEqual({ differences: [] });
    const info = await jsm.streams.info(stream);
    expect(info.config.subjects).toContain('bearmon.view.current');
    expect(info.config.max_msg_size).toBe(64 * 1024);
  });

  it('drops a re-published event with the same message id', async () => {
    const stream = uniqueStream();
    await writeOutage(stream);
    await writeOutage(stream); // every event again, same ids
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.state.messages).toBe(9);
  });

  it('replays from the stream exactly as from the same lines in a file', async () => {
    const stream = uniqueStream();
    const lines = await writeOutage(stream);
    const dir = await mkdtemp(join(tmpdir(), 'bearmon-replay-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'outage.log');
    await writeFile(file, lines.map((l) => `${l}\n`).join(''));

    const replayOf = async (records: Parameters<typeof replay>[0]) => {
      const out: string[] = [];
      const err: string[] = [];
      const skipped = await replay(records, { mode: 'ndjson', confirmations: 2 }, { out: (l) => out.push(l), err: (l) => err.push(l) });
      return { skipped, out, err };
    };
    const fromStream = await replayOf(readLog(nc, { stream }));
    const fromFile = await replayOf(fileRecordBatches(file)); // as `bearmon replay FILE` reads it
    // Every derived line and the summary, in order, and no complaint from either.
    expect(fromStream).toEqual(fromFile);
    expect(fromFile.skipped).toBe(0);
    expect(fromFile.err).toEqual([]);
    // Not equal by both being empty: the outage went offline once, after the second round (delay 1).
    const derived = fromFile.out.map((l) => JSON.parse(l));
    expect(derived.filter((l) => l.type === 'transition').map((t) => [t.from, t.to, t.at])).toEqual([['online', 'offline', '2026-01-01T00:01:01.000Z']]);
    expect(derived.filter((l) => l.type === 'round').map((r) => r.workers)).toEqual([
      ['w1', 'w2'],
      ['w3', 'w1'],
    ]);
    expect(derived.at(-1)).toMatchObject({ type: 'summary', checkId: 1, status: 'offline', transitions: 1, results: 4 });
  });

  it('reading an empty stream ends at once', async () => {
    const stream = uniqueStream();
    await ensureResultLog(nc, { stream, retentionMs: 3_600_000 });
    const records = [];
    for await (const r of readLog(nc, { stream })) records.push(r);
    expect(records).toEqual([]);
  });

  it('bearmon log export | bearmon replay - round-trips through the CLI', async () => {
    const stream = uniqueStream();
    await writeOutage(stream);
    const exportRun = await new Promise<{ stdout: string; code: number }>((resolve) =>
      execFile(BIN, ['log', 'export'], { env: { PATH: process.env.PATH!, BEARMON_NATS_URL: natsUrl(), BEARMON_NATS_STREAM: stream } }, (err, stdout) =>
        resolve({ stdout, code: err ? 1 : 0 }),
      ),
    );
    expect(exportRun.code).toBe(0);
    expect(exportRun.stdout.trim().split('\n')).toHaveLength(9);
    const replayed = await bearmon(['replay', '-', '--confirmations', '2', '--explain'], exportRun.stdout);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain('check 1 went offline at 2026-01-01 00:01:01Z (was online)');
  });

  it('bearmon trace prints live events readably', async () => {
    const child = spawn(BIN, ['trace'], { env: { PATH: process.env.PATH!, BEARMON_NATS_URL: natsUrl() } });
    const lines = createInterface({ input: child.stdout });
    const seen: string[] = [];
    const got = new Promise<void>((resolve) =>
      lines.on('line', (line) => {
        seen.push(line);
        if (line.includes('TRANSITION')) resolve();
      }),
    );
    // Publish until the subscriber is up (it prints nothing before its first event).
    const timer = setInterval(() => {
      nc.publish(subject.result('w7', 42), JSON.stringify({ type: 'result', checkId: 42, worker: 'w7', status: 'offline', at: '2026-01-01T03:14:00.000Z', message: 'timed out after 10s' }));
      nc.publish(subject.transition('ctl', 42), JSON.stringify({ type: 'transition', checkId: 42, from: 'online', to: 'offline', at: '2026-01-01T03:14:05.000Z', rounds: 2 }));
    }, 100);
    await got;
    clearInterval(timer);
    child.kill();
    expect(seen).toContain('03:14:00.000  result      check 42      w7             offline       timed out after 10s');
    expect(seen).toContain('03:14:05.000  TRANSITION  check 42      -              online->offline after 2 round(s)');
  });
});

describe('bearmon replay against a missing stream', () => {
  it('says which stream is missing where, in one line, and exits 1', async () => {
    const run = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(BIN, ['replay'], { env: { PATH: process.env.PATH!, BEARMON_NATS_URL: natsUrl(), BEARMON_NATS_STREAM: 'NOPE' } }, (err, _out, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code) : 0, stderr }),
      ),
    );
    expect(run.code).toBe(1);
    // The URL's password is masked: errors never print secrets.
    expect(run.stderr).toBe(`bearmon: the result log stream NOPE does not exist on ${natsUrl().replace(/:bearmon-dev-admin@/, ':***@')} (no controller has run there yet?)\n`);
  });
});
