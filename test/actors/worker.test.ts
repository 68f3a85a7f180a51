import type net from 'node:net';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { natsOptions } from '../../src/bus/connect.ts';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { runWorkerProcess, startWorker, type WorkerDeps, type WorkerHandle } from '../../src/actors/worker.ts';
import { decode, heartbeat, resultMessage, type Heartbeat, type ResultMessage } from '../../src/bus/messages.ts';
import { ensureResultLog } from '../../src/bus/result-log.ts';
import { subject } from '../../src/bus/subjects.ts';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { refusedPort, tcpServer } from '../helpers/servers.ts';

const STREAM = 'BEARMON';
/** A frozen clock: every time field and duration the worker writes is then exact. */
const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const NOW_ISO = '2026-03-01T12:00:00.000Z';

let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect(natsOptions([server.url]));
  await ensureResultLog(nc, { stream: STREAM, retentionMs: 3_600_000 });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

type LogLine = Record<string, unknown> & { level: string; msg: string };

/** A real pino logger whose lines land in an array. */
function capturedLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
  return { log, lines };
}

const uniqueWorker = () => `w-${randomBytes(4).toString('hex')}`;

/*
 * Waits: a run request, a loopback check and its result involve no timer of the worker
 * (timeoutFor()); heartbeats and publish retries are bounded by their own periods.
 */

/** Starts a worker on `conn` (default: the shared connection), stopped when the test ends. */
function worker(overrides: Partial<WorkerDeps> & { id: string; log: Logger }, conn = nc): WorkerHandle {
  const handle = startWorker({ nc: conn, numThreads: 4, dnsServer: '127.0.0.1:53', now: () => NOW, heartbeatMs: 60_000, viewZeroController: 'ctl', ...overrides });
  onTestFinished(() => handle.stop());
  return handle;
}

/** Every result published by one worker, decoded (the subscription is ordered before any request). */
function results(workerId: string, conn = nc): ResultMessage[] {
  const seen: ResultMessage[] = [];
  const sub = conn.subscribe(`bearmon.result.${workerId}.>`, {
    callback: (_err, msg) => {
      const decoded = decode(resultMessage, msg.data);
      if (!decoded.ok) throw new Error(`worker published an invalid result: ${decoded.error}`);
      seen.push(decoded.value);
    },
  });
  onTestFinished(() => sub.unsubscribe());
  return seen;
}

/** Every heartbeat of one worker, decoded (subscribed before the worker starts). */
function heartbeats(workerId: string): Heartbeat[] {
  const beats: Heartbeat[] = [];
  const sub = nc.subscribe(subject.worker(workerId), {
    callback: (_err, msg) => {
      const decoded = decode(heartbeat, msg.data);
      if (decoded.ok) beats.push(decoded.value);
    },
  });
  onTestFinished(() => sub.unsubscribe());
  return beats;
}

let assignments = 0;
function runRequest(checkId: number, checkType: string, data: unknown, extra: Record<string, unknown> = {}) {
  return {
    type: 'run',
    assignment: `a-${++assignments}`,
    checkId,
    checkType,
    data: typeof data === 'string' ? data : JSON.stringify(data),
    view: 0,
    at: NOW_ISO,
    ...extra,
  };
}

function sendRun(workerId: string, request: object, conn = nc): void {
  conn.publish(subject.run(workerId, 'ctl'), JSON.stringify(request));
}

/** A loopback server that accepts connections but answers none until released. */
async function holdingServer(answer = 'GO\n') {
  const held: net.Socket[] = [];
  const payloads: string[] = [];
  let released = false;
  let maxHeld = 0;
  let closed = 0;
  const target = await tcpServer((socket) => {
    socket.once('data', (data) => payloads.push(data.toString().trim()));
    socket.once('close', () => closed++);
    if (released) return void socket.write(answer);
    held.push(socket);
    maxHeld = Math.max(maxHeld, held.length);
  });
  return {
    address: target.address,
    held: () => held.length,
    maxHeld: () => maxHeld,
    closed: () => closed,
    payloads,
    release() {
      released = true;
      for (const socket of held.splice(0)) socket.write(answer);
    },
  };
}

