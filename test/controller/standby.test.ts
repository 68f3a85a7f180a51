import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { refusedPort } from '../helpers/servers.ts';
import { natsOptions } from '../../src/bus/connect.ts';
import { ensureResultLog } from '../../src/bus/result-log.ts';
import { subject } from '../../src/bus/subjects.ts';
import { startStandby } from '../../src/controller/standby.ts';
import { captureLogs } from '../helpers/logs.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

const STREAM = 'BEARMON_STANDBY';

describe('standby', () => {
  it('waits for the log to exist, follows it as it grows, starts over when the stream is recreated, and hands over what it folded', async () => {
    const nc = await connect(natsOptions([nats.url]));
    onTestFinished(() => nc.close());
    const js = jetstream(nc);
    const standby = startStandby({ nc, stream: STREAM, confirmations: 1, log: captureLogs().log, retryMs: 50, watchMs: 100 });
    onTestFinished(() => standby.stop());

    await ensureResultLog(nc, { stream: STREAM, retentionMs: 3_600_000 });
    const offline = (checkId: number, n: number) =>
      js.publish(subject.result('w1', checkId), JSON.stringify({ type: 'result', checkId, worker: 'w1', status: 'offline', at: `2026-01-01T00:00:0${n}Z`, message: 'down' }));
    await js.publish(subject.check(1), JSON.stringify({ type: 'check', checkId: 1, interval: 60, delay: 0, status: 'online' }));
    await offline(1, 1);
    await expect.poll(() => standby.progress(), { timeout: 10_000 }).toEqual({ seq: 2, records: 2 });

    // The stream is deleted and made anew: its sequences restart, and so does the standby.
    await (await jetstreamManager(nc)).streams.delete(STREAM);
    await ensureResultLog(nc, { stream: STREAM, retentionMs: 3_600_000 });
    await js.publish(subject.check(2), JSON.stringify({ type: 'check', checkId: 2, interval: 60, delay: 0, status: 'online' }));
    await expect.poll(() => standby.progress(), { timeout: 10_000 }).toEqual({ seq: 1, records: 1 });

    const state = await standby.handOver();
    expect(state.fold.checkIds()).toEqual([2]);
    expect(state.owed.size).toBe(0);
    // After the hand-over nothing more is applied: the state is the new controller's.
    await offline(2, 2);
    await nc.flush();
    expect(standby.progress()).toEqual({ seq: 1, records: 1 });
  });

  it('on a server without JetStream it keeps retrying with a log line and never crashes the process', async () => {
    const port = await refusedPort();
    const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    onTestFinished(async () => {
      server.kill();
      await once(server, 'exit');
    });
    await new Promise<void>((resolve) => {
      let text = '';
      server.stderr!.on('data', (chunk: Buffer) => ((text += chunk.toString()), text.includes('Server is ready') && resolve()));
    });
    const nc = await connect({ servers: `127.0.0.1:${port}` });
    onTestFinished(() => nc.close());
    const logs = captureLogs();
    const standby = startStandby({ nc, stream: STREAM, confirmations: 1, log: logs.log, retryMs: 50 });
    await expect.poll(() => logs.matching(/standby could not follow the result log; retrying/).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(standby.progress()).toEqual({ seq: 0, records: 0 });
    await standby.stop();
  });
});

