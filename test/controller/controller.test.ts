import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subject } from '../../src/bus/subjects.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { tcpServer } from '../helpers/servers.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { startCluster, switchableTarget, TICK_MS, WORKER_TIMEOUT_MS } from './harness.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

const THREE: [string, string][] = [
  ['w1', '127.0.0.2'],
  ['w2', '127.0.0.3'],
  ['w3', '127.0.0.4'],
];

describe('controller and workers', () => {
  it('timeline: the target dies, the check goes offline after delay+1 rounds of C workers, and comes back', async () => {
    const target = await switchableTarget();
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 2,
      workers: THREE,
      checks: [{ name: 'web', type: 'http', data: { url: target.url, expect_status: 200 }, interval: 1, delay: 1 }],
    });
    await expect.poll(() => cluster.controller.status().checks[0]?.lastResults?.w1?.status, { timeout: 10_000 }).toBe('online');

    target.up = false; // t0: the target dies
    await expect.poll(() => cluster.statusOf(1), { timeout: 20_000, interval: 200 }).toBe('offline');
    expect(await cluster.checkEvents(1)).toEqual([{ type: 'offline' }]);
    const events = (await cluster.events(1)) as { type: string; round?: number; of?: number; workers?: string[]; evidence?: { worker: string }[] }[];
    const at = events.findIndex((e) => e.type === 'transition');
    const wentOffline = events[at]!;
    expect(wentOffline).toMatchObject({ from: 'online', to: 'offline', rounds: 2, delay: 1, confirmations: 2 });
    // The rounds of this change: from the suspicion that led to it (its `pending` line) to the transition.
    const since = events.slice(0, at).map((e) => e.type).lastIndexOf('pending');
    const rounds = events.slice(since, at).filter((e) => e.type === 'round');
    expect(rounds.map((r) => [r.round, r.of])).toEqual([
      [1, 2],
      [2, 2],
    ]);
    // Each round had C = 2 distinct workers...
    for (const round of rounds) {
      expect(round.workers).toHaveLength(2);
      expect(new Set(round.workers).size).toBe(2);
      for (const worker of round.workers!) expect(['w1', 'w2', 'w3']).toContain(worker);
    }
    // ...and the transition's evidence is exactly their votes, round by round.
    expect(wentOffline.evidence!.map((e) => e.worker)).toEqual(rounds.flatMap((r) => r.workers));

    target.up = true;
    await expect.poll(() => cluster.statusOf(1), { timeout: 20_000, interval: 200 }).toBe('online');
    expect(await cluster.checkEvents(1)).toEqual([{ type: 'offline' }, { type: 'online' }]);
    expect(cluster.controller.status().checks[0]).toMatchObject({ state: 'online', status: 'online' });
  });

  it('a worker whose clock runs a year ahead cannot date a transition in the future; its skew is reported', async () => {
    const target = await switchableTarget();
    const year = 365 * 86_400_000;
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 2,
      workers: THREE.slice(0, 2),
      clocks: { w2: () => Date.now() + year },
      checks: [{ name: 'web', type: 'http', data: { url: target.url, expect_status: 200 }, interval: 1, delay: 0 }],
    });
    await expect.poll(() => cluster.controller.status().checks[0]?.lastResults?.w2?.status, { timeout: 10_000 }).toBe('online');
    target.up = false;
    await expect.poll(() => cluster.statusOf(1), { timeout: 20_000, interval: 200 }).toBe('offline');
    const [transition] = (await cluster.events(1)).filter((e) => e.type === 'transition') as unknown as { at: string; evidence: { worker: string; at: string }[] }[];
    // Every time in the decision is within the controller's run windows: none a year ahead.
    for (const at of [transition!.at, ...transition!.evidence.map((e) => e.at)]) expect(Date.parse(at)).toBeLessThan(Date.now() + 60_000);
    const [row] = await cluster.query<{ at: number }[]>('SELECT UNIX_TIMESTAMP(time) AS at FROM check_events WHERE check_id = 1', []);
    expect(Number(row!.at) * 1000).toBeLessThanOrEqual(Date.now());
    expect(cluster.logs.matching(/clock is .* ahead of the controller's/)).toEqual([expect.objectContaining({ worker: 'w2' })]);
    // The check recovers on time: the skew did not poison what comes after.
    target.up = true;
    await expect.poll(() => cluster.statusOf(1), { timeout: 20_000, interval: 200 }).toBe('online');
  });

  it('a target that refuses only one worker never flips with C=2', async () => {
    const target = await switchableTarget();
    target.refuse.add('127.0.0.4'); // w3 cannot reach it
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 2,
      workers: THREE,
      checks: [{ name: 'web', type: 'http', data: { url: target.url, expect_status: 200 }, interval: 1, delay: 0 }],
    });
    // w3 has failed several times, and each time the others were asked and disagreed.
    await expect.poll(() => (cluster.logs.lines.filter((l) => l.worker === 'w3' && l.status === 'offline').length), { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
    const events = await cluster.events(1);
    expect(events.filter((e) => e.type === 'pending').length).toBeGreaterThanOrEqual(3);
    expect(events.filter((e) => e.type === 'transition')).toEqual([]);
    expect(await cluster.checkEvents(1)).toEqual([]);
    expect(await cluster.statusOf(1)).toBe('online');
  });

  it('fewer live workers than confirmations: reported loudly, and no transition', async () => {
    const target = await switchableTarget();
    target.up = false;
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 3,
      workers: THREE.slice(0, 2),
      checks: [{ name: 'web', type: 'http', data: { url: target.url, expect_status: 200 }, interval: 1, delay: 0 }],
    });
    // Quorum is first judged on the first tick after the start-up grace (WORKER_TIMEOUT_MS).
    await expect.poll(() => cluster.notices, { timeout: timeoutFor(WORKER_TIMEOUT_MS + TICK_MS) }).toContainEqual({ kind: 'quorum-lost', alive: 2, confirmations: 3 });
    expect(cluster.logs.matching(/only 2 live worker\(s\) but confirmations = 3: no check can change state/)).toHaveLength(1);
    expect(cluster.controller.status().quorum).toBe(false);
    await expect.poll(() => cluster.controller.status().checks[0]?.turn?.length ?? 0, { timeout: 10_000 }).toBe(2);
    // Both workers said offline; a third confirmation can never come.
    expect(await cluster.checkEvents(1)).toEqual([]);
    // A third worker restores quorum and the change is confirmed.
    cluster.startWorker('w3', '127.0.0.4');
    // w3 beats at once; the next tick counts it.
    await expect.poll(() => cluster.notices, { timeout: timeoutFor(TICK_MS) }).toContainEqual({ kind: 'quorum-restored', alive: 3 });
    await expect.poll(() => cluster.statusOf(1), { timeout: 20_000, interval: 200 }).toBe('offline');
  });

  it('a worker that dies mid-run: its run is handed to another worker, and its late result is rejected', async () => {
    // A target that accepts and never answers keeps the run in flight.
    const { port } = await tcpServer(() => {});
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 2,
      workers: [['w1', '127.0.0.2']],
      checks: [{ name: 'slow', type: 'tcp', data: { address: `127.0.0.1:${port}`, expect: 'x', timeout: 30 }, interval: 2, delay: 0 }],
    });
    // Wait until w1 holds the run, then add w2 and kill w1 (its heartbeats stop).
    await expect.poll(() => cluster.workers.get('w1')!.stats().running, { timeout: 10_000 }).toBe(1);
    cluster.startWorker('w2', '127.0.0.3');
    await cluster.workers.get('w1')!.stop();
    await expect.poll(() => cluster.logs.matching(/run not answered in time: handing it to another worker/).length, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => cluster.workers.get('w2')!.stats().running, { timeout: 10_000 }).toBe(1);
    // A result for the expired assignment (as if w1 came back late) is rejected.
    const expired = cluster.logs.matching(/run not answered in time/)[0]!.assignment as string;
    cluster.nc.publish(
      subject.result('w1', 1),
      JSON.stringify({ type: 'result', checkId: 1, worker: 'w1', assignment: expired, status: 'offline', message: 'late', durationMs: 1, at: new Date().toISOString() }),
    );
    await expect.poll(() => cluster.logs.matching(/result rejected: not an outstanding run/).length, { timeout: timeoutFor() }).toBe(1);
    expect(cluster.controller.status().checks[0]?.state).toBe('online');
    // The run is not handed out a second time while w2 holds it.
    expect(cluster.workers.get('w2')!.stats().running).toBe(1);
  });

  it('misconfigured rows are reported by id and field; the good ones are monitored', async () => {
    const target = await switchableTarget();
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 1,
      workers: THREE.slice(0, 1),
      checks: [{ name: 'good', type: 'http', data: { url: target.url }, interval: 1, delay: 0 }],
      rows: [
        `INSERT INTO checks (name, type, data) VALUES ('bad json', 'http', '{"url":')`,
        `INSERT INTO checks (name, type, data) VALUES ('bad type', 'gopher', '{}')`,
        `INSERT INTO checks (name, type, data) VALUES ('missing', 'tcp', '{}')`,
        `INSERT INTO checks (name, type, data) VALUES ('wrong type', 'http', '{"url":"http://127.0.0.1/","timeout":"ten"}')`,
        `INSERT INTO checks (name, type, data, check_interval) VALUES ('zero', 'tcp', '{"address":"127.0.0.1:1"}', 0)`,
      ],
    });
    await expect.poll(() => cluster.controller.status().checks.find((c) => c.id === 1)?.lastResults?.w1?.status, { timeout: 10_000 }).toBe('online');
    const byId = Object.fromEntries(cluster.controller.status().checks.map((c) => [c.id, c]));
    expect(byId[2]).toMatchObject({ state: 'misconfigured', problem: expect.stringMatching(/^data: invalid JSON/) });
    expect(byId[3]).toMatchObject({ state: 'misconfigured', problem: 'type: unknown check type "gopher"' });
    expect(byId[4]).toMatchObject({ state: 'misconfigured', problem: expect.stringMatching(/address/) });
    expect(byId[5]).toMatchObject({ state: 'misconfigured', problem: expect.stringMatching(/timeout.*"ten"/) });
    expect(byId[6]).toMatchObject({ state: 'misconfigured', problem: 'check_interval: expected at least 1 (value 0)' });
    for (const id of [2, 3, 4, 5, 6]) expect(cluster.logs.lines.some((l) => l.checkId === id && /misconfigured and not monitored/.test(String(l.msg)))).toBe(true);
    expect(await cluster.checkEvents(2)).toEqual([]);
  });

  it('MySQL down during a transition: monitoring goes on and the transition is written once MySQL is back', async () => {
    const target = await switchableTarget();
    let proxy: Awaited<ReturnType<typeof startTcpProxy>> | undefined;
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 1,
      workers: THREE.slice(0, 1),
      checks: [{ name: 'web', type: 'http', data: { url: target.url, expect_status: 200 }, interval: 1, delay: 0 }],
      dbOverride: async (db) => {
        proxy = await startTcpProxy({ host: db.host!, port: db.port! });
        return { host: '127.0.0.1', port: proxy.port };
      },
    });
    await expect.poll(() => cluster.controller.status().checks[0]?.lastResults?.w1?.status, { timeout: 10_000 }).toBe('online');
    proxy!.cut();
    target.up = false;
    await expect.poll(() => cluster.controller.status().checks[0]?.state, { timeout: 10_000 }).toBe('offline');
    await expect.poll(() => cluster.writer.pending(), { timeout: 10_000 }).toHaveLength(1);
    expect(await cluster.checkEvents(1)).toEqual([]);
    // Monitoring never stopped: results keep coming while MySQL is away.
    const before = cluster.controller.status().checks[0]!.lastResults!.w1!.at;
    await expect.poll(() => cluster.controller.status().checks[0]!.lastResults!.w1!.at, { timeout: 10_000 }).not.toBe(before);
    proxy!.restore();
    await cluster.writer.drain();
    expect(await cluster.checkEvents(1)).toEqual([{ type: 'offline' }]);
    expect(await cluster.statusOf(1)).toBe('offline');
  });

  it('bad result messages are dropped with a log line and change nothing', async () => {
    const target = await switchableTarget();
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 1,
      workers: THREE.slice(0, 1),
      checks: [{ name: 'web', type: 'http', data: { url: target.url }, interval: 60, delay: 0 }],
    });
    const valid = { type: 'result', checkId: 1, worker: 'w1', assignment: 'forged.1', status: 'offline', message: 'x', durationMs: 1, at: new Date().toISOString() };
    const send = (name: string, payload: unknown) => cluster.nc.publish(name, typeof payload === 'string' ? payload : JSON.stringify(payload));
    send(subject.result('w1', 1), '{"type":"result",');
    send(subject.result('w1', 1), { ...valid, assignment: undefined });
    send(subject.result('w1', 1), { ...valid, checkId: '1' });
    send(subject.result('w1', 1), { ...valid, status: 'down' });
    send(subject.result('w1', 99), { ...valid, checkId: 99 });
    send(subject.result('w2', 1), valid); // subject says w2, payload says w1
    send(subject.result('w1', 1), valid); // no such assignment: never handed out
    // No timer: each result is judged as it arrives.
    await expect.poll(() => cluster.logs.matching(/skipped a result: malformed/).length, { timeout: timeoutFor() }).toBe(4);
    // A result far larger than any real one is refused before it is parsed.
    send(subject.result('w1', 1), { ...valid, message: 'x'.repeat(40 * 1024) });
    await expect.poll(() => cluster.logs.matching(/skipped a result: oversized/).length, { timeout: timeoutFor() }).toBe(1);
    await expect.poll(() => cluster.logs.matching(/dropped a result for an unknown check/).length, { timeout: timeoutFor() }).toBe(1);
    await expect.poll(() => cluster.logs.matching(/skipped a result: result names another worker or check/).length, { timeout: timeoutFor() }).toBe(1);
    await expect.poll(() => cluster.logs.matching(/result rejected: not an outstanding run/).length, { timeout: timeoutFor() }).toBe(1);
    const malformed = cluster.logs.matching(/skipped a result: malformed/).map((l) => l.error);
    expect(malformed).toEqual([expect.stringMatching(/invalid JSON/), expect.stringMatching(/^assignment:/), expect.stringMatching(/^checkId:.*"1"/), expect.stringMatching(/^status:.*"down"/)]);
    expect(cluster.controller.status().checks[0]).toMatchObject({ state: 'online' });
    expect(await cluster.checkEvents(1)).toEqual([]);
  });
});

describe('bearmon status, a page at a time', () => {
  it('450 checks come back in three pages cut from one status: each check once, in order, from one build', async () => {
    const { requestStatus } = await import('../../src/cli/status.ts');
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 1,
      workers: [['w1', '127.0.0.2']],
      checks: Array.from({ length: 450 }, (_, i) => ({ name: `c${i + 1}`, type: 'tcp', data: { address: '127.0.0.1:9' }, interval: 3600, delay: 1 })),
    });
    const status = await requestStatus(cluster.nc);
    expect(status.checks.map((c) => c.id)).toEqual(Array.from({ length: 450 }, (_, i) => i + 1));
    // The later pages are cut from the status the first page was: the same `at` on every page.
    const pages = [];
    for (const offset of [0, 200, 400]) pages.push((await cluster.nc.request(subject.control('status'), JSON.stringify({ offset }), { timeout: 5000 })).json<{ at: string; checks: unknown[]; page: { offset: number; total: number } }>());
    expect(pages.map((p) => [p.page.offset, p.page.total, p.checks.length])).toEqual([[0, 450, 200], [200, 450, 200], [400, 450, 50]]);
    expect(new Set(pages.map((p) => p.at)).size).toBe(1);
  }, 60_000);
});
