import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { startRoleCluster } from '../helpers/role-cluster.ts';
import { switchableTarget } from './harness.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

describe('controller fail-over (real processes, kill -9)', () => {
  it('a new controller is named and monitoring continues; the old process, back, does nothing until a view names it', async () => {
    const target = await switchableTarget();
    const { conn, views, workers, startWorker, firstView } = await startRoleCluster(nats, {
      stream: 'BEARMON_FAILOVER',
      rows: [[`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('web', 'http', ?, 1, 1)`, [JSON.stringify({ url: target.url, expect_status: 200 })]]],
    });
    const first = await firstView();
    const statusOf = async () => ((await conn.query<RowDataPacket[]>('SELECT status FROM checks WHERE id = 1'))[0][0] as { status: string }).status;
    await expect.poll(() => target.hits.size, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);

    // kill -9 the controller.
    workers.get(first.controller!)!.child.kill('SIGKILL');
    await expect.poll(() => views.at(-1)!.view, { timeout: 20_000 }).toBeGreaterThan(first.view);
    const second = views.at(-1)!;
    expect(second.controller).not.toBe(first.controller);
    expect(second.controller).not.toBeNull();
    await expect
      .poll(() => workers.get(second.controller!)!.logs.some((l) => l.msg === 'controller started' && l.view === second.view), { timeout: 20_000 })
      .toBe(true);
    // It took over from its warm standby (which followed the log under nats.conf's worker rights): only the tail was read.
    const rebuilt = workers.get(second.controller!)!.logs.find((l) => l.msg === 'rebuilt the check machines from the result log' && l.view === second.view);
    expect(rebuilt).toMatchObject({ standbyRecords: expect.any(Number) });
    expect(Number(rebuilt!.standbyRecords)).toBeGreaterThan(0);

    // Monitoring continues under the new controller: the target dies, the check goes offline.
    target.up = false;
    await expect.poll(statusOf, { timeout: 30_000, interval: 250 }).toBe('offline');

    // The old process comes back: it follows the current view and does not act as controller.
    const back = startWorker(first.controller, '127.0.0.5');
    await expect.poll(() => back.logs.some((l) => l.msg === 'worker started'), { timeout: 20_000 }).toBe(true);
    target.up = true;
    await expect.poll(statusOf, { timeout: 30_000, interval: 250 }).toBe('online');
    // Nothing of a controller's: not named, no controller role, no step down from one. (A run request
    // dropped before it heard the view names "controller" too, and is a worker's doing: not counted.)
    const actedAsController = (l: Record<string, unknown>) => l.role === 'controller' || /named controller|stepping down as controller|controller started/.test(String(l.msg));
    expect(back.logs.filter(actedAsController)).toEqual([]);
    // The control: the same filter finds the successor acting as controller.
    expect(workers.get(second.controller!)!.logs.some(actedAsController)).toBe(true);
    expect(views.at(-1)).toMatchObject({ view: second.view, controller: second.controller });
  }, 120_000);
});
