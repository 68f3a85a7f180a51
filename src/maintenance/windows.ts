/**
 * Maintenance windows (issue 15): while one covers a check, its transitions are recorded but
 * its notifications are held until the window ends. Pure: the rows come from
 * `bearmon_maintenance` (or the CLI / YAML), time is passed in.
 *
 * Kinds and their `spec` (JSON in the row):
 *   once    { "start": "2026-12-24T22:00", "end": "2026-12-25T02:00" }   local times in the
 *           window's time zone, or instants with an offset ("…Z", "…+01:00")
 *   weekly  { "days": ["sat", "sun"], "start": "02:00", "duration": "2h" }
 *   cron    { "cron": "0 2 * * 0", "duration": "90m" }                     start times, 5 or 6 fields
 *
 * Recurring kinds are evaluated with cron-parser (well kept, time-zone aware through luxon,
 * and the one common cron library that walks backwards with prev(), which "is now inside
 * an occurrence?" needs); a weekly window is the cron expression of its start times.
 */
import { createRequire } from 'node:module';
import type { CronExpressionParser as CronParser } from 'cron-parser';
import { showValue } from '../validation.ts';

let cronParser: typeof CronParser | undefined;
/**
 * cron-parser (and luxon under it), required on first use: the commands that load this
 * module without a recurring window to evaluate (`bearmon check list` reads the
 * maintenance table through it) do not pay for loading them at start-up.
 */
function cronExpressions(): typeof CronParser {
  return (cronParser ??= (createRequire(import.meta.url)('cron-parser') as typeof import('cron-parser')).CronExpressionParser);
}

export const MAINTENANCE_KINDS = ['once', 'weekly', 'cron'] as const;
export type MaintenanceKind = (typeof MAINTENANCE_KINDS)[number];

/** A window as the controller evaluates it (already judged). */
export interface MaintenanceWindow {
  name: string;
  /** null: every check. */
  checkId: number | null;
  kind: MaintenanceKind;
  spec: OnceSpec | WeeklySpec | CronSpec;
  timeZone: string;
  enabled: boolean;
}
export interface OnceSpec {
  start: string;
  end: string;
}
export interface WeeklySpec {
  days: string[];
  start: string;
  duration: string;
}
export interface CronSpec {
  cron: string;
  duration: string;
}

