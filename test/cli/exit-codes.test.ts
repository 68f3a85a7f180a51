import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Command } from 'commander';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { requestStatus } from '../../src/cli/status.ts';
import { EXIT, UsageError, exitCodeFor } from '../../src/cli/exit-codes.ts';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { createCluster } from '../../src/db/cluster.ts';
import { captureLogs } from '../helpers/logs.ts';
import { testServerOptions } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { runBearmon } from '../helpers/bearmon.ts';
import { refusedPort } from '../helpers/servers.ts';

/** What a real call failed with: each case below provokes the error from a real server (or a real refusal). */
async function failure(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

let nats: NatsServerHandle;
let operator: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer();
  operator = await connect({ ...natsOptions([nats.urlFor('operator')]), inboxPrefix: '_INBOX_operator' });
});
afterAll(async () => {
  await operator?.close();
  await nats?.stop();
});

describe('exitCodeFor: 3 when a service could not be reached', () => {
  it('NATS: connection refused', async () => {
    const port = await refusedPort();
    expect(exitCodeFor(await failure(() => connect({ servers: `127.0.0.1:${port}` })))).toBe(EXIT.unavailable);
  });

  it('NATS: no controller answers `bearmon status` (no responders), or one that never replies (timeout)', async () => {
    expect(exitCodeFor(await failure(() => requestStatus(operator)))).toBe(EXIT.unavailable);
    const admin = await connect(natsOptions([nats.url]));
    onTestFinished(() => admin.close());
    admin.subscribe('bearmon.control.status', { callback: () => {} }); // takes the request, never answers
    await admin.flush();
    expect(exitCodeFor(await failure(() => requestStatus(operator, 300)))).toBe(EXIT.unavailable);
  });

  it('MySQL: connection refused, directly and through the cluster of DSNs', async () => {
    const port = await refusedPort();
    expect(exitCodeFor(await failure(() => mysql.createConnection({ ...testServerOptions(), port })))).toBe(EXIT.unavailable);
    const cluster = createCluster({ dsns: [`bearmon:bearmon@tcp(127.0.0.1:${port})/bearmon`], log: captureLogs().log, connectionLimit: 1 });
    onTestFinished(() => cluster.close());
    expect(exitCodeFor(await failure(() => cluster.run((pool) => pool.query('SELECT 1'))))).toBe(EXIT.unavailable);
  });
});

describe('exitCodeFor: 78 for configuration, including credentials a server refuses', () => {
  it('NATS: a wrong password; a subject the credential may not use', async () => {
    expect(exitCodeFor(await failure(() => connect({ servers: `127.0.0.1:${nats.port}`, user: 'operator', pass: 'wrong' })))).toBe(EXIT.config);
    expect(exitCodeFor(await failure(() => operator.request('bearmon.result.w1.1', '', { timeout: 10_000 })))).toBe(EXIT.config);
  });

  it('MySQL: a wrong password', async () => {
    expect(exitCodeFor(await failure(() => mysql.createConnection({ ...testServerOptions(), password: 'not-the-password' })))).toBe(EXIT.config);
  });

  it('an invalid configuration', () => {
    let thrown: unknown;
    try {
      loadConfig({ env: { BEARMON_WORKER_NUMTHREADS: 'lots' } });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(exitCodeFor(thrown)).toBe(EXIT.config);
  });
});

describe('exitCodeFor: 2 usage, 0 help, 1 anything else', () => {
  it('usage errors, from bearmon and from commander; --help and --version are not errors', async () => {
    expect(exitCodeFor(new UsageError('--since: expected a time'))).toBe(EXIT.usage);
    const program = () =>
      new Command('bearmon')
        .exitOverride()
        .configureOutput({ writeOut: () => {}, writeErr: () => {} })
        .version('1.0.0')
        .option('--json');
    expect(exitCodeFor(await failure(() => program().parseAsync(['node', 'bearmon', '--nope'])))).toBe(EXIT.usage);
    expect(exitCodeFor(await failure(() => program().parseAsync(['node', 'bearmon', '--help'])))).toBe(EXIT.ok);
    expect(exitCodeFor(await failure(() => program().parseAsync(['node', 'bearmon', '--version'])))).toBe(EXIT.ok);
  });

  it('a missing stream or any other failure is the command\'s negative answer', async () => {
    const jsm = await jetstreamManager(operator);
    expect(exitCodeFor(await failure(() => jsm.streams.info('NOPE')))).toBe(EXIT.negative);
    expect(exitCodeFor(new Error('reload failed: database locked'))).toBe(EXIT.negative);
    expect(exitCodeFor('a string')).toBe(EXIT.negative);
  });
});

describe('the binary exits with the code of its failure (docs/CLI.md)', () => {
  it('status with NATS unreachable: 3 and nothing on stdout; an unknown option: 2; a database that refuses: 3', async () => {
    const port = await refusedPort();
    const down = await runBearmon(['status'], { BEARMON_NATS_URL: `nats://127.0.0.1:${port}` });
    expect({ code: down.code, stdout: down.stdout }).toEqual({ code: 3, stdout: '' });
    expect(down.stderr).toMatch(/^bearmon: /m);
    const unknown = await runBearmon(['status', '--nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--nope'/);
    const noDatabase = await runBearmon(['check', 'list'], { BEARMON_CONTROLLER_DATABASE: `root@tcp(127.0.0.1:${port})/bearmon` });
    expect({ code: noDatabase.code, stdout: noDatabase.stdout }).toEqual({ code: 3, stdout: '' });
  }, 60_000);
});