describe('worker actor', () => {
  it('runs a request sent again (a controller taking over re-sends the runs still out) once', async () => {
    const id = uniqueWorker();
    const { log } = capturedLog();
    const seen = results(id);
    const target = await holdingServer();
    const handle = worker({ id, log });
    const request = runRequest(70, 'tcp', { address: target.address, expect: 'GO' });
    sendRun(id, request);
    await expect.poll(() => target.held(), { timeout: timeoutFor() }).toBe(1);
    sendRun(id, request); // while the first is running
    await expect.poll(() => handle.stats().dropped, { timeout: timeoutFor() }).toBe(1);
    target.release();
    await expect.poll(() => seen.map((r) => r.assignment), { timeout: timeoutFor() }).toEqual([request.assignment]);
    // Done, the same assignment again is a new run (the control: only queued or running ones are ignored).
    sendRun(id, request);
    await expect.poll(() => seen.length, { timeout: timeoutFor() }).toBe(2);
    expect(target.maxHeld()).toBe(1);
  });

  it('under a viewserver, obeys no run request before the first view names a controller', async () => {
    const id = uniqueWorker();
    const { log, lines } = capturedLog();
    const seen = results(id);
    const target = await tcpServer(() => {});
    const handle = worker({ id, log, viewZeroController: undefined });
    nc.publish(subject.run(id, 'w1'), JSON.stringify(runRequest(60, 'tcp', { address: target.address })));
    nc.publish(subject.run(id, 'ctl'), JSON.stringify(runRequest(61, 'tcp', { address: target.address })));
    await expect.poll(() => handle.stats().dropped, { timeout: timeoutFor() }).toBe(2);
    expect(lines.filter((l) => l.level === 'warn').map((l) => [l.reason, l.sender])).toEqual([
      ['not-from-controller', 'w1'],
      ['not-from-controller', 'ctl'],
    ]);
    // Once a view names ctl, its requests of that view run (the control).
    handle.observeView({ view: 1, controller: 'ctl' });
    nc.publish(subject.run(id, 'ctl'), JSON.stringify(runRequest(62, 'tcp', { address: target.address }, { view: 1 })));
    await expect.poll(() => seen.map((r) => r.checkId), { timeout: timeoutFor() }).toEqual([62]);
  });

  it('obeys only the controller the view names, at that view; a forged request cannot raise its fence (attack 3)', async () => {
    const id = uniqueWorker();
    const { log, lines } = capturedLog();
    const seen = results(id);
    const target = await tcpServer(() => {});
    const handle = worker({ id, log });
    handle.observeView({ view: 2, controller: 'ctl' });
    const huge = Number.MAX_SAFE_INTEGER;
    // Another worker (not the controller) with the highest view there is, and the controller with a view not in force.
    nc.publish(subject.run(id, 'w1'), JSON.stringify(runRequest(40, 'tcp', { address: target.address }, { view: huge })));
    nc.publish(subject.run(id, 'ctl'), JSON.stringify(runRequest(41, 'tcp', { address: target.address }, { view: huge })));
    nc.publish(subject.run(id, 'ctl'), JSON.stringify(runRequest(42, 'tcp', { address: target.address }, { view: 1 })));
    // The real request of the view in force still runs: the fence did not move.
    const real = runRequest(43, 'tcp', { address: target.address }, { view: 2 });
    sendRun(id, real);
    await expect.poll(() => seen.map((r) => r.checkId), { timeout: timeoutFor() }).toEqual([43]);
    expect(handle.stats()).toMatchObject({ completed: 1, dropped: 3 });
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.reason)).toEqual(['not-from-controller', 'old-view', 'old-view']);
    // Only a newer view from the viewserver moves it.
    handle.observeView({ view: 3, controller: 'w1' });
    nc.publish(subject.run(id, 'w1'), JSON.stringify(runRequest(44, 'tcp', { address: target.address }, { view: 3 })));
    await expect.poll(() => seen.map((r) => r.checkId), { timeout: timeoutFor() }).toEqual([43, 44]);
    // A stale view (delayed message) does not move it back.
    handle.observeView({ view: 2, controller: 'ctl' });
    sendRun(id, runRequest(45, 'tcp', { address: target.address }, { view: 2 }));
    nc.publish(subject.run(id, 'w1'), JSON.stringify(runRequest(46, 'tcp', { address: target.address }, { view: 3 })));
    await expect.poll(() => seen.map((r) => r.checkId), { timeout: timeoutFor() }).toEqual([43, 44, 46]);
    // Requests are handled in order: 46 ran, so 45 was judged before it — and dropped, not queued.
    expect(handle.stats()).toMatchObject({ completed: 3, dropped: 4 });
  });

  it('runs a tcp check and publishes an online result into the result log, all fields set', async () => {
    const id = uniqueWorker();
    const { log, lines } = capturedLog();
    const seen = results(id);
    const target = await tcpServer(() => {});
    const handle = worker({ id, log });
    handle.observeView({ view: 3, controller: 'ctl' });
    const request = runRequest(12, 'tcp', { address: target.address }, { view: 3 });
    sendRun(id, request);

    const expected: ResultMessage = {
      type: 'result',
      checkId: 12,
      worker: id,
      assignment: request.assignment,
      status: 'online',
      message: `connected to ${target.address}`,
      durationMs: 0,
      view: 3,
      // No region configured: the default one, named all the same.
      region: 'default',
      at: NOW_ISO,
    };
    await expect.poll(() => seen, { timeout: timeoutFor() }).toEqual([expected]);

    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage(STREAM, { last_by_subj: subject.result(id, 12) });
    expect(stored!.json()).toEqual(expected);
    // Readable, and with a part nobody can guess (no one can publish it first and have this result dropped).
    expect(stored!.header.get('Nats-Msg-Id')).toMatch(new RegExp(`^result\\.${id}\\.${request.assignment}\\.[A-Za-z0-9_-]{12}$`));

    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'debug', msg: 'run completed', checkId: 12, worker: id, assignment: request.assignment, status: 'online', durationMs: 0 }),
    );
  });

  it('publishes offline for a refused port', async () => {
    const id = uniqueWorker();
    const seen = results(id);
    const port = await refusedPort();
    worker({ id, log: capturedLog().log });
    sendRun(id, runRequest(5, 'tcp', { address: `127.0.0.1:${port}` }));
    await expect.poll(() => seen.length, { timeout: timeoutFor() }).toBe(1);
    expect(seen[0]).toMatchObject({ checkId: 5, worker: id, status: 'offline' });
    expect(seen[0]!.message).toMatch(/ECONNREFUSED/);
  });

  it('publishes misconfigured, naming the field, for definitions it cannot understand', async () => {
    const id = uniqueWorker();
    const seen = results(id);
    worker({ id, log: capturedLog().log });
    sendRun(id, runRequest(7, 'tcp', { address: '127.0.0.1:1', timeout: 'ten' }));
    sendRun(id, runRequest(8, 'tcp', { address: 'nohost' }));
    sendRun(id, runRequest(9, 'carrier-pigeon', {}));
    sendRun(id, runRequest(10, 'tcp', '{"address":'));
    await expect.poll(() => seen.length, { timeout: timeoutFor() }).toBe(4);
    const byCheck = Object.fromEntries(seen.map((r) => [r.checkId, [r.status, r.message]]));
    expect(byCheck).toEqual({
      7: ['misconfigured', 'timeout: Invalid input: expected number, received string (value "ten")'],
      8: ['misconfigured', 'address: expected host:port, missing :port (value "nohost")'],
      9: ['misconfigured', 'type: unknown check type "carrier-pigeon"'],
      10: ['misconfigured', expect.stringMatching(/^data: invalid JSON/)],
    });
  });

  it('runs at most numThreads checks at once, queues the rest in order, and finishes them all', async () => {
    const id = uniqueWorker();
    const seen = results(id);
    const target = await holdingServer();
    const handle = worker({ id, log: capturedLog().log, numThreads: 2 });
    const requests = [1, 2, 3, 4, 5].map((n) => runRequest(100 + n, 'tcp', { address: target.address, payload: `req-${n}`, expect: 'GO', timeout: 30 }));
    for (const request of requests) sendRun(id, request);

    // All five reached the worker: two run (connected, held by the server), three wait.
    await expect.poll(() => handle.stats(), { timeout: timeoutFor() }).toMatchObject({ running: 2, queued: 3, completed: 0 });
    await expect.poll(() => target.payloads.length, { timeout: timeoutFor() }).toBe(2);
    expect(target.held()).toBe(2);
    expect([...target.payloads].sort()).toEqual(['req-1', 'req-2']);

    target.release();
    await expect.poll(() => seen.length, { timeout: timeoutFor() }).toBe(5);
    expect(seen.map((r) => r.status)).toEqual(['online', 'online', 'online', 'online', 'online']);
    expect(seen.map((r) => r.assignment).sort()).toEqual(requests.map((r) => r.assignment).sort());
    expect(target.maxHeld()).toBe(2);
    expect(handle.stats()).toEqual({ running: 0, queued: 0, completed: 5, dropped: 0 });
  });

  it('drops requests beyond the bounded queue with a warning', async () => {
    const id = uniqueWorker();
    const { log, lines } = capturedLog();
    const target = await holdingServer();
    const handle = worker({ id, log, numThreads: 1, maxQueued: 2 });
    const requests = [1, 2, 3, 4].map((n) => runRequest(200 + n, 'tcp', { address: target.address, expect: 'GO', timeout: 30 }));
    for (const request of requests) sendRun(id, request);
    await expect.poll(() => handle.stats(), { timeout: timeoutFor() }).toMatchObject({ running: 1, queued: 2, dropped: 1 });
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: 'run queue full: dropped a run request', worker: id, checkId: 204, assignment: requests[3]!.assignment }),
    );
    target.release();
    await expect.poll(() => handle.stats(), { timeout: timeoutFor() }).toMatchObject({ running: 0, queued: 0, completed: 3 });
  });

  it('binds outgoing checks to sourceAddress', async () => {
    const id = uniqueWorker();
    const seen = results(id);
    const remotes: string[] = [];
    const target = await tcpServer((socket) => remotes.push(socket.remoteAddress!));
    worker({ id, log: capturedLog().log, sourceAddress: '127.0.0.2' });
    sendRun(id, runRequest(3, 'tcp', { address: target.address }));
    await expect.poll(() => seen.map((r) => r.status), { timeout: timeoutFor() }).toEqual(['online']);
    expect(remotes).toEqual(['127.0.0.2']);
  });

  it('sends a heartbeat at once and then periodically, with capacity and running count', async () => {
    const id = uniqueWorker();
    const beats = heartbeats(id);
    const target = await holdingServer();
    const HEARTBEAT_MS = 50;
    worker({ id, log: capturedLog().log, numThreads: 3, heartbeatMs: HEARTBEAT_MS });
    // The first heartbeat goes at once, not after a period.
    await expect.poll(() => beats[0], { timeout: timeoutFor() }).toEqual({ type: 'heartbeat', worker: id, capacity: 3, running: 0, startedAt: NOW_ISO, region: 'default', at: NOW_ISO });

    sendRun(id, runRequest(4, 'tcp', { address: target.address, expect: 'GO', timeout: 30 }));
    await expect.poll(() => beats.at(-1)?.running, { timeout: timeoutFor(HEARTBEAT_MS) }).toBe(1);
    expect(beats.at(-1)).toMatchObject({ capacity: 3, worker: id });
    target.release();
    await expect.poll(() => beats.at(-1)?.running, { timeout: timeoutFor(HEARTBEAT_MS) }).toBe(0);
  });

  it('names its region and site in every heartbeat and result', async () => {
    const id = uniqueWorker();
    const beats = heartbeats(id);
    const seen = results(id);
    const target = await tcpServer(() => {});
    worker({ id, log: capturedLog().log, region: 'eu-west', site: 'rack7', heartbeatMs: 50 });
    await expect.poll(() => beats.length, { timeout: timeoutFor(50) }).toBeGreaterThanOrEqual(2);
    for (const beat of beats) expect(beat).toMatchObject({ region: 'eu-west', site: 'rack7' });
    sendRun(id, runRequest(13, 'tcp', { address: target.address }));
    await expect.poll(() => seen.length, { timeout: timeoutFor() }).toBe(1);
    expect(seen[0]).toMatchObject({ checkId: 13, status: 'online', region: 'eu-west', site: 'rack7' });
    // Without a site, none is sent (the control: the region always is).
    const plain = uniqueWorker();
    const plainSeen = results(plain);
    worker({ id: plain, log: capturedLog().log, region: 'us-east' });
    sendRun(plain, runRequest(14, 'tcp', { address: target.address }));
    await expect.poll(() => plainSeen.length, { timeout: timeoutFor() }).toBe(1);
    expect(plainSeen[0]!.region).toBe('us-east');
    expect('site' in plainSeen[0]!).toBe(false);
  });

  it('drops bad run requests with a warning naming the field, and keeps working', async () => {
    const id = uniqueWorker();
    const { log, lines } = capturedLog();
    const seen = results(id);
    const target = await tcpServer(() => {});
    const handle = worker({ id, log });
    const good = runRequest(20, 'tcp', { address: target.address });
    const { assignment: _dropped, ...noAssignment } = runRequest(21, 'tcp', { address: target.address });
    nc.publish(subject.run(id, 'ctl'), 'not json');
    sendRun(id, noAssignment);
    sendRun(id, runRequest(22, 'tcp', { address: target.address }, { checkId: '7' }));
    nc.publish(subject.run(id, 'ctl'), `${JSON.stringify(runRequest(23, 'tcp', { address: target.address }))} garbage`);
    sendRun(id, good);

    await expect.poll(() => seen.length, { timeout: timeoutFor() }).toBe(1);
    // Requests on one subscription are handled in order, so the bad ones were seen first.
    expect(seen[0]).toMatchObject({ checkId: 20, assignment: good.assignment, status: 'online' });
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings.map((w) => [w.subject, w.worker, w.error])).toEqual([
      [subject.run(id, 'ctl'), id, expect.stringMatching(/^invalid JSON/)],
      [subject.run(id, 'ctl'), id, 'assignment: Invalid input: expected string, received undefined (value undefined)'],
      [subject.run(id, 'ctl'), id, 'checkId: Invalid input: expected number, received string (value "7")'],
      [subject.run(id, 'ctl'), id, expect.stringMatching(/^invalid JSON \(Unexpected non-whitespace character/)],
    ]);
    expect(handle.stats()).toMatchObject({ completed: 1, dropped: 4 });
  });

  it('stop() cancels a run in flight, publishes nothing for it, and resolves', async () => {
    const id = uniqueWorker();
    const { log, lines } = capturedLog();
    const seen = results(id);
    const target = await holdingServer();
    const handle = worker({ id, log, numThreads: 1 });
    sendRun(id, runRequest(30, 'tcp', { address: target.address, expect: 'GO', timeout: 30 }));
    sendRun(id, runRequest(31, 'tcp', { address: target.address, expect: 'GO', timeout: 30 }));
    await expect.poll(() => handle.stats(), { timeout: timeoutFor() }).toMatchObject({ running: 1, queued: 1 });
    await expect.poll(() => target.held(), { timeout: timeoutFor() }).toBe(1);

    await handle.stop();
    expect(handle.stats()).toEqual({ running: 0, queued: 0, completed: 0, dropped: 0 });
    // The cancelled check closed its connection; nothing reached the result log.
    await expect.poll(() => target.closed(), { timeout: timeoutFor() }).toBe(1);
    const jsm = await jetstreamManager(nc);
    for (const checkId of [30, 31]) {
      await expect(jsm.streams.getMessage(STREAM, { last_by_subj: subject.result(id, checkId) })).resolves.toBeNull();
    }
    expect(seen).toEqual([]);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'run cancelled by shutdown; no result published', checkId: 30, worker: id }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'worker stopping: dropped queued run requests', dropped: 1 }));
    await handle.stop(); // idempotent
  });
});

