import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { drainThenClose, SHUTDOWN_BOUND_MS, stopWithin } from '../../src/actors/shutdown.ts';
import { migrate } from '../../src/db/migrate.ts';
import { runBearmon, startBearmon, type BearmonProcess } from '../helpers/bearmon.ts';
import { captureLogs } from '../helpers/logs.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

const never = () => new Promise<never>(() => {});

describe('stopWithin', () => {
  it('runs the steps in order, names the one that hangs or fails, and still runs the rest', async () => {
    const { log, lines } = captureLogs();
    const ran: string[] = [];
    const result = await stopWithin(
      [
        { name: 'hangs', run: () => (ran.push('hangs'), never()), timeoutMs: 20 },
        { name: 'fails', run: () => (ran.push('fails'), Promise.reject(new Error('boom'))) },
        { name: 'fine', run: () => void ran.push('fine') },
      ],
      { log, deadlineMs: 5_000 },
    );
    expect(ran).toEqual(['hangs', 'fails', 'fine']);
    expect(result.unfinished).toEqual(['hangs']);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'warn', step: 'hangs', msg: expect.stringMatching(/"hangs" did not finish in time/) }),
      expect.objectContaining({ level: 'warn', step: 'fails', error: 'boom' }),
    ]);
  });

  it('keeps the time a later step reserves, and starts steps past the deadline without waiting', async () => {
    const { log, matching } = captureLogs();
    const ran: string[] = [];
    const result = await stopWithin(
      [
        // Would take the whole deadline; must leave the reserved part to the connection step.
        { name: 'role', run: never },
        { name: 'connection', run: () => (ran.push('connection'), never()), reserveMs: 100 },
        { name: 'late', run: () => (ran.push('late'), never()) },
      ],
      { log, deadlineMs: 200 },
    );
    expect(ran).toEqual(['connection', 'late']);
    expect(result.unfinished).toEqual(['role', 'connection', 'late']);
    expect(matching(/no time left for "late"; started it without waiting/)).toHaveLength(1);
  });
});

describe('drainThenClose', () => {
  it('closes a connection whose server is gone instead of draining forever', async () => {
    const nats = await startNatsServer();
    onTestFinished(() => nats.stop());
    const nc = await connect({ ...natsOptions([nats.url]), maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    nc.subscribe('bearmon.test.>', { callback: () => {} });
    await nc.flush();
    await nats.stop();
    const { log, matching } = captureLogs();
    await drainThenClose(nc, log, 500);
    expect(nc.isClosed()).toBe(true);
    expect(matching(/not drained; closing it/)).toHaveLength(1);
  });
});

describe('exitIfShutdownHangs', () => {
  it('ends a process that something keeps alive after the signal, logging why', async () => {
    const shutdownModule = new URL('../../src/actors/shutdown.ts', import.meta.url).href;
    const logModule = new URL('../../src/log.ts', import.meta.url).href;
    const script = [
      `const { exitIfShutdownHangs } = await import(${JSON.stringify(shutdownModule)});`,
      `const { createLogger } = await import(${JSON.stringify(logModule)});`,
      'const controller = new AbortController();',
      'exitIfShutdownHangs(controller.signal, createLogger(), 100);',
      'setInterval(() => {}, 1000); // a handle that never goes away',
      'controller.abort();',
    ].join('\n');
    // The log is on stderr (a pipe here, so JSON).
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(JSON.parse(stderr.trim())).toMatchObject({ level: 'error', afterMs: 100, msg: 'shutdown did not finish in time; exiting anyway' });
  });
});

/**
 * SIGTERM ends every role within the bound even with NATS or MySQL gone. The bound is the
 * poll's timeout; the test's own timeout leaves room for starting the servers and process.
 * That room is generous (STARTUP_WAIT_MS for the process to say it started, plus the 10 s
 * bound, plus the servers): on a loaded machine a tsx-compiled child alone can take seconds
 * to start, and a 15 s test timeout was less than the waits inside it.
 */
const STARTUP_WAIT_MS = 30_000;
const PROCESS_TEST_MS = STARTUP_WAIT_MS + SHUTDOWN_BOUND_MS + 20_000;
describe('SIGTERM with a server gone', () => {
  const exitedWithinBound = async (process: BearmonProcess) => {
    process.child.kill('SIGTERM');
    await expect
      .poll(() => process.child.exitCode !== null || process.child.signalCode !== null, { timeout: SHUTDOWN_BOUND_MS, interval: 50 })
      .toBe(true);
    // Ended by bearmon's own shutdown, not by the signal's default action.
    expect(process.child.signalCode).toBeNull();
  };
  const logged = (process: BearmonProcess, msg: string) =>
    expect.poll(() => process.logs.some((line) => line.msg === msg), { timeout: STARTUP_WAIT_MS, interval: 50 }).toBe(true);

  /** A worker acting as controller, reaching MariaDB through a proxy the test can cut. */
  async function controllerProcess(nats: NatsServerHandle) {
    const db = await freshDatabase();
    await migrate(db);
    const mysql = await startTcpProxy({ host: db.host!, port: db.port! });
    const worker = startBearmon(['worker', '--controller'], {
      BEARMON_NATS_URL: nats.url,
      BEARMON_WORKER_ID: 'w1',
      BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${mysql.host}:${mysql.port})/${db.database}`,
    });
    await logged(worker, 'controller started');
    return { worker, mysql };
  }

  it('bearmon worker --controller exits after nats-server stops', async () => {
    const nats = await startNatsServer();
    onTestFinished(() => nats.stop());
    const { worker } = await controllerProcess(nats);
    await nats.stop();
    await exitedWithinBound(worker);
  }, PROCESS_TEST_MS);

  it('bearmon worker --controller exits with MySQL unreachable', async () => {
    const nats = await startNatsServer();
    onTestFinished(() => nats.stop());
    const { worker, mysql } = await controllerProcess(nats);
    mysql.cut();
    await exitedWithinBound(worker);
  }, PROCESS_TEST_MS);

  it('bearmon worker --controller exits with both NATS and MySQL gone', async () => {
    const nats = await startNatsServer();
    onTestFinished(() => nats.stop());
    const { worker, mysql } = await controllerProcess(nats);
    mysql.cut();
    await nats.stop();
    await exitedWithinBound(worker);
  }, PROCESS_TEST_MS);

  it('bearmon worker exits after nats-server stops', async () => {
    const nats = await startNatsServer();
    onTestFinished(() => nats.stop());
    const worker = startBearmon(['worker'], { BEARMON_NATS_URL: nats.url, BEARMON_WORKER_ID: 'w1' });
    await logged(worker, 'worker started');
    await nats.stop();
    await exitedWithinBound(worker);
  }, PROCESS_TEST_MS);

  it('bearmon viewserver exits after nats-server stops', async () => {
    const nats = await startNatsServer();
    onTestFinished(() => nats.stop());
    // What the viewserver may not create itself (its KV bucket), made with the admin credentials.
    expect((await runBearmon(['setup'], { BEARMON_NATS_URL: nats.url })).code).toBe(0);
    const viewserver = startBearmon(['viewserver'], { BEARMON_NATS_URL: nats.url });
    await logged(viewserver, 'viewserver started');
    await nats.stop();
    await exitedWithinBound(viewserver);
  }, PROCESS_TEST_MS);
});
