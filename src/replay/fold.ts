import { transition } from 'xstate';
import { checkMachine, initialSnapshot, isPending, rule, settledSnapshot, snapshotFromContext, type CheckContext, type CheckSnapshot, type Evidence, type ResultEvent } from '../machines/check.ts';
import type { AssignLine, CheckLine, ExpireLine, InputLine, ResultLine } from '../log/lines.ts';

/**
 * Replaying a log is a fold: each input line goes through the same check machines the
 * controller runs, and every fact they derive comes out as a line. The fold keeps one
 * snapshot per check (≈0.6 KB idle) and nothing else but a per-check summary.
 */
export interface FoldOptions {
  confirmations: number;
  /** Policy backtesting: use this delay for every check instead of the logged one. */
  delay?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const NOTHING: { lines: DerivedLine[] } = Object.freeze({ lines: Object.freeze([]) as unknown as DerivedLine[] });

export type DerivedLine =
  | { type: 'rejected'; checkId: number; worker: string; assignment: string; reason: string; at: string }
  | { type: 'pending'; checkId: number; status: string; suspected: string; worker: string; at: string }
  | { type: 'round'; checkId: number; round: number; of: number; suspected: string; workers: string[]; at: string }
  | { type: 'cancelled'; checkId: number; status: string; worker: string; at: string; rounds: number }
  | {
      type: 'transition';
      checkId: number;
      from: string;
      to: string;
      at: string;
      pendingSince: string;
      rounds: number;
      delay: number;
      confirmations: number;
      evidence: (Omit<Evidence, 'at'> & { at: string })[];
    };

export interface CheckSummary {
  type: 'summary';
  checkId: number;
  status: string;
  transitions: number;
  wentOffline: number;
  offlineMs: number;
  results: number;
}

type Fact = { type: string; params: unknown };

/** How each machine fact becomes an output line. */
const FACT_LINES: Record<string, (p: never) => DerivedLine> = {
  pendingStarted: (p: { checkId: number; status: string; suspected: string; worker: string; at: number }) => ({ type: 'pending', ...p, at: iso(p.at) }),
  roundCompleted: (p: { checkId: number; round: number; of: number; suspected: string; workers: string[]; at: number }) => ({ type: 'round', ...p, at: iso(p.at) }),
  pendingCancelled: (p: { checkId: number; status: string; worker: string; at: number; rounds: number }) => ({ type: 'cancelled', ...p, at: iso(p.at) }),
  transitioned: (p: { checkId: number; from: string; to: string; at: number; pendingSince: number; rounds: number; delay: number; confirmations: number; evidence: Evidence[] }) => ({
    type: 'transition',
    ...p,
    at: iso(p.at),
    pendingSince: iso(p.pendingSince),
    evidence: p.evidence.map((e) => ({ ...e, at: iso(e.at) })),
  }),
};

/**
 * Per-check state in one flat object (memory matters at 100,000 checks): the machine's
 * context, its snapshot only while a change is pending, and the summary counters.
 */
interface Tracked extends Omit<CheckSummary, 'type'> {
  context: CheckContext;
  pending: CheckSnapshot | undefined;
  offlineSince: number | undefined;
  /** Runs handed out and not yet answered or expired, by assignment id. */
  outstanding: Map<string, OutstandingRun> | undefined;
}

/** A run handed out: to whom, and the controller's window [at, deadline] its result is dated into. */
export interface OutstandingRun {
  worker: string;
  at: number;
  deadline: number;
}

/** The window of a run whose assign line names no deadline (logs written before deadlines were): the longest check timeout plus margins. */
export const DEFAULT_RESULT_WINDOW_MS = 60_000;

/**
 * A result's time as the controller's clock allows it (SPEC §8): never before the run was
 * handed out, never after the controller stopped waiting for it. A worker whose clock runs
 * ahead (or lies) cannot date a round or a transition into the future.
 */
export function clampResultTime(at: number, run: Pick<OutstandingRun, 'at' | 'deadline'>, receivedAt?: number): number {
  const latest = receivedAt === undefined ? run.deadline : Math.min(run.deadline, receivedAt + RECEIPT_TOLERANCE_MS);
  return Math.min(Math.max(at, run.at), Math.max(latest, run.at));
}

/** How far after its receipt (the controller's clock, or the stream's for a fold of the log) a result may be dated. */
export const RECEIPT_TOLERANCE_MS = 2000;

const unknownCheck = (checkId: number, what: string) => `checkId: unknown check ${checkId} (no "check" line before this ${what})`;

function forget(tracked: Tracked, assignment: string): void {
  tracked.outstanding?.delete(assignment);
  if (tracked.outstanding?.size === 0) tracked.outstanding = undefined; // idle checks hold no Map
}

const snapshotOf = (tracked: Tracked): CheckSnapshot => tracked.pending ?? settledSnapshot(tracked.context);

function store(tracked: Tracked, snapshot: CheckSnapshot): void {
  tracked.context = snapshot.context;
  tracked.pending = snapshot.value === 'pending' ? snapshot : undefined;
}

/** One check in a stored fold image: its machine context and its runs still out. */
export interface FoldImageCheck {
  context: CheckContext;
  outstanding?: [assignment: string, worker: string, at?: number | null, deadline?: number | null][];
}

export class ReplayFold {
  private readonly checks = new Map<number, Tracked>();
  private firstAt?: number;
  private lastAt?: number;

