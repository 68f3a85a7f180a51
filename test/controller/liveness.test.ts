import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { startRoleCluster } from '../helpers/role-cluster.ts';
import { switchableTarget } from './harness.ts';

/**
 * Issue #12's timeline: a controller whose main event loop is blocked (injected: SIGUSR2 with
 * BEARMON_FAULT_STALL_MS) answers pings from its liveness thread and is not replaced; the
 * same controller killed is.
 */
let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

describe('liveness under a busy event loop (real processes)', () => {
  it('a controller blocked for 2.5 s is not replaced; killed, it is', async () => {
    const target = await switchableTarget();
    const { views, workers, viewserver, firstView } = await startRoleCluster(nats, {
      stream: 'BEARMON_LIVENESS',
      rows: [[`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('web', 'http', ?, 1, 1)`, [JSON.stringify({ url: target.url })]]],
      env: { BEARMON_FAULT_STALL_MS: '2500' },
    });
    const first = await firstView();
    const controller = workers.get(first.controller)!;
    await expect.poll(() => controller.logs.some((l) => l.msg === 'controller started'), { timeout: 20_000 }).toBe(true);

    const before = viewserver.logs.length;
    controller.child.kill('SIGUSR2');
    // The viewserver saw the stall (the liveness thread reported the loop's lag) and the loop came back.
    await expect.poll(() => viewserver.logs.some((l) => l.msg === 'candidate answers from its liveness thread while its main loop is busy' && l.worker === first.controller), { timeout: 20_000 }).toBe(true);
    await expect.poll(() => controller.logs.some((l) => l.msg === 'fault injection: main event loop free again'), { timeout: 20_000 }).toBe(true);
    expect(views.filter((v) => v.view > first.view)).toEqual([]);
    expect(viewserver.logs.slice(before).filter((l) => l.msg === 'candidate missed a ping' && l.worker === first.controller)).toEqual([]);

    // The control: killed, it is replaced.
    controller.child.kill('SIGKILL');
    await expect.poll(() => views.at(-1)!.view, { timeout: 20_000 }).toBeGreaterThan(first.view);
  }, 90_000);
});