/** The window in force: its name and when the current occurrence ends. */
export interface ActiveWindow {
  name: string;
  start: Date;
  until: Date;
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** An occurrence longer than a week would cover every week: an error, not a window. */
const MAX_DURATION_MS = 7 * 86_400_000;

/**
 * The window covering `checkId` at `now` (a window with check null covers every check).
 * Of several, the one ending last: notifications are held until all of them are over.
 */
export function activeWindow(windows: readonly MaintenanceWindow[], checkId: number, now: Date): ActiveWindow | null {
  let best: ActiveWindow | null = null;
  for (const w of windows) {
    if (!w.enabled || (w.checkId !== null && w.checkId !== checkId)) continue;
    const occurrence = occurrenceAt(w, now);
    if (occurrence && (!best || occurrence.until > best.until)) best = { name: w.name, ...occurrence };
  }
  return best;
}

/** The occurrence of `w` containing `now` (start ≤ now < end), if any. */
export function occurrenceAt(w: MaintenanceWindow, now: Date): { start: Date; until: Date } | null {
  if (w.kind === 'once') {
    const spec = w.spec as OnceSpec;
    const start = instantIn(spec.start, w.timeZone);
    const until = instantIn(spec.end, w.timeZone);
    return start !== null && until !== null && start <= now && now < until ? { start, until } : null;
  }
  const { expression, durationMs } = recurrence(w);
  // prev() is strictly before its start date: start just after now so an occurrence starting at now counts.
  const cron = cronExpressions().parse(expression, { currentDate: new Date(now.getTime() + 1), tz: w.timeZone });
  const start = cron.prev().toDate();
  const until = new Date(start.getTime() + durationMs);
  return start <= now && now < until ? { start, until } : null;
}

function recurrence(w: MaintenanceWindow): { expression: string; durationMs: number } {
  if (w.kind === 'cron') {
    const spec = w.spec as CronSpec;
    return { expression: spec.cron, durationMs: durationMs(spec.duration) ?? 0 };
  }
  const spec = w.spec as WeeklySpec;
  const [hh, mm] = spec.start.split(':').map(Number);
  const days = spec.days.map((d) => DAYS.indexOf(d.toLowerCase().slice(0, 3) as (typeof DAYS)[number])).join(',');
  return { expression: `${mm} ${hh} * * ${days}`, durationMs: durationMs(spec.duration) ?? 0 };
}

/** "90m", "2h", "1d", "45s" or whole seconds. */
export function durationMs(text: unknown): number | null {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text > 0 ? text * 1000 : null;
  if (typeof text !== 'string') return null;
  const match = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(text);
  return match ? Number(match[1]) * UNIT_MS[match[2] || 's']! : null;
}

/** Is this an IANA time zone the runtime knows (Intl throws a RangeError otherwise)? */
export function isTimeZone(zone: unknown): zone is string {
  if (typeof zone !== 'string' || zone.trim() === '') return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * A time as an instant: with an offset or Z it is that instant; without one it is a wall-clock
 * time in `zone` (the offset found by asking Intl what the guess reads as there, twice, so a
 * time just after a DST change lands right). null when it is no time at all.
 */
export function instantIn(text: string, zone: string): Date | null {
  const local = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!local) {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(text.trim())) return null;
    const at = new Date(text.trim());
    return Number.isNaN(at.getTime()) ? null : at;
  }
  const [y, mo, d, h, mi, s] = local.slice(1).map((v) => Number(v ?? 0));
  const wall = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
  if (new Date(wall).getUTCDate() !== d || h! > 23 || mi! > 59 || s! > 59) return null; // 2026-02-30, 25:00
  let guess = wall - offsetMs(wall, zone);
  guess = wall - offsetMs(guess, zone);
  return new Date(guess);
}

/** How far `zone`'s wall clock is ahead of UTC at `at`. */
function offsetMs(at: number, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(at));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - Math.floor(at / 1000) * 1000;
}

/** One problem with operator input: the field and a message naming the value. */
export interface WindowProblem {
  field: string;
  message: string;
}

const problem = (field: string, expected: string, value: unknown): WindowProblem => ({ field, message: `${field}: ${expected} (value ${showValue(value)})` });

/**
 * Judges a window from the CLI, the YAML of `bearmon apply` or a row: every problem names the
 * field and the value. `spec` may be an object or its JSON text.
 */