describe('worker publishing when the result log is unavailable', () => {
  let bare: NatsServerHandle;
  let bareNc: NatsConnection;
  beforeAll(async () => {
    bare = await startNatsServer();
    bareNc = await connect(natsOptions([bare.url]));
  });
  afterAll(async () => {
    await bareNc?.close();
    await bare?.stop();
  });

  it('logs an error and retries until the stream exists, then stores the result once', async () => {
    const id = uniqueWorker();
    const { log, lines } = capturedLog();
    const target = await tcpServer(() => {});
    worker({ id, log, publishRetry: { attempts: 50, baseDelayMs: 20, maxDelayMs: 100 } }, bareNc);
    const request = runRequest(40, 'tcp', { address: target.address });
    sendRun(id, request, bareNc);

    await expect.poll(() => lines.some((l) => l.msg === 'publishing the result failed; will retry'), { timeout: timeoutFor() }).toBe(true);
    expect(lines.find((l) => l.level === 'error')).toMatchObject({ worker: id, checkId: 40, assignment: request.assignment, subject: subject.result(id, 40), attempt: 1 });

    const stream = `RETRY_${id.replace(/-/g, '_').toUpperCase()}`;
    await ensureResultLog(bareNc, { stream, retentionMs: 3_600_000 });
    onTestFinished(async () => void (await (await jetstreamManager(bareNc)).streams.delete(stream)));
    const jsm = await jetstreamManager(bareNc);
    // The next try comes within maxDelayMs (100 ms).
    await expect.poll(async () => (await jsm.streams.info(stream)).state.messages, { timeout: timeoutFor(100) }).toBe(1);
    const stored = await jsm.streams.getMessage(stream, { last_by_subj: subject.result(id, 40) });
    expect(stored!.json()).toMatchObject({ checkId: 40, worker: id, assignment: request.assignment, status: 'online' });
  });

  it('gives up after the bounded attempts with an error line, and keeps running', async () => {
    const id = uniqueWorker();
    const { log, lines } = capturedLog();
    const target = await tcpServer(() => {});
    const handle = worker({ id, log, publishRetry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10 } }, bareNc);
    sendRun(id, runRequest(41, 'tcp', { address: target.address }), bareNc);
    // Two attempts, 10 ms apart.
    await expect.poll(() => lines.filter((l) => l.level === 'error').map((l) => [l.msg, l.attempt]), { timeout: timeoutFor(2 * 10) }).toEqual([
      ['publishing the result failed; will retry', 1],
      ['publishing the result failed; giving up, the result is lost', 2],
    ]);
    await expect.poll(() => handle.stats(), { timeout: timeoutFor() }).toMatchObject({ running: 0, completed: 1 });
    sendRun(id, runRequest(42, 'tcp', { address: target.address }), bareNc);
    await expect.poll(() => handle.stats().completed, { timeout: timeoutFor() }).toBe(2);
  });
});

