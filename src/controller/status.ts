import type { OutboxSummary } from '../db/outbox.ts';
import type { ReplayFold } from '../replay/fold.ts';
import type { CheckDefinition, MisconfiguredCheck } from './checks.ts';
import type { DueHeap } from './heap.ts';
import type { WorkerTable } from './workers.ts';

export interface LastResult {
  status: string;
  message: string;
  at: string;
  durationMs: number;
}

export interface CheckStatus {
  id: number;
  name: string;
  type: string;
  state: 'online' | 'offline' | 'pending' | 'misconfigured';
  status?: 'online' | 'offline';
  /** While pending: which way, the workers of the current round, rounds completed of delay+1. */
  suspected?: 'online' | 'offline';
  turn?: string[];
  rounds?: number;
  of?: number;
  confirmations?: number;
  interval?: number;
  /** Distinct regions that must see a change (checks.min_regions). */
  minRegions?: number;
  /** A partial outage in progress: since when, regions seeing it offline, regions seeing it online. */
  partial?: { since: string; down: string[]; up: string[] };
  nextRunInMs?: number;
  lastResults?: Record<string, LastResult & { ageMs: number }>;
  problem?: string;
}

export interface ControllerStatus {
  controller: string;
  /** The view that made it controller (0: fixed with --controller, no viewserver). */
  view: number;
  at: string;
  confirmations: number;
  /** Enough live workers to confirm a change. */
  quorum: boolean;
  workers: WorkerStatus[];
  /** Faulty-probe scoring (`[controller] quarantine`): off, flag or exclude. */
  quarantine?: string;
  checks: CheckStatus[];
  /** The notification outbox (absent when MySQL did not answer in time). */
  notifications?: OutboxSummary;
  /** Maintenance windows in force now (checkId null: every check); their checks' notifications are held. */
  maintenance?: { name: string; checkId: number | null; until: string }[];
  /** Checks due that wait for a free worker slot (0: none), and how late the oldest is. */
  backlog: { checks: number; oldestLateMs: number };
}

export interface WorkerStatus {
  id: string;
  capacity: number;
  inFlight: number;
  lastSeenMs: number;
  upMs: number;
  region?: string;
  site?: string;
  /** Its verdicts against the others' over the probe window (absent with quarantine off or no samples yet). */
  /** `down`: of the samples, those on checks that were down (a worker that misses outages shows there). */
  probe?: { samples: number; contradictions: number; ratio: number; down?: { samples: number; contradictions: number }; flagged: boolean; excluded: boolean };
}

interface StatusInput {
  id: string;
  view: number;
  now: number;
  confirmations: number;
  checks: Map<number, CheckDefinition>;
  misconfigured: Map<number, MisconfiguredCheck>;
  fold: ReplayFold;
  due: DueHeap;
  workers: WorkerTable;
  lastResults: Map<number, Map<string, LastResult>>;
  quorum: boolean;
}

function checkStatus(input: StatusInput, check: CheckDefinition): CheckStatus {
  const context = input.fold.contextOf(check.id);
  const pending = context !== undefined && (context.turn.length > 0 || context.rounds > 0);
  const next = input.due.timeOf(check.id);
  const results = input.lastResults.get(check.id);
  return {
    id: check.id,
    name: check.name,
    type: check.type,
    state: pending ? 'pending' : (context?.status ?? check.status),
    status: context?.status ?? check.status,
    ...(pending && context
      ? { suspected: context.status === 'online' ? 'offline' : 'online', turn: context.turn, rounds: context.rounds, of: context.delay + 1 }
      : {}),
    confirmations: context?.confirmations,
    interval: check.interval,
    minRegions: check.minRegions,
    ...partialOf(input.fold, check.id),
    nextRunInMs: next === undefined ? undefined : Math.max(0, next - input.now),
    lastResults: results
      ? Object.fromEntries([...results].map(([worker, r]) => [worker, { ...r, ageMs: Math.max(0, input.now - Date.parse(r.at)) }]))
      : {},
  };
}

/** The controller's answer to `bearmon status`: every check and every live worker. */
export function buildStatus(input: StatusInput): ControllerStatus {
  const monitored = [...input.checks.values()].map((check) => checkStatus(input, check));
  const broken: CheckStatus[] = [...input.misconfigured.values()].map((m) => ({ id: m.id ?? 0, name: m.name, type: '', state: 'misconfigured', problem: m.message }));
  return {
    controller: input.id,
    view: input.view,
    at: new Date(input.now).toISOString(),
    confirmations: input.confirmations,
    quorum: input.quorum,
    workers: workerStatuses(input),
    quarantine: input.fold.quarantineMode(),
    checks: [...monitored, ...broken].sort((a, b) => a.id - b.id),
    backlog: input.due.backlog(input.now),
  };
}

function partialOf(fold: ReplayFold, checkId: number): Pick<CheckStatus, 'partial'> {
  const partial = fold.partialOf(checkId);
  return partial ? { partial: { since: new Date(partial.since).toISOString(), down: partial.down, up: partial.up } } : {};
}

function workerStatuses(input: StatusInput): WorkerStatus[] {
  const scores = new Map(input.fold.probeScores().map((s) => [s.worker, s]));
  const excluded = new Set(input.fold.excludedWorkers());
  return input.workers.alive(input.now).map((w) => {
    const score = scores.get(w.id);
    return {
      id: w.id,
      capacity: w.capacity,
      inFlight: w.inFlight,
      lastSeenMs: input.now - w.lastSeen,
      upMs: input.now - w.startedAt,
      region: w.region,
      ...(w.site !== undefined ? { site: w.site } : {}),
      ...(score ? { probe: { samples: score.samples, contradictions: score.contradictions, ratio: Math.round(score.ratio * 1000) / 1000, down: score.down, flagged: score.flagged, excluded: excluded.has(w.id) } } : {}),
    };
  });
}