export function judgeWindow(input: { name?: unknown; checkId?: unknown; kind?: unknown; spec?: unknown; timeZone?: unknown; enabled?: unknown }): { ok: true; window: MaintenanceWindow } | { ok: false; problems: WindowProblem[] } {
  const problems: WindowProblem[] = [];
  const name = typeof input.name === 'string' ? input.name.trim() : '';
  if (name === '' || name.length > 64) problems.push(problem('name', 'expected a name of 1 to 64 characters', input.name));
  const checkId = input.checkId ?? null;
  if (checkId !== null && !(typeof checkId === 'number' && Number.isSafeInteger(checkId) && checkId > 0)) problems.push(problem('check', 'expected a check id, or none for every check', checkId));
  const timeZone = input.timeZone ?? 'UTC';
  if (!isTimeZone(timeZone)) problems.push(problem('timezone', 'expected an IANA time zone such as Europe/Berlin or UTC', timeZone));
  const kind = input.kind;
  if (!(MAINTENANCE_KINDS as readonly unknown[]).includes(kind)) problems.push(problem('kind', `expected one of ${MAINTENANCE_KINDS.join(', ')}`, kind));
  let spec: Record<string, unknown> = {};
  if (typeof input.spec === 'string') {
    try {
      spec = JSON.parse(input.spec) as Record<string, unknown>;
    } catch {
      problems.push(problem('spec', 'expected JSON', input.spec));
    }
  } else if (typeof input.spec === 'object' && input.spec !== null && !Array.isArray(input.spec)) spec = input.spec as Record<string, unknown>;
  else problems.push(problem('spec', 'expected the window as an object', input.spec));
  const zone = isTimeZone(timeZone) ? timeZone : 'UTC';
  const duration = (): string => {
    const ms = durationMs(spec.duration);
    if (ms === null || ms > MAX_DURATION_MS) problems.push(problem('duration', 'expected a duration of at most 7d such as 90m, 2h, 1d', spec.duration));
    return String(spec.duration);
  };
  let judgedSpec: MaintenanceWindow['spec'] = { cron: '', duration: '' };
  if (kind === 'once') {
    const start = typeof spec.start === 'string' ? instantIn(spec.start, zone) : null;
    const end = typeof spec.end === 'string' ? instantIn(spec.end, zone) : null;
    if (!start) problems.push(problem('start', 'expected a time such as 2026-12-24T22:00 (in the time zone) or 2026-12-24T21:00Z', spec.start));
    if (!end) problems.push(problem('end', 'expected a time such as 2026-12-25T02:00 (in the time zone) or 2026-12-25T01:00Z', spec.end));
    if (start && end && end <= start) problems.push(problem('end', `expected a time after the start ${String(spec.start)}`, spec.end));
    judgedSpec = { start: String(spec.start), end: String(spec.end) };
  } else if (kind === 'weekly') {
    const days = Array.isArray(spec.days) ? spec.days : typeof spec.days === 'string' ? spec.days.split(',') : null;
    const known = (d: unknown) => typeof d === 'string' && (DAYS as readonly string[]).includes(d.trim().toLowerCase().slice(0, 3)) && /^[a-z]+$/i.test(d.trim());
    if (!days || days.length === 0 || !days.every(known)) problems.push(problem('days', 'expected days of the week such as mon,wed or sat,sun', spec.days));
    const time = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(String(spec.start ?? ''));
    if (!time) problems.push(problem('start', 'expected a time of day HH:MM such as 02:00', spec.start));
    judgedSpec = { days: (days ?? []).map((d) => String(d).trim().toLowerCase().slice(0, 3)), start: String(spec.start), duration: duration() };
  } else if (kind === 'cron') {
    const expression = typeof spec.cron === 'string' ? spec.cron.trim() : '';
    let valid = expression !== '' && expression.split(/\s+/).length >= 5;
    if (valid) {
      try {
        cronExpressions().parse(expression, { tz: zone, strict: false });
      } catch {
        valid = false;
      }
    }
    if (!valid) problems.push(problem('cron', 'expected a cron expression of the start times such as "0 2 * * 0" (minute hour day month weekday)', spec.cron));
    judgedSpec = { cron: expression, duration: duration() };
  }
  if (input.enabled !== undefined && typeof input.enabled !== 'boolean') problems.push(problem('enabled', 'expected true or false', input.enabled));
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, window: { name, checkId: checkId as number | null, kind: kind as MaintenanceKind, spec: judgedSpec, timeZone: timeZone as string, enabled: input.enabled !== false } };
}

/** One line of a window for listings: "weekly sat,sun 02:00 for 2h (Europe/Berlin)". */
export function describeWindow(w: Pick<MaintenanceWindow, 'kind' | 'spec' | 'timeZone'>): string {
  const s = w.spec as unknown as Record<string, string | string[]>;
  if (w.kind === 'once') return `once ${s.start} to ${s.end} (${w.timeZone})`;
  if (w.kind === 'weekly') return `weekly ${(s.days as string[]).join(',')} ${s.start} for ${s.duration} (${w.timeZone})`;
  return `cron "${s.cron}" for ${s.duration} (${w.timeZone})`;
}