describe('runWorkerProcess', () => {
  it('connects with the configuration, serves run requests and stops on the shutdown signal', async () => {
    const id = uniqueWorker();
    const { log, lines } = capturedLog();
    const { config } = loadConfig({ env: { BEARMON_NATS_URL: server.url, BEARMON_WORKER_ID: id, BEARMON_WORKER_NUMTHREADS: '2' } });
    const beats: Heartbeat[] = [];
    const sub = nc.subscribe(subject.worker(id), { callback: (_err, msg) => void beats.push(msg.json<Heartbeat>()) });
    onTestFinished(() => sub.unsubscribe());
    const seen = results(id);
    const target = await tcpServer(() => {});

    const shutdown = new AbortController();
    const running = runWorkerProcess(config, log, shutdown.signal, [], undefined, { viewZeroController: 'ctl' });
    onTestFinished(() => shutdown.abort());
    // Its first heartbeat follows its subscription on the same connection: it is listening.
    await expect.poll(() => beats[0], { timeout: timeoutFor() }).toMatchObject({ worker: id, capacity: 2, running: 0 });
    sendRun(id, runRequest(50, 'tcp', { address: target.address }));
    await expect.poll(() => seen.map((r) => [r.checkId, r.status]), { timeout: timeoutFor() }).toEqual([[50, 'online']]);

    shutdown.abort();
    await running;
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['worker started', 'worker shutting down', 'worker stopped']));
  });

  it('refuses to run when its NATS user may not use its worker id: a ConfigError naming both, before "worker started"', async () => {
    const { log, lines } = capturedLog();
    // nats.conf's user w2 may publish only under w2: heartbeats, results and run requests of w1 are refused.
    const { config } = loadConfig({ env: { BEARMON_NATS_URL: server.urlFor('w2'), BEARMON_WORKER_ID: 'w1' } });
    let error: unknown;
    try {
      await runWorkerProcess(config, log, new AbortController().signal, [], undefined, { viewZeroController: 'ctl' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const [problem] = (error as ConfigError).problems;
    expect(problem).toMatch(/^\[worker\] id = "w1": nats-server does not let NATS user "w2" (subscribe to "bearmon\.run\.w1\.\*"|publish to "bearmon\.worker\.w1"), /);
    expect(problem).toContain('bearmon.result.w1.*');
    expect(lines.map((l) => l.msg)).not.toContain('worker started');
    expect(lines.find((l) => l.level === 'fatal')).toMatchObject({ worker: 'w1', natsUser: 'w2', msg: problem });
  });

  it('starts as usual when its NATS user is the one made for its id', async () => {
    const { log, lines } = capturedLog();
    const { config } = loadConfig({ env: { BEARMON_NATS_URL: server.urlFor('w2'), BEARMON_WORKER_ID: 'w2' } });
    const shutdown = new AbortController();
    const running = runWorkerProcess(config, log, shutdown.signal, [], undefined, { viewZeroController: 'ctl' });
    onTestFinished(() => shutdown.abort());
    await expect.poll(() => lines.map((l) => l.msg), { timeout: timeoutFor() }).toContain('worker started');
    shutdown.abort();
    await running;
    expect(lines.filter((l) => l.level === 'fatal')).toEqual([]);
  });
});
