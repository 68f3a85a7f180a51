import { z } from 'zod';
import { describeIssues } from '../validation.ts';
import { MAX_MIN_REGIONS, REGION_PATTERN } from '../region.ts';

/**
 * The result-log format (SPEC §6): one JSON object per line, the same objects whether
 * they come from a file, stdin or the JetStream stream.
 *   {"type":"check","checkId":1,"interval":60,"delay":1,"status":"online"}
 *   {"type":"result","checkId":1,"worker":"w1","status":"offline","at":"2026-01-01T00:00:00Z","message":"..."}
 * Derived lines (transition, round, pending, cancelled, notify) may be in the log too;
 * replay re-derives them and skips them as input.
 */
const checkId = z.number().int().positive();
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const TIMESTAMP_MESSAGE = 'expected an RFC 3339 timestamp such as 2026-01-01T00:00:00Z';
/** An RFC 3339 time, as milliseconds since the epoch (parsed once: this runs per log line). */
const timestamp = z.string().transform((value, ctx) => {
  const ms = RFC3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: TIMESTAMP_MESSAGE, input: value });
    return z.NEVER;
  }
  return ms;
});

export const checkLine = z.object({
  type: z.literal('check'),
  checkId,
  interval: z.number().int().positive().default(60),
  delay: z.number().int().min(0).default(1),
  status: z.enum(['online', 'offline']).default('online'),
  /** Distinct regions a change must be seen from (`checks.min_regions`); absent in older logs: 1. */
  minRegions: z.number().int().min(1).max(MAX_MIN_REGIONS).optional(),
  at: timestamp.optional(),
  /**
   * The check's name (`checks.name`), as the controller logs it: replay and export name
   * checks by it. Optional (hand-written logs), and a value that is not a string is
   * dropped rather than costing the line: a name never decides anything.
   */
  name: z.string().optional().catch(undefined),
});

const worker = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a worker id');
const assignment = z.string().regex(/^[A-Za-z0-9_.:-]{1,80}$/, 'expected an assignment id');

export const resultLine = z.object({
  type: z.literal('result'),
  checkId,
  worker,
  // Verdicts plus the worker-side outcomes the rule ignores.
  status: z.enum(['online', 'offline', 'misconfigured', 'error', 'fail']),
  at: timestamp,
  message: z.string().max(4096).default(''),
  /** Which run this answers. Present in the live log; absent in hand-written logs (then always accepted). */
  assignment: assignment.optional(),
  /**
   * The worker's region and site, as its result message named them (src/region.ts). Absent
   * from older workers and hand-written logs: readers take the default region (regionOr).
   */
  region: z.string().regex(REGION_PATTERN, 'expected a region').optional(),
  site: z.string().regex(REGION_PATTERN, 'expected a region').optional(),
});

/** The controller handed a run of the check to a worker (logged before the worker hears of it). */
export const assignLine = z.object({
  type: z.literal('assign'),
  checkId,
  worker,
  assignment,
  at: timestamp,
  /**
   * When the controller stops waiting for the result (its clock). A result's time is
   * clamped into [at, deadline]: a worker's clock cannot date a decision (SPEC §8).
   * Absent in older logs: at + DEFAULT_RESULT_WINDOW_MS.
   */
  deadline: timestamp.optional(),
  /**
   * An audit run of a quarantined worker: its result is scored (does the worker agree with
   * the others again?) and never counted as a vote.
   */
  audit: z.boolean().optional(),
  /**
   * The worker's region as the controller knew it when it handed the run out (from the
   * worker's heartbeats): the fold counts the result for this region, whatever the result
   * itself claims. Absent in older logs: the result's own region.
   */
  region: z.string().regex(REGION_PATTERN, 'expected a region').optional(),
});
/** The run was not answered in time: a late result for it is rejected. */
export const expireLine = z.object({ type: z.literal('expire'), checkId, worker, assignment, at: timestamp });

export type CheckLine = z.output<typeof checkLine>;
/** A result line; `receivedAt` (not in the format) is when the controller or the stream received it. */
export type ResultLine = z.output<typeof resultLine> & { receivedAt?: number };
export type AssignLine = z.output<typeof assignLine>;
export type ExpireLine = z.output<typeof expireLine>;
export type InputLine = CheckLine | ResultLine | AssignLine | ExpireLine;

