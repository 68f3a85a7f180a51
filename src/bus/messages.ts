import { z } from 'zod';
import { REGION_PATTERN } from '../region.ts';
import { describeIssues } from '../validation.ts';

/**
 * Messages between workers and the controller. Every message from the bus is untrusted:
 * `decode` validates it and names the field and value of the first problem, so a bad
 * message is dropped with a log line and never crashes or confuses an actor.
 */
const workerId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a worker id');
const checkId = z.number().int().positive();
const isoTime = z.string().datetime({ offset: true });
const assignmentId = z.string().regex(/^[A-Za-z0-9_.:-]{1,80}$/, 'expected an assignment id');
/** A worker's region or site (`[worker] region`, `site`); absent from older workers (src/region.ts). */
const region = z.string().regex(REGION_PATTERN, 'expected a region');

/** Controller → worker on bearmon.run.<worker>: run this definition once. */
export const runRequest = z.object({
  type: z.literal('run'),
  assignment: assignmentId,
  checkId,
  checkType: z.string().min(1).max(16),
  data: z.string().max(1024 * 64),
  /** View number of the controller that sent it (failover fencing; 0 before the viewserver). */
  view: z.number().int().min(0).default(0),
  at: isoTime,
});
export type RunRequest = z.output<typeof runRequest>;

/** Worker → everyone on bearmon.result.<worker>.<check>; also in the result log. */
export const resultMessage = z.object({
  type: z.literal('result'),
  checkId,
  worker: workerId,
  assignment: assignmentId,
  status: z.enum(['online', 'offline', 'misconfigured', 'error']),
  message: z.string().max(4096),
  durationMs: z.number().min(0),
  view: z.number().int().min(0).default(0),
  /** The worker's region and site when it ran the check (absent: an older worker, the default region). */
  region: region.optional(),
  site: region.optional(),
  at: isoTime,
});
export type ResultMessage = z.output<typeof resultMessage>;

/** Worker → controller on bearmon.worker.<worker>, every second. */
export const heartbeat = z.object({
  type: z.literal('heartbeat'),
  worker: workerId,
  capacity: z.number().int().min(0),
  running: z.number().int().min(0),
  startedAt: isoTime,
  /** The worker's `[worker] region` and `site` (absent: an older worker, the default region). */
  region: region.optional(),
  site: region.optional(),
  at: isoTime,
});
export type Heartbeat = z.output<typeof heartbeat>;

/** Worker → viewserver: the answer to bearmon.ping.<worker>. */
export const pong = z.object({
  type: z.literal('pong'),
  worker: workerId,
  startedAt: isoTime,
  /** Whether this process may act as controller (it has the database configuration). */
  canControl: z.boolean(),
  /**
   * How long the process's main event loop has not made progress (ms), when the pong comes
   * from a thread of its own: the process is alive, and busy for this long.
   */
  loopLagMs: z.number().min(0).optional(),
});
export type Pong = z.output<typeof pong>;

/** Viewserver → everyone: who the controller is. `view` only ever grows. */
export const viewMessage = z.object({
  type: z.literal('view'),
  view: z.number().int().min(0),
  controller: workerId.nullable(),
  at: isoTime,
});
export type ViewMessage = z.output<typeof viewMessage>;

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses and validates one bus payload. */
export function decode<S extends z.ZodType>(schema: S, data: Uint8Array | string): Decoded<z.output<S>> {
  let json: unknown;
  try {
    json = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
  } catch (err) {
    return { ok: false, error: `invalid JSON (${(err as Error).message})` };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, error: describeIssues(schema.safeParse(json, { reportInput: true }).error!) };
}
