import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startStandby } from '../../src/controller/standby.ts';
import { subject } from '../../src/bus/subjects.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { STREAM, startCluster, switchableTarget } from './harness.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

describe('controller hand-over', () => {
  it('a new controller rebuilds the machines from the result log: a confirmation round in progress continues, the transition happens once', async () => {
    const target = await switchableTarget();
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 3,
      view: 1,
      workers: [
        ['w1', '127.0.0.2'],
        ['w2', '127.0.0.3'],
        ['w3', '127.0.0.4'],
      ],
      checks: [{ name: 'web', type: 'http', data: { url: target.url, expect_status: 200 }, interval: 2, delay: 1 }],
    });
    await expect.poll(() => cluster.controller.status().checks[0]?.lastResults?.w1, { timeout: 10_000 }).toBeTruthy();
    target.up = false;
    // Round 1 of 2 completes under the first controller...
    await expect.poll(() => cluster.controller.status().checks[0]?.rounds, { timeout: 10_000 }).toBe(1);
    expect(cluster.controller.status().checks[0]?.state).toBe('pending');
    // ...which then dies. Its successor (view 2) picks up where it stopped.
    const successor = await cluster.replaceController(2);
    expect(successor.status().checks[0]).toMatchObject({ state: 'pending', rounds: 1, of: 2 });
    expect(cluster.logs.matching(/rebuilt the check machines from the result log/).at(-1)).toMatchObject({ checks: 1 });
    await expect.poll(() => cluster.statusOf(1), { timeout: 15_000, interval: 200 }).toBe('offline');
    expect(await cluster.checkEvents(1)).toEqual([{ type: 'offline' }]);
    const transitions = (await cluster.events(1)).filter((e) => e.type === 'transition');
    expect(transitions).toHaveLength(1);
    expect(transitions[0]).toMatchObject({ to: 'offline', rounds: 2 });
  });

  it('a warm standby hands over its fold: the successor reads only the log\'s tail, the round continues, the transition happens once and is not rewritten', async () => {
    const target = await switchableTarget();
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 3,
      view: 1,
      workers: [
        ['w1', '127.0.0.2'],
        ['w2', '127.0.0.3'],
        ['w3', '127.0.0.4'],
      ],
      checks: [{ name: 'web', type: 'http', data: { url: target.url, expect_status: 200 }, interval: 2, delay: 1 }],
    });
    const standby = startStandby({ nc: cluster.nc, stream: STREAM, confirmations: 3, log: cluster.logs.log, retryMs: 50, trust: { viewless: false } });
    onTestFinished(() => standby.stop());
    await expect.poll(() => cluster.controller.status().checks[0]?.lastResults?.w1, { timeout: 10_000 }).toBeTruthy();
    target.up = false;
    await expect.poll(() => cluster.controller.status().checks[0]?.rounds, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => standby.progress().records, { timeout: 10_000 }).toBeGreaterThan(5);

    const successor = await cluster.replaceController(2, standby);
    expect(successor.status().checks[0]).toMatchObject({ state: 'pending', rounds: 1, of: 2 });
    const rebuilt = cluster.logs.matching(/rebuilt the check machines from the result log/).at(-1)!;
    // What the standby had folded is not read again: only records stored after its position.
    expect(rebuilt.standbyRecords).toBeGreaterThan(5);
    expect(Number(rebuilt.records)).toBeLessThan(Number(rebuilt.standbyRecords));
    expect(rebuilt).toMatchObject({ checks: 1, transitions: 0 });
    await expect.poll(() => cluster.statusOf(1), { timeout: 15_000, interval: 200 }).toBe('offline');
    expect(await cluster.checkEvents(1)).toEqual([{ type: 'offline' }]);
    const transitions = (await cluster.events(1)).filter((e) => e.type === 'transition');
    expect(transitions).toEqual([expect.objectContaining({ to: 'offline', rounds: 2 })]);

    // The transition was logged as recorded: a third controller, reading cold, owes nothing.
    await expect.poll(() => cluster.logs.matching(/transition recorded/).length, { timeout: 10_000 }).toBe(1);
    await cluster.replaceController(3);
    expect(cluster.logs.matching(/rebuilt the check machines from the result log/).at(-1)).toMatchObject({ standbyRecords: 0, transitions: 0 });
    expect(await cluster.checkEvents(1)).toEqual([{ type: 'offline' }]);
  });

  it('workers drop run requests from a replaced controller (older view)', async () => {
    const target = await switchableTarget();
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 1,
      view: 4,
      workers: [['w1', '127.0.0.2']],
      checks: [{ name: 'web', type: 'http', data: { url: target.url }, interval: 1, delay: 0 }],
    });
    await expect.poll(() => cluster.workers.get('w1')!.stats().completed, { timeout: 10_000 }).toBeGreaterThan(0);
    const request = (view: number, assignment: string) =>
      JSON.stringify({ type: 'run', assignment, checkId: 1, checkType: 'http', data: JSON.stringify({ url: target.url }), view, at: new Date().toISOString() });
    // The controller of view 3 (replaced), and a worker the view does not name, with a view above the one in force.
    cluster.nc.publish(subject.run('w1', 'ctl3'), request(3, 'old.3.x'));
    cluster.nc.publish(subject.run('w1', 'ctl4'), request(3, 'old.3.y'));
    cluster.nc.publish(subject.run('w1', 'w9'), request(99, 'forged.99'));
    // No timer: each request is judged as it arrives.
    await expect.poll(() => cluster.logs.matching(/dropped a run request/).map((l) => [l.reason, l.assignment ?? l.sender]), { timeout: timeoutFor() }).toEqual([
      ['not-from-controller', 'ctl3'],
      ['old-view', 'old.3.y'],
      ['not-from-controller', 'w9'],
    ]);
  });
});
