import type { Logger } from '../log.ts';

/**
 * Fault injection for tests and drills, off unless asked for: with BEARMON_FAULT_STALL_MS
 * set, SIGUSR2 blocks this process's main event loop for that many milliseconds (a busy
 * CPU, a long GC), so one can see that a busy controller is not replaced.
 */
export function installStallOnSignal(env: NodeJS.ProcessEnv, log: Logger): void {
  const ms = Number(env.BEARMON_FAULT_STALL_MS);
  if (!Number.isFinite(ms) || ms <= 0) return;
  process.on('SIGUSR2', () => {
    log.warn({ ms }, 'fault injection: blocking the main event loop');
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // busy: nothing else runs on this thread meanwhile
    }
    log.warn({ ms }, 'fault injection: main event loop free again');
  });
}
