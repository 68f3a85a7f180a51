import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { ensureResultLog, readLog } from '../../src/bus/result-log.ts';
import { subject } from '../../src/bus/subjects.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';

let server: NatsServerHandle;
let admin: NatsConnection;
beforeAll(async () => {
  server = await startNatsServer();
  admin = await connect(natsOptions([server.url]));
});
afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

async function as(user: string): Promise<{ nc: NatsConnection; violations: string[] }> {
  const nc = await connect(natsOptions([server.urlFor(user)]));
  onTestFinished(() => nc.close());
  const violations: string[] = [];
  void (async () => {
    for await (const status of nc.status()) if (status.type === 'error') violations.push(String((status as { error?: Error }).error?.message));
  })();
  return { nc, violations };
}

const result = (worker: string, checkId: number) =>
  JSON.stringify({ type: 'result', checkId, worker, assignment: 'a.1', status: 'offline', message: '', durationMs: 1, at: new Date().toISOString() });

describe('roles and permissions from nats.conf', () => {
  it('a worker may publish results under its own id only: another id is refused by the server', async () => {
    const seen: string[] = [];
    const sub = admin.subscribe('bearmon.result.>', { callback: (_e, m) => void seen.push(m.subject) });
    onTestFinished(() => sub.unsubscribe());
    await admin.flush();
    const w1 = await as('w1');
    w1.nc.publish(subject.result('w2', 1), result('w2', 1)); // forged: w1 voting as w2
    w1.nc.publish(subject.result('w1', 1), result('w1', 1)); // its own
    await w1.nc.flush();
    await expect.poll(() => seen).toEqual(['bearmon.result.w1.1']);
    await expect.poll(() => w1.violations).toEqual([expect.stringMatching(/Permissions Violation for Publish to "bearmon.result.w2.1"/i)]);
  });

  it('a worker cannot listen to another worker\'s run requests', async () => {
    const w1 = await as('w1');
    w1.nc.subscribe(subject.run('w2'));
    await w1.nc.flush().catch(() => {});
    await expect.poll(() => w1.violations).toEqual([expect.stringMatching(/Permissions Violation for Subscription to "bearmon.run.w2"/i)]);
  });

  it('the operator reads everything (trace, replay from the stream) but cannot vote', async () => {
    const stream = 'PERMS';
    await ensureResultLog(admin, { stream, retentionMs: 3_600_000 });
    onTestFinished(async () => {
      const { jetstreamManager } = await import('@nats-io/jetstream');
      await (await jetstreamManager(admin)).streams.delete(stream).catch(() => {});
    });
    await jetstream(admin).publish(subject.check(1), JSON.stringify({ type: 'check', checkId: 1, interval: 60, delay: 1, status: 'online' }), { msgID: 'c1' });
    const operator = await as('operator');
    const records = [];
    for await (const record of readLog(operator.nc, { stream })) records.push(record.text);
    expect(records).toHaveLength(1);
    operator.nc.publish(subject.result('w1', 1), result('w1', 1));
    await expect.poll(() => operator.violations).toEqual([expect.stringMatching(/Permissions Violation for Publish to "bearmon.result.w1.1"/i)]);
  });

  it('a connection without credentials is refused', async () => {
    await expect(connect({ servers: `127.0.0.1:${server.port}`, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/i);
  });
});
