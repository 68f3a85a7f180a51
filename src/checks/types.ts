import type { z } from 'zod';

/** What a check concludes about its target. */
export type TargetStatus = 'online' | 'offline';

/**
 * What a run reports. `misconfigured` means the check could not even be understood
 * (bad JSON, unknown type, invalid value); `error` means the worker itself failed
 * (a bug, not the target). Neither may ever cause an alert: the decision rule only
 * counts `online` and `offline`.
 */
export type RunStatus = TargetStatus | 'misconfigured' | 'error';

export interface CheckOutcome {
  status: TargetStatus;
  message: string;
}

export interface CheckResult {
  status: RunStatus;
  message: string;
  /** Wall time the run took, measured with the injected clock. */
  durationMs: number;
}

/** Everything a check may touch besides its parameters: injected, never global. */
export interface CheckContext {
  /** Aborted when the run's deadline passes; checks must stop promptly. */
  signal: AbortSignal;
  /** Milliseconds since the epoch. Injected so tests control time (e.g. certificate expiry). */
  now: () => number;
  /** Local address outgoing connections bind to (multi-homed probes, per-worker test views). */
  sourceAddress?: string;
  /** Resolver used by `dns` checks that name no server: host[:port]. */
  dnsServer: string;
}

/** One check type: its parameter schema and one run function. */
export interface CheckType<S extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly schema: S;
  /** How long a run of these parameters may take before the runner gives up on it. */
  deadlineMs(params: z.output<S>): number;
  run(params: z.output<S>, ctx: CheckContext): Promise<CheckOutcome>;
}

/** Identity helper that keeps the schema's output type attached to `run`. */
export function defineCheck<S extends z.ZodType>(check: CheckType<S>): CheckType<S> {
  return check;
}
