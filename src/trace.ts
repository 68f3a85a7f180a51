import type { NatsConnection } from '@nats-io/transport-node';
import { familyOf, type SubjectFamily } from './bus/subjects.ts';
import { basisWords } from './decide/probe-score.ts';
import { checkLabel } from './text.ts';

type Payload = Record<string, unknown>;

/** Check names by id, learnt from the controller's status and from `check` lines. */
export type CheckNames = Map<number, string>;

const str = (v: unknown) => (v === undefined || v === null ? '-' : String(v));
const time = (v: unknown) => (typeof v === 'string' ? v.slice(11, 23) : new Date().toISOString().slice(11, 23));

/** The check's label with its name when the trace knows it. */
const label = (id: unknown, names?: CheckNames) => checkLabel(id, typeof id === 'number' ? names?.get(id) : undefined);

/**
 * One event as fixed-width fields: time, kind, check, who, what, the rest. A field longer
 * than its width (a 64-character worker id, a long check name) pushes the rest right: two
 * spaces always stand between fields, so values never run together.
 */
function line(at: unknown, kind: string, check: string, who: string, what: string, rest = ''): string {
  return [time(at), kind.padEnd(10), check.padEnd(12), who.padEnd(13), what.padEnd(12), rest].join('  ').trimEnd();
}

const regions = (v: unknown) => (Array.isArray(v) && v.length > 0 ? v.map(String).join(',') : '-');

/** "partial  check 7 (shop)  -  began  offline from eu, online from us" (changed, ended: recovered|offline). */
function partialLine(p: Payload, names?: CheckNames): string {
  const what = p.phase === 'ended' ? `ended ${str(p.reason)}` : str(p.phase);
  return line(p.at, 'partial', label(p.checkId, names), '-', what, `offline from ${regions(p.down)}, online from ${regions(p.up)}; since ${str(p.since)}`);
}

/** "probe  check 3  w3  flagged  20/20 verdicts overruled (100 %), votes excluded". */
function probeLine(p: Payload, names?: CheckNames): string {
  const ratio = typeof p.ratio === 'number' ? ` (${Math.round(p.ratio * 100)} %)` : '';
  const votes = p.verdict === 'flagged' ? (p.excluded ? ', votes excluded' : ', votes still count') : '';
  return line(p.at, 'probe', label(p.checkId, names), str(p.worker), str(p.verdict), `${str(p.contradictions)}/${str(p.samples)} verdicts${p.basis === 'down' || p.basis === 'up' ? basisWords(p.basis) : ''} overruled${ratio}${votes}`);
}

/** One readable line per event family: time, kind, check, worker, status, message. */
const FORMATS: Record<SubjectFamily, (p: Payload, names?: CheckNames) => string> = {
  result: (p, n) => line(p.at, 'result', label(p.checkId, n), str(p.worker), str(p.status), str(p.message)),
  check: (p, n) => line(p.at, 'check', label(p.checkId, n), '-', str(p.status), `interval ${str(p.interval)}s delay ${str(p.delay)}`),
  transition: (p, n) => line(p.at, 'TRANSITION', label(p.checkId, n), '-', `${str(p.from)}->${str(p.to)} after ${str(p.rounds)} round(s)`),
  decision: (p, n) => {
    if (p.type === 'partial') return partialLine(p, n);
    if (p.type === 'probe') return probeLine(p, n);
    return line(p.at, str(p.type), label(p.checkId, n), str(p.worker ?? (p.workers as string[] | undefined)?.join(',')), str(p.suspected ?? p.status), p.round ? `round ${str(p.round)}/${str(p.of)}` : '');
  },
  notify: (p, n) => line(p.at, 'notify', label(p.checkId, n), str(p.contact), str(p.outcome), str(p.message)),
  assign: (p, n) => line(p.at, 'assign', label(p.checkId, n), str(p.worker), str(p.kind ?? 'run'), str(p.assignment)),
  run: (p, n) => line(p.at, 'run', label(p.checkId, n), '-', str(p.checkType), str(p.assignment)),
  worker: (p) => line(p.at, 'heartbeat', '', str(p.worker), `${str(p.running)}/${str(p.capacity)} busy`),
  ping: (p) => line(p.at, 'ping', '', str(p.worker), ''),
  pong: (p) => line(p.at, 'pong', '', str(p.worker), ''),
  view: (p) => line(p.at, 'VIEW', `view ${str(p.view)}`, str(p.controller), 'controller'),
  control: (p) => `${time(p.at)}  ${'control'.padEnd(10)}  ${JSON.stringify(p).slice(0, 120)}`,
};

