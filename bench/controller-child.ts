/**
 * The parent's side of bench/controller-process.ts: forks the controller under tsx and
 * talks to it over IPC (one request at a time).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ProbePolicy, QuarantineMode } from '../src/decide/probe-score.ts';
import type { NatsLogin } from './nats.ts';
import { within } from './stats.ts';

export interface ChildSettings {
  nats: NatsLogin;
  dsn: string;
  id: string;
  confirmations: number;
  reloadIntervalMs: number;
  stream: string;
  retentionMs: number;
  /** Count results reaching the controller's connection and its rejections (throughput bench). */
  countResults: boolean;
  /** Faulty-probe scoring (ControllerDeps.quarantine / probe); absent: off. */
  quarantine?: QuarantineMode;
  probe?: ProbePolicy;
  /** Run the snapshot keeper as the controller role does, storing every this many ms (0: no keeper). Default 60 s. */
  snapshotMs?: number;
}

/** `gc`: collect garbage first, so heapUsed is what the controller retains. */
export type ChildRequest = { type: 'sample'; gc?: boolean } | { type: 'stop' };

export interface ChildSample {
  type: 'sample';
  /** performance.now() of the child (only differences matter). */
  at: number;
  cpuMicros: NodeJS.CpuUsage;
  rss: number;
  heapUsed: number;
  results: number;
  rejected: number;
  /** Lines on bearmon.decision.> by type (pending, round, cancelled, rejected, partial, probe), with countResults. */
  decisions: Record<string, number>;
  /** Event-loop delay since the previous sample. */
  loopDelayMs: { p50: number; p99: number; max: number };
  /** Warning/error log lines so far ("level: message" -> count), unhandled rejections included. */
  logs: Record<string, number>;
}

export type ChildReply = { type: 'ready'; startupMs: number } | ChildSample | { type: 'stopped'; logs: Record<string, number>; steps: Record<string, number | string> };

export interface ControllerChild {
  /** How long startController took (loading every check included). */
  startupMs: number;
  pid: number;
  sample(options?: { gc?: boolean }): Promise<ChildSample>;
  /**
   * Stops the controller; resolves with its warning/error log counts, plus an entry for any
   * stop step that took over a second (or did not finish), as "stop: <step>".
   */
  stop(): Promise<Record<string, number>>;
}

const SCRIPT = fileURLToPath(new URL('./controller-process.ts', import.meta.url));

function nextReply<T extends ChildReply['type']>(child: ChildProcess, type: T, ms: number): Promise<Extract<ChildReply, { type: T }>> {
  const reply = new Promise<Extract<ChildReply, { type: T }>>((resolve, reject) => {
    const onMessage = (message: ChildReply) => {
      if (message.type !== type) return;
      cleanup();
      resolve(message as Extract<ChildReply, { type: T }>);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`bench controller exited (${code}) before sending ${type}`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
  return within(reply, ms, `bench controller ${type}`);
}

/** `nodeOptions`: extra node flags for the child (e.g. --cpu-prof when looking for a hot spot). */
export async function forkController(settings: ChildSettings, nodeOptions: string[] = []): Promise<ControllerChild> {
  const child = fork(SCRIPT, [JSON.stringify(settings)], { execArgv: ['--expose-gc', ...nodeOptions, '--import', 'tsx'], stdio: ['ignore', 2, 'inherit', 'ipc'] });
  let ready;
  try {
    ready = await nextReply(child, 'ready', 120_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    startupMs: ready.startupMs,
    pid: child.pid!,
    sample: (options = {}) => {
      const reply = nextReply(child, 'sample', 10_000);
      child.send({ type: 'sample', ...options } satisfies ChildRequest);
      return reply;
    },
    stop: async () => {
      const reply = nextReply(child, 'stopped', 30_000);
      child.send({ type: 'stop' } satisfies ChildRequest);
      try {
        const { logs, steps } = await reply;
        const slow = Object.entries(steps).filter(([, outcome]) => typeof outcome !== 'number' || outcome > 1000);
        return { ...logs, ...Object.fromEntries(slow.map(([name, outcome]) => [`stop: ${name} ${typeof outcome === 'number' ? `took ${outcome} ms` : outcome}`, 1])) };
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = once(child, 'exit');
          // A clean stop disconnects and exits by itself; this bounds a stuck one.
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }
      }
    },
  };
}
