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

describe('confirmation rounds', () => {
  it('a hanging target (timeout 3 s, C=3): each round after the first sends its three runs together, one interval after the suspicion began', async () => {
    // Accepts connections and never answers: every run takes its whole timeout.
    const hanging = await tcpServer(() => {});
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 3,
      workers: [
        ['w1', '127.0.0.2'],
        ['w2', '127.0.0.3'],
        ['w3', '127.0.0.4'],
      ],
      checks: [{ name: 'stuck', type: 'http', data: { url: `http://${hanging.address}/`, timeout: 3 }, interval: 2, delay: 1 }],
    });
    // Two rounds (D=1) of three timeouts each: the first run, its two confirmations, then a whole round.
    await expect.poll(() => cluster.statusOf(1), { timeout: 30_000, interval: 250 }).toBe('offline');
    const assigns: { at: number; due: number; worker: string }[] = [];
    let pendingSince: number | undefined;
    for await (const record of readLog(cluster.nc, { stream: STREAM })) {
      const line = JSON.parse(record.text) as { type: string; at: string; due: string; worker: string };
      if (line.type === 'assign') assigns.push({ at: Date.parse(line.at), due: Date.parse(line.due), worker: line.worker });
      if (line.type === 'pending') pendingSince ??= Date.parse(line.at);
    }
    // Round 1: one run, then the two others together once it failed. Round 2: all three together.
    expect(assigns.length).toBeGreaterThanOrEqual(6);
    const [first, second, third, ...round2] = assigns;
    expect(second!.at).toBe(third!.at);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(3000);
    const together = round2.slice(0, 3);
    expect(new Set(together.map((a) => a.at)).size).toBe(1);
    expect(new Set(together.map((a) => a.worker)).size).toBe(3);
    // Round 2 was due one interval after the suspicion began, not when round 1 had answered
    // (each round of a hanging target lasts its whole timeout, longer than the interval).
    expect(pendingSince).toBeDefined();
    expect(together.map((a) => a.due)).toEqual([pendingSince! + 2000, pendingSince! + 2000, pendingSince! + 2000]);
  }, 60_000);
});
