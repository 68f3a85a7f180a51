import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { onTestFinished } from 'vitest';
import { BIN } from './bearmon.ts';

export interface LineProcess {
  child: ChildProcess;
  /** Every stdout line as it arrives (not only JSON log lines: `trace`, `start` print text). */
  lines: string[];
  stderr: string[];
  /** Resolves with how the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (SIGINT: Ctrl-C) and waits for the process to end. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a long-running `bin/bearmon` and keeps its stdout and stderr as lines. With
 * `group`, it leads a process group of its own, so the processes it starts (`bearmon start`
 * starts a viewserver and three workers) are ended with it. Whatever still runs when the
 * test finishes is killed (SIGKILL, the group when there is one). `cwd`: where it runs
 * (where a `./bearmon.cfg` would be found).
 */
export function spawnBearmon(args: string[], env: Record<string, string>, options: { group?: boolean; cwd?: string } = {}): LineProcess {
  const child = spawn(BIN, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.group === true,
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const send = (signal: NodeJS.Signals) => {
    try {
      if (options.group) process.kill(-child.pid!, signal);
      else child.kill(signal);
    } catch {
      // already gone
    }
  };
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) send('SIGKILL');
    else if (options.group) send('SIGKILL'); // the leader is gone; what it started may not be
    await exited;
  });
  return {
    child,
    lines,
    stderr,
    exited,
    stop: async (signal = 'SIGINT') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