  constructor(readonly options: FoldOptions) {}

  /** Applies one line. Returns the derived lines, or an error for a line that can't apply. */
  apply(line: InputLine): { lines: DerivedLine[]; error?: string } {
    switch (line.type) {
      case 'check':
        return this.configure(line);
      case 'result':
        return this.result(line);
      case 'assign':
        return this.assign(line);
      case 'expire':
        return this.expire(line);
    }
  }

  /** Forgets a check (deleted or disabled in the database). */
  remove(checkId: number): void {
    this.checks.delete(checkId);
  }

  has(checkId: number): boolean {
    return this.checks.has(checkId);
  }

  /** The machine context of a check: status, turn, rounds, settings. */
  contextOf(checkId: number): CheckContext | undefined {
    return this.checks.get(checkId)?.context;
  }

  /** Every run handed out and not yet answered or expired (what a new controller inherits). */
  outstandingRuns(): { checkId: number; assignment: string; worker: string }[] {
    const runs: { checkId: number; assignment: string; worker: string }[] = [];
    for (const [checkId, tracked] of this.checks) for (const [assignment, run] of tracked.outstanding ?? []) runs.push({ checkId, assignment, worker: run.worker });
    return runs;
  }

  /** Ids of all checks the fold knows. */
  checkIds(): number[] {
    return [...this.checks.keys()];
  }

  /** Whether a run of this check is outstanding (the scheduler asks for every due check). */
  hasOutstanding(checkId: number): boolean {
    return this.checks.get(checkId)?.outstanding !== undefined;
  }

  /** Workers with a run of this check outstanding. */
  outstandingWorkers(checkId: number): string[] {
    return [...(this.checks.get(checkId)?.outstanding?.values() ?? [])].map((run) => run.worker);
  }

  private assign(line: AssignLine): { lines: DerivedLine[]; error?: string } {
    const tracked = this.checks.get(line.checkId);
    if (!tracked) return { lines: [], error: unknownCheck(line.checkId, 'assignment') };
    (tracked.outstanding ??= new Map()).set(line.assignment, { worker: line.worker, at: line.at, deadline: line.deadline ?? line.at + DEFAULT_RESULT_WINDOW_MS });
    return NOTHING;
  }

  private expire(line: ExpireLine): { lines: DerivedLine[]; error?: string } {
    const tracked = this.checks.get(line.checkId);
    if (!tracked) return { lines: [], error: unknownCheck(line.checkId, 'expiry') };
    forget(tracked, line.assignment);
    return NOTHING;
  }

  /**
   * A result counts only when it answers an outstanding run of that worker (SPEC §3): a
   * late, duplicate or foreign result changes nothing. Results without an assignment id
   * (hand-written logs, SPEC §6) are always taken.
   */
  private accept(tracked: Tracked, line: ResultLine): { rejected: DerivedLine } | { at: number } {
    if (line.assignment === undefined) return { at: line.at };
    const run = tracked.outstanding?.get(line.assignment);
    if (run?.worker === line.worker) {
      forget(tracked, line.assignment);
      return { at: clampResultTime(line.at, run, line.receivedAt) };
    }
    const reason = run === undefined ? 'not an outstanding run (late, duplicate or expired)' : `run was assigned to ${run.worker}`;
    return { rejected: { type: 'rejected', checkId: line.checkId, worker: line.worker, assignment: line.assignment, reason, at: iso(line.at) } };
  }

  private configure(line: CheckLine): { lines: DerivedLine[] } {
    const delay = this.options.delay ?? line.delay;
    const known = this.checks.get(line.checkId);
    if (known) {
      // A reappearing check line changes the settings; the status stays the machine's.
      store(known, transition(checkMachine, snapshotOf(known), { type: 'CONFIGURE', delay, interval: line.interval, at: line.at ?? this.lastAt ?? 0 })[0]);
      return { lines: [] };
    }
    const { context } = initialSnapshot({
      checkId: line.checkId,
      status: line.status,
      delay,
      interval: line.interval,
      confirmations: this.options.confirmations,
    });
    this.checks.set(line.checkId, {
      context,
      pending: undefined,
      checkId: line.checkId,
      status: line.status,
      transitions: 0,
      wentOffline: 0,
      offlineMs: 0,
      results: 0,
      offlineSince: line.status === 'offline' ? line.at : undefined,
      outstanding: undefined,
    });
    return { lines: [] };
  }

