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

const WORKER_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const ASSIGNMENT_PATTERN = /^[A-Za-z0-9_.:-]{1,80}$/;
const MESSAGE_MAX = 4096;
const worker = z.string().regex(WORKER_PATTERN, 'expected a worker id');
const assignment = z.string().regex(ASSIGNMENT_PATTERN, 'expected an assignment id');

export const resultLine = z.object({
  type: z.literal('result'),
  checkId,
  worker,
  // Verdicts plus the worker-side outcomes the rule ignores.
  status: z.enum(['online', 'offline', 'misconfigured', 'error', 'fail']),
  at: timestamp,
  message: z.string().max(MESSAGE_MAX).default(''),
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
  // The common, well-formed shapes skip zod altogether (a third of replay's time went there);
  // anything the fast check does not accept outright goes through the schema, which decides.
  const fast = fastInputLine(type as string, json as Record<string, unknown>);
  if (fast) return { ok: true, line: fast, header };
  // The common case skips reportInput (half the cost); only a failure re-parses to name the value.
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, line: parsed.data, header };
  return { ok: false, error: describeIssues(schema.safeParse(json, { reportInput: true }).error!) };
}

// ---------------------------------------------------------------------------------------
// The fast path of parseLine: a hand-written check of the input shapes above that accepts a
// line only when every field is plainly valid, and builds exactly the object the schema
// would (same keys, same order, same defaults, unknown keys dropped). It never rejects:
// anything it is unsure of (a wrong type, a missing field, a value out of range, a name
// that is not a string…) returns undefined and the schema parses the line, so a bad line's
// error is the schema's, word for word. test/log/fast-lines.test.ts holds the two equal.

/** The keys each fast check knows, in the schema's order (a test holds them to the schemas' shapes). */
export const FAST_KEYS = {
  check: ['type', 'checkId', 'interval', 'delay', 'status', 'minRegions', 'at', 'name'],
  result: ['type', 'checkId', 'worker', 'status', 'at', 'message', 'assignment', 'region', 'site'],
  assign: ['type', 'checkId', 'worker', 'assignment', 'at', 'deadline', 'audit', 'region'],
  expire: ['type', 'checkId', 'worker', 'assignment', 'at'],
} as const;

const RESULT_STATUSES = new Set(['online', 'offline', 'misconfigured', 'error', 'fail']);

const isPositiveInt = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0;
const matches = (value: unknown, pattern: RegExp): value is string => typeof value === 'string' && pattern.test(value);

/**
 * Date.parse costs more than the rest of a line's checks, and a log's times come a few
 * thousand to the second: the canonical form (2026-01-01T00:00:00.000Z, as the controller
 * writes it) is read from the time of its second, cached per seconds value, plus its
 * milliseconds. Only a second Date.parse found valid with an hour below 24 is cached (from
 * 24:00:00 only .000 is valid), so a cached second and three digits are always valid.
 */
const secondPrefixes: string[] = new Array<string>(60).fill('');
const secondTimes = new Float64Array(60);

/** An RFC 3339 time as the schema's `timestamp` reads it, or NaN when the schema must judge it. */
export function fastTimestamp(value: unknown): number {
  if (typeof value !== 'string') return NaN;
  if (value.length === 24 && value.charCodeAt(19) === 46 && value.charCodeAt(23) === 90) {
    const ms = digit(value, 20) * 100 + digit(value, 21) * 10 + digit(value, 22);
    const second = digit(value, 17) * 10 + digit(value, 18);
    if (ms >= 0 && second >= 0 && second < 60) {
      const prefix = secondPrefixes[second]!;
      if (prefix.length === 19 && samePrefix(value, prefix)) return secondTimes[second]! + ms;
      const time = RFC3339.test(value) ? Date.parse(value) : NaN;
      if (!Number.isNaN(time) && digit(value, 11) * 10 + digit(value, 12) < 24) {
        secondPrefixes[second] = value.slice(0, 19);
        secondTimes[second] = time - ms;
      }
      return time;
    }
  }
  return RFC3339.test(value) ? Date.parse(value) : NaN;
}

