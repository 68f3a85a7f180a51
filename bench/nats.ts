/**
 * A private nats-server for a benchmark: the repository's nats.conf on a free loopback
 * port with its own JetStream store in a temporary directory, removed on stop. The same
 * logic as test/helpers/nats-server.ts, without anything test-runner specific.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inboxPrefix } from '../src/bus/permissions.ts';

const NATS_CONF = fileURLToPath(new URL('../nats.conf', import.meta.url));

/** The development passwords of nats.conf are `bearmon-dev-<user>` (as test/helpers/nats-server.ts). */
const devPassword = (user: string) => `bearmon-dev-${user}`;

/** What `connect()` needs to log in as one nats.conf user (serializable, for child processes). */
export interface NatsLogin {
  servers: string;
  user: string;
  pass: string;
  /** The user's own inbox prefix (_INBOX_<user>): nats.conf lets a user read replies only there, as src/bus/connect.ts connects. */
  inboxPrefix: string;
}

export interface BenchNatsServer {
  /** `admin` by default: full rights, for the bench's own set-up and simulated roles; a worker id for a real worker. */
  login(user?: string): NatsLogin;
  /** The server's process id, so a bench can read its CPU time. */
  pid: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function waitForReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!output.includes('Server is ready')) return;
      child.stderr?.off('data', onData);
      // Keep draining stderr so a chatty server never blocks on a full pipe.
      child.stderr?.resume();
      resolve();
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`nats-server exited with ${code}: ${output}`)));
  });
}

/** `binary` defaults to nats-server on the PATH. */
export async function startBenchNats(binary = 'nats-server'): Promise<BenchNatsServer> {
  const port = await freePort();
  const store = await mkdtemp(join(tmpdir(), 'bearmon-bench-nats-'));
  const child = spawn(binary, ['-c', NATS_CONF, '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await waitForReady(child);
  } catch (err) {
    await rm(store, { recursive: true, force: true });
    throw err;
  }
  return {
    login: (user = 'admin') => ({ servers: `127.0.0.1:${port}`, user, pass: devPassword(user), inboxPrefix: inboxPrefix(user) }),
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(store, { recursive: true, force: true });
    },
  };
}

/** Deletes a stream if it exists (a bench phase starts from an empty result log). */
export async function deleteStream(login: NatsLogin, stream: string): Promise<void> {
  const nc = await connect({ ...login, name: 'bearmon-bench-delete-stream' });
  try {
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
  } finally {
    await nc.close();
  }
}