const INPUT_SCHEMAS = new Map<string, z.ZodType<InputLine>>([
  ['check', checkLine],
  ['result', resultLine],
  ['assign', assignLine],
  ['expire', expireLine],
]);

/** Line types replay derives itself: present in a stream or an export, ignored as input. */
export const DERIVED_TYPES = new Set(['transition', 'round', 'pending', 'cancelled', 'rejected', 'partial', 'probe', 'notify', 'recorded', 'summary']);

/**
 * What delivery did about a notification (bearmon.notify.<check>). Replay cannot derive
 * it (it happened outside), so it is read as an observation: `--explain` shows it.
 */
export const notifyLine = z.object({
  type: z.literal('notify'),
  checkId,
  notification: z.string(),
  contact: z.number().int(),
  contactType: z.string(),
  attempt: z.number().int(),
  outcome: z.string(),
  message: z.string().default(''),
  at: timestamp,
  nextAttemptAt: z.string().optional(),
  /** The grouped (storm) message that carried it, and how many notifications that message carried. */
  carriedBy: z.string().optional(),
  carried: z.number().int().optional(),
});
export type NotifyLine = z.output<typeof notifyLine>;

/** A transition line as the log holds it: which check went where, when (a successor republishes one that never reached the log). */
export interface LoggedTransition {
  checkId: number;
  to: 'online' | 'offline';
  at: string;
}

/** A transition is in MySQL (written now or before): a successor need not write it again. */
export const recordedLine = z.object({ type: z.literal('recorded'), checkId, key: z.string().min(1), transitionAt: timestamp.optional() });
export type RecordedLine = z.output<typeof recordedLine>;

/** What every parsed line says of itself, whatever its type: a reader of the stream checks it against the subject. */
export interface LineHeader {
  type: string;
  /** The payload's check id, if it is a positive integer. */
  checkId?: number;
  /** The view the publisher claims (controller lines carry it), if it is a non-negative integer. */
  view?: number;
}

export type ParsedLine =
  | ({ ok: true; line: InputLine } & { header: LineHeader })
  | ({ ok: true; line: null; notify?: NotifyLine; recorded?: RecordedLine; transition?: LoggedTransition } & { header: LineHeader })
  | { ok: false; error: string };

function headerOf(json: unknown): LineHeader {
  const object = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const { type, checkId, view } = object;
  return {
    type: typeof type === 'string' ? type : '',
    checkId: Number.isSafeInteger(checkId) && (checkId as number) > 0 ? (checkId as number) : undefined,
    view: Number.isSafeInteger(view) && (view as number) >= 0 ? (view as number) : undefined,
  };
}

/** Parses one line; the error names the field and value. A derived line parses to null. */
export function parseLine(text: string): ParsedLine {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `invalid JSON (${(err as Error).message})` };
  }
  const header = headerOf(json);
  const type = (json as { type?: unknown } | null)?.type;
  if (type === 'notify') {
    const notify = notifyLine.safeParse(json);
    return notify.success ? { ok: true, line: null, notify: notify.data, header } : { ok: true, line: null, header };
  }
  if (type === 'recorded') {
    const recorded = recordedLine.safeParse(json);
    return recorded.success ? { ok: true, line: null, recorded: recorded.data, header } : { ok: true, line: null, header };
  }
  if (type === 'transition') {
    const { checkId: id, to, at } = json as Record<string, unknown>;
    const transition: LoggedTransition | undefined = Number.isSafeInteger(id) && (to === 'online' || to === 'offline') && typeof at === 'string' ? { checkId: id as number, to, at } : undefined;
    return transition ? { ok: true, line: null, transition, header } : { ok: true, line: null, header };
  }
  if (typeof type === 'string' && DERIVED_TYPES.has(type)) return { ok: true, line: null, header };
  const schema = typeof type === 'string' ? INPUT_SCHEMAS.get(type) : undefined;
  if (!schema) return { ok: false, error: `type: expected "check", "result", "assign" or "expire" (value ${JSON.stringify(type) ?? 'undefined'})` };
  // The common case skips reportInput (half the cost); only a failure re-parses to name the value.
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, line: parsed.data, header };
  return { ok: false, error: describeIssues(schema.safeParse(json, { reportInput: true }).error!) };
}