/** The decimal digit at `index`, or a large negative number if it is not one. */
function digit(text: string, index: number): number {
  const code = text.charCodeAt(index) - 48;
  return code >= 0 && code <= 9 ? code : -1000;
}

function samePrefix(value: string, prefix: string): boolean {
  for (let i = 18; i >= 0; i--) if (value.charCodeAt(i) !== prefix.charCodeAt(i)) return false;
  return true;
}

/** The parsed line if the fast checks accept it as is; undefined sends it to the schema. */
export function fastInputLine(type: string, json: Record<string, unknown>): InputLine | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const id = json.checkId;
  if (!isPositiveInt(id)) return undefined;
  switch (type) {
    case 'result': {
      const { worker: by, status, message, assignment: run, region, site } = json;
      if (!matches(by, WORKER_PATTERN) || typeof status !== 'string' || !RESULT_STATUSES.has(status)) return undefined;
      const at = fastTimestamp(json.at);
      if (Number.isNaN(at)) return undefined;
      if (message !== undefined && (typeof message !== 'string' || message.length > MESSAGE_MAX)) return undefined;
      const line: ResultLine = { type: 'result', checkId: id, worker: by, status: status as ResultLine['status'], at, message: message ?? '' };
      if (run !== undefined) {
        if (!matches(run, ASSIGNMENT_PATTERN)) return undefined;
        line.assignment = run;
      }
      if (region !== undefined) {
        if (!matches(region, REGION_PATTERN)) return undefined;
        line.region = region;
      }
      if (site !== undefined) {
        if (!matches(site, REGION_PATTERN)) return undefined;
        line.site = site;
      }
      return line;
    }
    case 'assign': {
      const { worker: by, assignment: run, deadline, audit, region } = json;
      if (!matches(by, WORKER_PATTERN) || !matches(run, ASSIGNMENT_PATTERN)) return undefined;
      const at = fastTimestamp(json.at);
      if (Number.isNaN(at)) return undefined;
      const line: AssignLine = { type: 'assign', checkId: id, worker: by, assignment: run, at };
      if (deadline !== undefined) {
        const ms = fastTimestamp(deadline);
        if (Number.isNaN(ms)) return undefined;
        line.deadline = ms;
      }
      if (audit !== undefined) {
        if (typeof audit !== 'boolean') return undefined;
        line.audit = audit;
      }
      if (region !== undefined) {
        if (!matches(region, REGION_PATTERN)) return undefined;
        line.region = region;
      }
      return line;
    }
    case 'check': {
      const { interval, delay, status, minRegions, name } = json;
      if (interval !== undefined && !isPositiveInt(interval)) return undefined;
      if (delay !== undefined && !(Number.isSafeInteger(delay) && (delay as number) >= 0)) return undefined;
      if (status !== undefined && status !== 'online' && status !== 'offline') return undefined;
      const line: CheckLine = { type: 'check', checkId: id, interval: (interval as number | undefined) ?? 60, delay: (delay as number | undefined) ?? 1, status: status ?? 'online' };
      if (minRegions !== undefined) {
        if (!isPositiveInt(minRegions) || minRegions > MAX_MIN_REGIONS) return undefined;
        line.minRegions = minRegions;
      }
      if (json.at !== undefined) {
        const at = fastTimestamp(json.at);
        if (Number.isNaN(at)) return undefined;
        line.at = at;
      }
      if (name !== undefined) {
        // The schema drops a name that is not a string; it keeps the key, so it decides that case.
        if (typeof name !== 'string') return undefined;
        line.name = name;
      }
      return line;
    }
    case 'expire': {
      const { worker: by, assignment: run } = json;
      if (!matches(by, WORKER_PATTERN) || !matches(run, ASSIGNMENT_PATTERN)) return undefined;
      const at = fastTimestamp(json.at);
      if (Number.isNaN(at)) return undefined;
      return { type: 'expire', checkId: id, worker: by, assignment: run, at };
    }
    default:
      return undefined;
  }
}
