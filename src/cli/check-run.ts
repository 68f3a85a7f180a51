import { createCheckRegistry } from '../checks/registry.ts';
import { runCheck } from '../checks/run.ts';
import type { RunStatus } from '../checks/types.ts';
import type { Config } from '../config/schema.ts';

/** Exit codes of `bearmon check run`, so scripts can branch on the outcome. */
export const CHECK_EXIT_CODES: Record<RunStatus, number> = { online: 0, offline: 1, misconfigured: 2, error: 3 };

export interface CheckRunOptions {
  type: string;
  data: string;
  sourceAddress?: string;
  dnsServer?: string;
  json?: boolean;
}

/** Runs one check exactly as a worker would and prints the result. Returns the exit code. */
export async function checkRunCommand(config: Config, options: CheckRunOptions): Promise<number> {
  const result = await runCheck(createCheckRegistry(), options.type, options.data, {
    now: Date.now,
    dnsServer: options.dnsServer ?? config.dns.server,
    sourceAddress: options.sourceAddress ?? config.worker.sourceAddress,
  });
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ type: options.type, ...result })}\n`);
  } else {
    process.stdout.write(`${result.status}: ${result.message} (${result.durationMs} ms)\n`);
  }
  return CHECK_EXIT_CODES[result.status];
}
