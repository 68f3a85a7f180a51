import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLog } from '../../src/bus/result-log.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { tcpServer } from '../helpers/servers.ts';
import { startCluster, STREAM } from './harness.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

describe('overload', () => {
  it('capacity for about half the offered runs: every check still runs, in turn, and the backlog is reported', async () => {
    // Every run holds its slot for the whole 3 s timeout, and a check's next run waits for its
    // last: 16 checks want 16 slots at once, 2 workers × 4 slots = 8 exist.
    const hanging = await tcpServer(() => {});
    const checks = Array.from({ length: 16 }, (_, i) => ({ name: `slow${i}`, type: 'http', data: { url: `http://${hanging.address}/`, timeout: 3 }, interval: 1, delay: 100 }));
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 1,
      workers: [
        ['w1', '127.0.0.2'],
        ['w2', '127.0.0.3'],
      ],
      checks,
    });
    // Said once, with the backlog and the slots there are.
    await expect.poll(() => cluster.notices.filter((n) => n.kind === 'overloaded'), { timeout: 20_000 }).toEqual([
      expect.objectContaining({ kind: 'overloaded', capacity: 8, backlog: expect.any(Number) }),
    ]);
    expect(cluster.controller.status().backlog.checks).toBeGreaterThan(0);
    // Fair: every check has been run at least twice, none starved by the others.
    const runsOf = async () => {
      const counts = new Map<number, number>();
      for await (const record of readLog(cluster.nc, { stream: STREAM })) {
        const line = JSON.parse(record.text) as { type: string; checkId: number };
        if (line.type === 'assign') counts.set(line.checkId, (counts.get(line.checkId) ?? 0) + 1);
      }
      return checks.map((_, i) => counts.get(i + 1) ?? 0);
    };
    await expect.poll(async () => Math.min(...(await runsOf())), { timeout: 30_000, interval: 500 }).toBeGreaterThanOrEqual(2);
    const counts = await runsOf();
    // Turn by turn: no check has run more than twice as often as the least-run one (+1 for the one in flight).
    expect(Math.max(...counts)).toBeLessThanOrEqual(2 * Math.min(...counts) + 1);
  }, 60_000);
});
