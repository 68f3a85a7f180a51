import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { refusedPort } from '../helpers/servers.ts';
import { natsOptions } from '../../src/bus/connect.ts';
import { ensureResultLog } from '../../src/bus/result-log.ts';
import { asRecords } from '../helpers/log-records.ts';
import { startStandby } from '../../src/controller/standby.ts';
import { timeoutFor } from '../helpers/bounds.ts';
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
    const standby = startStandby({ nc, stream: STREAM, confirmations: 1, log: captureLogs().log, retryMs: 50, watchMs: 100, trust: { viewless: true } });
    onTestFinished(() => standby.stop());

    await ensureResultLog(nc, { stream: STREAM, retentionMs: 3_600_000 });
    const publish = async (lines: Parameters<typeof asRecords>[0]) => {
      for (const record of asRecords(lines)) await js.publish(record.subject, record.text);
    };
    const check = (checkId: number) => ({ type: 'check', checkId, interval: 60, delay: 0, status: 'online' });
    const offline = (checkId: number, n: number) => [
      { type: 'assign', checkId, worker: 'w1', assignment: `a${n}`, at: `2026-01-01T00:00:0${n}Z` },
      { type: 'result', checkId, worker: 'w1', status: 'offline', at: `2026-01-01T00:00:0${n}Z`, message: 'down', assignment: `a${n}` },
    ];
    await publish([check(1), ...offline(1, 1)]);
    await expect.poll(() => standby.progress(), { timeout: 10_000 }).toEqual({ seq: 3, records: 3 });

    // The stream is deleted and made anew: its sequences restart, and so does the standby.
    await (await jetstreamManager(nc)).streams.delete(STREAM);
    await ensureResultLog(nc, { stream: STREAM, retentionMs: 3_600_000 });
    await publish([check(2)]);
    await expect.poll(() => standby.progress(), { timeout: 10_000 }).toEqual({ seq: 1, records: 1 });
    // The control: a second standby following the same log, never handed over.
    const control = startStandby({ nc, stream: STREAM, confirmations: 1, log: captureLogs().log, retryMs: 50, watchMs: 100, trust: { viewless: true } });
    onTestFinished(() => control.stop());
    await expect.poll(() => control.progress(), { timeout: timeoutFor() }).toEqual({ seq: 1, records: 1 });

    const state = await standby.handOver();
    expect(state.fold.checkIds()).toEqual([2]);
    expect(state.owed.size).toBe(0);
    // After the hand-over nothing more is applied: the state is the new controller's. Two records,
    // then a marker; the control folding the marker proves the two reached every follower of the log.
    await publish(offline(2, 2));
    await publish([check(3)]);
    await expect.poll(() => control.progress(), { timeout: timeoutFor() }).toEqual({ seq: 4, records: 4 });
    expect(standby.progress()).toEqual({ seq: 1, records: 1 });
    expect(state.fold.checkIds()).toEqual([2]);
  });

  it('skips what the view in force does not allow, counting and logging each by reason', async () => {
    const nc = await connect(natsOptions([nats.url]));
    onTestFinished(() => nc.close());
    const js = jetstream(nc);
    await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => {});
    await ensureResultLog(nc, { stream: STREAM, retentionMs: 3_600_000 });
    const logs = captureLogs();
    const standby = startStandby({ nc, stream: STREAM, confirmations: 2, log: logs.log, retryMs: 50, trust: { viewless: false } });
    onTestFinished(() => standby.stop());
    const lines = [
      { type: 'check', checkId: 1, interval: 60, delay: 0, status: 'online' },
      { type: 'assign', checkId: 1, worker: 'w1', assignment: 'a1', at: '2026-01-01T00:00:01Z' },
    ];
    // Before any view: nobody speaks for a controller (2 skipped); then view 5 names ctl (its 2 lines count).
    for (const record of asRecords(lines, { controller: 'ctl' })) await js.publish(record.subject, record.text);
    for (const record of asRecords(lines, { controller: 'ctl', view: 5 })) await js.publish(record.subject, record.text);
    // w1 speaking as a controller under view 5: skipped.
    for (const record of asRecords(lines, { controller: 'w1' }).map((r) => ({ ...r, text: r.text.replace('"view":0', '"view":5') }))) await js.publish(record.subject, record.text);
    await expect.poll(() => standby.progress(), { timeout: 10_000 }).toEqual({ seq: 7, records: 2 });
    expect(logs.matching(/skipped a log record/).map((l) => l.reason)).toEqual(['no view in force', 'no view in force', 'not the controller of the view in force', 'not the controller of the view in force']);
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
    const standby = startStandby({ nc, stream: STREAM, confirmations: 1, log: logs.log, retryMs: 50, trust: { viewless: false } });
    await expect.poll(() => logs.matching(/standby could not follow the result log; retrying/).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(standby.progress()).toEqual({ seq: 0, records: 0 });
    await standby.stop();
  });
});