  private result(line: ResultLine): { lines: DerivedLine[]; error?: string } {
    const tracked = this.checks.get(line.checkId);
    if (!tracked) return { lines: [], error: unknownCheck(line.checkId, 'result') };
    const accepted = this.accept(tracked, line);
    if ('rejected' in accepted) return { lines: [accepted.rejected] };
    if (accepted.at !== line.at) line = { ...line, at: accepted.at };
    this.firstAt ??= line.at;
    this.lastAt = Math.max(this.lastAt ?? line.at, line.at);
    if (tracked.status === 'offline') tracked.offlineSince ??= this.firstAt;
    tracked.results += 1;
    // Fast path: in an idle state the machine provably ignores a result that agrees or is
    // no verdict (the same guards the machine uses); most of a log is such results.
    if (!tracked.pending && (rule.isIgnored(line) || rule.agrees(tracked.context, line))) return NOTHING;
    const event: ResultEvent = { type: 'RESULT', worker: line.worker, status: line.status, at: line.at, message: line.message };
    const [next, actions] = transition(checkMachine, snapshotOf(tracked), event);
    store(tracked, next);
    const lines = (actions as Fact[]).filter((a) => a.type in FACT_LINES).map((a) => FACT_LINES[a.type]!(a.params as never));
    for (const derived of lines) if (derived.type === 'transition') this.count(tracked, derived.to, line.at);
    return { lines };
  }

  private count(tracked: Tracked, to: string, at: number): void {
    tracked.transitions += 1;
    tracked.status = to;
    if (to === 'offline') {
      tracked.wentOffline += 1;
      tracked.offlineSince = at;
    } else if (tracked.offlineSince !== undefined) {
      tracked.offlineMs += at - tracked.offlineSince;
      tracked.offlineSince = undefined;
    }
  }

  /**
   * Starts the reporting window (replay --since): state so far is kept, the counters
   * restart, and a check offline at the window start counts offline from there.
   */
  startWindow(at: number): void {
    this.firstAt = at;
    for (const tracked of this.checks.values()) {
      Object.assign(tracked, { transitions: 0, wentOffline: 0, offlineMs: 0, results: 0 });
      tracked.offlineSince = tracked.status === 'offline' ? at : undefined;
    }
  }

  /** The check lines that recreate every known check as it stands now (log export --since). */
  currentChecks(at: number): CheckLine[] {
    return [...this.checks.values()].map(({ context }) => ({
      type: 'check',
      checkId: context.checkId,
      interval: context.interval,
      delay: context.delay,
      status: context.status,
      at,
    }));
  }

  /** Per-check totals; a check still offline counts until the last result in the log. */
  summaries(): CheckSummary[] {
    return [...this.checks.values()].map(({ checkId, status, transitions, wentOffline, offlineMs, results, offlineSince }) => ({
      type: 'summary' as const,
      checkId,
      status,
      transitions,
      wentOffline,
      offlineMs: offlineMs + (offlineSince !== undefined && this.lastAt !== undefined ? Math.max(0, this.lastAt - offlineSince) : 0),
      results,
    }));
  }

  /** Every check's context and outstanding runs: what a stored snapshot needs (summaries are not kept). */
  exportImage(): FoldImageCheck[] {
    return [...this.checks.values()].map((t) =>
      t.outstanding ? { context: t.context, outstanding: [...t.outstanding].map(([assignment, run]) => [assignment, run.worker, run.at, run.deadline] as [string, string, number, number]) } : { context: t.context },
    );
  }

  /** A fold continuing from a stored image (validated by the caller). */
  static fromImage(options: FoldOptions, image: readonly FoldImageCheck[]): ReplayFold {
    const fold = new ReplayFold(options);
    for (const { context, outstanding } of image) {
      fold.checks.set(context.checkId, {
        context,
        pending: isPending(context) ? snapshotFromContext(context) : undefined,
        checkId: context.checkId,
        status: context.status,
        transitions: 0,
        wentOffline: 0,
        offlineMs: 0,
        results: 0,
        offlineSince: undefined,
        outstanding:
          outstanding && outstanding.length > 0
            ? // An image from before runs had windows: its results keep their own times.
              new Map(outstanding.map(([assignment, worker, at, deadline]) => [assignment, { worker, at: at ?? -Infinity, deadline: deadline ?? Infinity }]))
            : undefined,
      });
    }
    return fold;
  }

  snapshotOf(checkId: number): CheckSnapshot | undefined {
    const tracked = this.checks.get(checkId);
    return tracked && snapshotOf(tracked);
  }
}
