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
  workers: { id: string; capacity: number; inFlight: number; lastSeenMs: number; upMs: number }[];
  checks: CheckStatus[];
  /** The notification outbox (absent when MySQL did not answer in time). */
  notifications?: OutboxSummary;
  /** Maintenance windows in force now (checkId null: every check); their checks' notifications are held. */
  maintenance?: { name: string; checkId: number | null; until: string }[];
  /** Checks due that wait for a free worker slot (0: none), and how late the oldest is. */
  backlog: { checks: number; oldestLateMs: number };
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
    workers: input.workers
      .alive(input.now)
      .map((w) => ({ id: w.id, capacity: w.capacity, inFlight: w.inFlight, lastSeenMs: input.now - w.lastSeen, upMs: input.now - w.startedAt })),
    checks: [...monitored, ...broken].sort((a, b) => a.id - b.id),
    backlog: input.due.backlog(input.now),
  };
}