/**
 * Formats one message for `bearmon trace`; foreign or malformed payloads print raw. With
 * `names`, checks show as `check 12 (api-health)`, and a `check` line teaches its name.
 */
export function formatEvent(subject: string, data: string, names?: CheckNames): string {
  const family = familyOf(subject);
  let payload: unknown;
  try {
    payload = JSON.parse(data);
  } catch {
    return `${subject}  ${data}`;
  }
  if (!family || typeof payload !== 'object' || payload === null) return `${subject}  ${data}`;
  const p = payload as Payload;
  if (names && family === 'check') learnName(names, p.checkId, p.name);
  return FORMATS[family](p, names);
}

function learnName(names: CheckNames, id: unknown, name: unknown): void {
  if (Number.isSafeInteger(id) && typeof name === 'string' && name !== '') names.set(id as number, name);
}

/**
 * Liveness traffic: every worker's heartbeat each second, and the viewserver's ping of
 * every candidate and its pong. Several lines a second that say "still alive" drown the
 * events an operator traces for, so they print only when asked for.
 */
const HEARTBEAT_FAMILIES = new Set<SubjectFamily>(['worker']);
const PING_FAMILIES = new Set<SubjectFamily>(['ping', 'pong']);

export interface TraceOptions {
  subject: string;
  json: boolean;
  /** Also print workers' heartbeats. */
  heartbeats?: boolean;
  /** Print everything: heartbeats, and the viewserver's pings and their pongs. */
  all?: boolean;
}

/**
 * Whether a message on `subject` is printed. A SUBJECT that names a liveness family
 * (`bearmon.worker.>`) asks for it: then it is printed without a flag.
 */
export function traced(subject: string, options: Pick<TraceOptions, 'subject' | 'heartbeats' | 'all'>): boolean {
  if (options.all) return true;
  const family = familyOf(subject);
  if (family === undefined || familyOf(options.subject) === family) return true;
  if (HEARTBEAT_FAMILIES.has(family)) return options.heartbeats === true;
  return !PING_FAMILIES.has(family);
}

/**
 * Check names from the controller's status (`bearmon.control.status`), so events of checks
 * whose `check` line went by before the trace started are named too. Best effort: with no
 * controller, or a credential that may not ask, the trace goes on with ids alone.
 */
export async function loadCheckNames(nc: NatsConnection, names: CheckNames): Promise<void> {
  const { requestStatus } = await import('./cli/status.ts');
  try {
    const status = await requestStatus(nc);
    // A `check` line seen meanwhile is newer than the status: it is not overwritten.
    for (const check of status.checks) if (!names.has(check.id)) learnName(names, check.id, check.name);
  } catch {
    // ids alone
  }
}

/** Subscribes and prints until the connection closes. Same information as `nats sub`, readable. */
export async function trace(nc: NatsConnection, options: TraceOptions, print: (line: string) => void): Promise<void> {
  const names: CheckNames = new Map();
  const sub = nc.subscribe(options.subject);
  // The caller connects with noEcho, so this status request is not printed as an event.
  if (!options.json) void loadCheckNames(nc, names);
  for await (const m of sub) {
    if (!traced(m.subject, options)) continue;
    print(options.json ? `${m.subject} ${m.string()}` : formatEvent(m.subject, m.string(), names));
  }
}
