import { createCheckRegistry } from '../../src/checks/registry.ts';
import { runCheck, type RunContext } from '../../src/checks/run.ts';
import type { CheckResult } from '../../src/checks/types.ts';

const registry = createCheckRegistry();

/** Runs a check through the real registry and runner, as a worker would. */
export function check(type: string, data: unknown, context: Partial<RunContext> = {}): Promise<CheckResult> {
  const json = typeof data === 'string' ? data : JSON.stringify(data);
  return runCheck(registry, type, json, { now: Date.now, dnsServer: '127.0.0.1:53', ...context });
}
