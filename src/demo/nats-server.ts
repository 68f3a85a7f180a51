import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's nats.conf: its users and permissions are the ones every role is made for. */
export const NATS_CONF = fileURLToPath(new URL('../../nats.conf', import.meta.url));

/**
 * Where nats-server is, found as scripts/ensure-env.sh finds it (PATH, then /usr/sbin and
 * /usr/bin, where Debian puts it even when root's PATH is not a login PATH). $NATS_SERVER
 * wins, as in the tests' helper.
 */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    ...(env.NATS_SERVER ? [env.NATS_SERVER] : []),
    ...(env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'nats-server')),
    '/usr/sbin/nats-server',
    '/usr/bin/nats-server',
  ];
  const found = candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!found) throw new Error('nats-server not found (looked at $NATS_SERVER, in PATH, /usr/sbin, /usr/bin): install it (sudo apt-get install nats-server), or run `npm start`, which does');
  return found;
}

export interface DemoNatsServer {
  /** nats://127.0.0.1:PORT, without credentials: every user of nats.conf connects with its own. */
  url: string;
  port: number;
  pid: number;
  /** Resolves when the server has exited, for whatever reason. */
  exited: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts nats-server from the repository's nats.conf (its users, JetStream on) on a port
 * the kernel picks (`-p -1`: no window between choosing a free port and binding it) on
 * loopback, with its own store directory; its log goes to `logFile`. It runs in a process
 * group of its own, so a Ctrl-C in the terminal reaches the demo, which stops its workers
 * first and the server last, not the server while workers still talk to it.
 */
export async function startDemoNatsServer(options: { storeDir: string; logFile: string; binary?: string }): Promise<DemoNatsServer> {
  const binary = options.binary ?? findNatsServer();
  const child: ChildProcess = spawn(binary, ['-c', NATS_CONF, '-a', '127.0.0.1', '-p', '-1', '-sd', options.storeDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  let ready = false;
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot start ${binary}: ${err.message}`)));
    child.stderr!.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (ready) return;
      output += chunk.toString();
      const listening = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(output);
      if (listening && output.includes('Server is ready')) {
        ready = true;
        resolve(Number(listening[1]));
      }
    });
    void exited.then(() => reject(new Error(`${binary} -c ${NATS_CONF} exited before it was ready (code ${child.exitCode}):\n${output.trim().split('\n').slice(-5).join('\n')}`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    log.end();
  };
  return { url: `nats://127.0.0.1:${port}`, port, pid: child.pid!, exited, stop };
}

/**
 * Ends what a demo that was killed (SIGKILL, a crash) left running: the processes listed
 * in its pid file whose command line still names the demo's state directory (a pid reused
 * by an unrelated process names something else and is left alone). Linux only (/proc).
 */
export async function killLeftovers(pidFile: string, stateDir: string): Promise<number[]> {
  let pids: number[];
  try {
    pids = readFileSync(pidFile, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  const ours = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.startsWith(`${stateDir}/`));
    } catch {
      return false;
    }
  };
  const killed = pids.filter((pid) => Number.isInteger(pid) && pid > 1 && ours(pid));
  for (const pid of killed) process.kill(pid, 'SIGKILL');
  // Not our children, so no exit event: wait until /proc no longer lists them (a killed
  // process disappears once its parent, init by now, reaps it) before reusing the store.
  for (const pid of killed) {
    for (let i = 0; i < 100 && ours(pid); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return killed;
}
