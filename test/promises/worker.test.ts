import type net from 'node:net';
import { natsOptions } from '../../src/bus/connect.ts';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startWorker } from '../../src/actors/worker.ts';
import { ensureResultLog } from '../../src/bus/result-log.ts';
import { subject } from '../../src/bus/subjects.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { captureLogs } from '../helpers/logs.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { tcpServer } from '../helpers/servers.ts';

/**
 * README (Workers and the controller): a worker runs at most `numThreads` checks at once,
 * further requests wait in a queue of 10 × `numThreads`, beyond that they are dropped with a
 * log line; (Metrics) every refused request counts in
 * `bearmon_worker_requests_dropped_total{reason}`.
 */

let nats: NatsServerHandle;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect(natsOptions([nats.url]));
  await ensureResultLog(nc, { stream: 'BEARMON', retentionMs: 3_600_000 });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

/** One sample of Prometheus text, e.g. sample(text, 'bearmon_worker_queued'); undefined when absent. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** A TCP target that accepts and holds every connection until released (a run that stays in flight). */
async function holdingTarget() {
  const held: net.Socket[] = [];
  let released = false;
  const target = await tcpServer((socket) => (released ? socket.write('GO\n') : held.push(socket)));
  return {
    address: target.address,
    held: () => held.length,
    release() {
      released = true;
      for (const socket of held.splice(0)) socket.write('GO\n');
    },
  };
}

let sequence = 0;
const request = (checkId: number, data: object, view = 0) => ({
  type: 'run',
  assignment: `a-${++sequence}`,
  checkId,
  checkType: 'tcp',
  data: JSON.stringify(data),
  view,
  at: new Date().toISOString(),
});

describe('README: the run queue holds 10 × numThreads requests', () => {
  it('numThreads 3: 3 run, 30 wait, the 34th and later are dropped, counted as queue-full and logged (at most 10 lines); all 33 kept finish', async () => {
    const metrics = createMetrics();
    const logs = captureLogs();
    const target = await holdingTarget();
    const worker = startWorker({ nc, id: 'qw', numThreads: 3, dnsServer: '127.0.0.1:53', log: logs.log, metrics, heartbeatMs: 60_000, viewZeroController: 'ctl' });
    onTestFinished(() => worker.stop());
    const results: number[] = [];
    const sub = nc.subscribe('bearmon.result.qw.*', { callback: (_e, m) => void results.push(m.json<{ checkId: number }>().checkId) });
    onTestFinished(() => sub.unsubscribe());

    // No maxQueued given: the default of the README applies. 3 + 30 fit, 12 do not.
    const requests = Array.from({ length: 45 }, (_, i) => request(100 + i, { address: target.address, expect: 'GO', timeout: 30 }));
    for (const r of requests) nc.publish(subject.run('qw', 'ctl'), JSON.stringify(r));

    await expect.poll(() => worker.stats(), { timeout: 10_000 }).toEqual({ running: 3, queued: 30, completed: 0, dropped: 12 });
    await expect.poll(() => target.held(), { timeout: 10_000 }).toBe(3);
    const text = await metrics.registry.metrics();
    expect(sample(text, 'bearmon_worker_running')).toBe(3);
    expect(sample(text, 'bearmon_worker_queued')).toBe(30);
    expect(sample(text, 'bearmon_worker_requests_dropped_total{reason="queue-full"}')).toBe(12);
    // Every drop is counted; the first 10 of the minute are logged, each naming its request.
    expect(logs.matching(/^run queue full: dropped a run request$/).map((l) => [l.level, l.checkId, l.queued])).toEqual(
      Array.from({ length: 10 }, (_, i) => ['warn', 133 + i, 30]),
    );

    target.release();
    await expect.poll(() => results.length, { timeout: 20_000 }).toBe(33);
    expect(results.sort((a, b) => a - b)).toEqual(requests.slice(0, 33).map((r) => r.checkId));
    expect(worker.stats()).toEqual({ running: 0, queued: 0, completed: 33, dropped: 12 });
  });
});

describe('README: bearmon_worker_requests_dropped_total counts every refused request by reason', () => {
  it('bad-request, not-from-controller and old-view each count under their own label; an obeyed request counts nowhere', async () => {
    const metrics = createMetrics();
    const logs = captureLogs();
    const { address } = await tcpServer(() => {});
    const worker = startWorker({ nc, id: 'dw', numThreads: 2, dnsServer: '127.0.0.1:53', log: logs.log, metrics, heartbeatMs: 60_000 });
    onTestFinished(() => worker.stop());
    worker.observeView({ view: 4, controller: 'ctl' });

    nc.publish(subject.run('dw', 'ctl'), 'not json'); // bad-request
    nc.publish(subject.run('dw', 'ctl'), JSON.stringify({ ...request(1, { address }, 4), checkId: 'one' })); // bad-request
    nc.publish(subject.run('dw', 'w9'), JSON.stringify(request(2, { address }, 4))); // not-from-controller
    nc.publish(subject.run('dw', 'ctl'), JSON.stringify(request(3, { address }, 3))); // old-view
    nc.publish(subject.run('dw', 'ctl'), JSON.stringify(request(4, { address }, 4))); // obeyed
    await expect.poll(() => worker.stats(), { timeout: 10_000 }).toMatchObject({ completed: 1, dropped: 4 });

    const text = await metrics.registry.metrics();
    expect(sample(text, 'bearmon_worker_requests_dropped_total{reason="bad-request"}')).toBe(2);
    expect(sample(text, 'bearmon_worker_requests_dropped_total{reason="not-from-controller"}')).toBe(1);
    expect(sample(text, 'bearmon_worker_requests_dropped_total{reason="old-view"}')).toBe(1);
    expect(sample(text, 'bearmon_worker_requests_dropped_total{reason="queue-full"}')).toBeUndefined();
    expect(sample(text, 'bearmon_worker_runs_total{type="tcp",status="online"}')).toBe(1);
  });
});
