import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NATS_CONF = new URL('../../nats.conf', import.meta.url).pathname;
const BINARY = process.env.NATS_SERVER ?? 'nats-server';

/** The development passwords of nats.conf are `bearmon-dev-<user>`. */
export const devPassword = (user: string) => `bearmon-dev-${user}`;

export interface NatsServerHandle {
  /** Connects as `admin` (full rights: the tests' own set-up). */
  url: string;
  /** URL with the credentials of one nats.conf user (viewserver, operator, w1, ...). */
  urlFor(user: string): string;
  port: number;
  stop(): Promise<void>;
  /** Stops and starts again on the same port and store (a server restart). */
  restart(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Resolves when nats-server says it is ready (rejects if it exits first, with what it said).
 * Its stderr keeps flowing afterwards, so a chatty server never blocks on a full pipe.
 */
export function waitForReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Server is ready')) {
        child.stderr?.off('data', onData);
        child.stderr?.resume();
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) => reject(new Error(`nats-server exited with ${code}: ${output}`));
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Starts nats-server from the repository's nats.conf on a free loopback port with its own JetStream store. */
export async function startNatsServer(): Promise<NatsServerHandle> {
  const port = await freePort();
  const store = await mkdtemp(join(tmpdir(), 'bearmon-nats-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(BINARY, ['-c', NATS_CONF, '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: ['ignore', 'ignore', 'pipe'] });
    await waitForReady(child);
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `nats://admin:${devPassword('admin')}@127.0.0.1:${port}`,
    urlFor: (user) => `nats://${user}:${devPassword(user)}@127.0.0.1:${port}`,
    port,
    stop: async () => {
      await stop();
      await rm(store, { recursive: true, force: true });
    },
    restart: async () => {
      await stop();
      await start();
    },
  };
}
