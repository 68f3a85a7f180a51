import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { onTestFinished } from 'vitest';

export const BIN = new URL('../../bin/bearmon', import.meta.url).pathname;

/** Only what bearmon needs from the environment, plus the test's settings. */
const environment = (env: Record<string, string>) => ({ PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env });

/** Runs `bin/bearmon` to completion; resolves with its exit code and output. */
export function runBearmon(args: string[], env: Record<string, string> = {}, input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(BIN, args, { env: environment(env) }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

export interface BearmonProcess {
  child: ChildProcess;
  /** Its JSON log lines (stderr: JSON, since it is a pipe, not a terminal), as they arrive. */
  logs: Record<string, unknown>[];
}

/** Starts a long-running `bin/bearmon` (worker, viewserver); killed (SIGKILL) when the test finishes. */
export function startBearmon(args: string[], env: Record<string, string>): BearmonProcess {
  const child = spawn(BIN, args, { env: environment(env), stdio: ['ignore', 'ignore', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line));
    } catch {
      // not a log line
    }
  });
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  return { child, logs };
}
