import { transition } from 'xstate';
import { checkMachine, initialSnapshot, isPending, rule, settledSnapshot, snapshotFromContext, type CheckContext, type CheckSnapshot, type Evidence, type ResultEvent, type Status } from '../machines/check.ts';
import type { AssignLine, CheckLine, ExpireLine, InputLine, ResultLine } from '../log/lines.ts';
import { DEFAULT_PROBE_POLICY, ProbeScorer, type ProbePolicy, type ProbeScore, type ProbeVerdict, type ProbeWindowImage, type QuarantineMode } from '../decide/probe-score.ts';
import { corroborated, freshness, hasWitness, isPartial, judgeRegions, observe, sameRegions, type Views } from '../decide/regional.ts';
import { DEFAULT_REGION } from '../region.ts';

/**
 * Replaying a log is a fold: each input line goes through the same check machines the
 * controller runs, and every fact they derive comes out as a line. The fold keeps one
 * snapshot per check (≈0.6 KB idle) and nothing else but a per-check summary.
 */
export interface FoldOptions {
  confirmations: number;
  /** Policy backtesting: use this delay for every check instead of the logged one. */
  delay?: number;
  /** Policy backtesting: ask every check for this many distinct regions instead of its own. */
  regions?: number;
  /** Faulty probes: score workers (`flag`), and also stop counting a flagged worker's votes (`exclude`). Default `off`. */
  quarantine?: QuarantineMode;
  probe?: ProbePolicy;
}

/** A partial outage in progress: since when, which regions see the check offline, which online. */
export interface PartialOutage {
  since: number;
  down: string[];
  up: string[];
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
    }
  | {
      /** A regional outage began, changed its regions, or ended (recovered, or the check itself went offline). */
      type: 'partial';
      checkId: number;
      phase: 'began' | 'changed' | 'ended';
      down: string[];
      up: string[];
      since: string;
      at: string;
      reason?: 'recovered' | 'offline' | 'discounted';
    }
  | {
      /** A worker's verdicts contradict the others' too often (flagged), or agree again (released). Published on the subject of the check whose result tipped it. */
      type: 'probe';
      checkId: number;
      worker: string;
      verdict: 'flagged' | 'released';
      excluded: boolean;
      /** Of the verdicts `basis` names (absent: all of them). */
      samples: number;
      contradictions: number;
      ratio: number;
      /** The verdicts on checks that were up, or down (a worker that misses outages), when not all of them. */
      basis?: 'up' | 'down';
      at: string;
    };

export interface CheckSummary {
  type: 'summary';
  checkId: number;
  status: string;
  transitions: number;
  wentOffline: number;
  offlineMs: number;
  results: number;
  /** Partial outages that began (regions disagreeing, the check still online). */
  partials: number;
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
  /** Each worker's latest verdict (kept once regions or scoring matter). */
  views: Views | undefined;
  /** A fresh verdict disagreed with the status at the last look: the regions must be judged again. */
  watch: boolean;
  /**
   * Overruled votes waiting for their region's next verdict on this check (faulty-probe
   * scoring); `by`: the worker that overruled it, when another worker of the region can witness instead.
   */
  overruled?: Map<string, { at: number; status: Status; region: string; by?: string }>;
  partial: PartialOutage | undefined;
}

/** A run handed out: to whom, and the controller's window [at, deadline] its result is dated into. */
export interface OutstandingRun {
  worker: string;
  at: number;
  deadline: number;
  /** An audit run of a quarantined worker: scored, never a vote. */
  audit?: boolean;
  /** The worker's region as the controller knew it (the assign line): what its result counts for. */
  region?: string;
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
  outstanding?: [assignment: string, worker: string, at?: number | null, deadline?: number | null, run?: { audit?: boolean; region?: string } | null][];
  /** Each worker's latest verdict (regions and scoring): worker, region, status, since, count, at. */
  views?: [worker: string, region: string, status: Status, since: number, count: number, at: number][];
  /** A partial outage in progress: kept so a successor does not begin (and notify) it again. */
  partial?: PartialOutage;
  /** Overruled votes still waiting to be judged: worker, at, status suspected, region, overruler (when a witness could speak instead). */
  overruled?: [worker: string, at: number, status: Status, region: string, by?: string | null][];
}

/** What a stored snapshot keeps beyond the checks: the faulty-probe windows. */
export interface FoldImageExtras {
  probes?: ProbeWindowImage[];
  /** The probe window they were scored over: windows of another width are not taken. */
  probeWindowMs?: number;
}

export class ReplayFold {
  private readonly checks = new Map<number, Tracked>();
  private firstAt?: number;
  private lastAt?: number;
  /**
   * Whether results have come from two regions (partial outages need two). Two fields, not
   * a set of every region: a worker naming a new region in each result must not grow it.
   */
  private firstRegion: string | undefined;
  private multiRegion = false;

  private sawRegion(region: string): void {
    if (this.multiRegion) return;
    if (this.firstRegion === undefined) this.firstRegion = region;
    else if (region !== this.firstRegion) this.multiRegion = true;
  }
  private scorer: ProbeScorer | undefined;
  private quarantine: QuarantineMode = 'off';

  constructor(readonly options: FoldOptions) {
    this.setQuarantine(options.quarantine ?? 'off', options.probe);
  }

  /**
   * Faulty-probe scoring from now on (a controller sets it after taking over a fold built
   * without it). A new policy starts its windows afresh; the same policy keeps them.
   */
  setQuarantine(mode: QuarantineMode, policy: ProbePolicy = DEFAULT_PROBE_POLICY): void {
    this.quarantine = mode;
    if (mode === 'off') this.scorer = undefined;
    else if (!this.scorer || JSON.stringify(this.scorer.policy) !== JSON.stringify(policy)) {
      this.scorer = new ProbeScorer(policy);
      this.importProbes();
    }
  }

  /** Probe windows from a stored snapshot, for a scorer made after the restore (the controller sets its policy then). */
  private restoredProbes: { windows: ProbeWindowImage[]; windowMs?: number } | undefined;

  /** Windows restored from a snapshot carry on, if they were scored over the same window. */
  private importProbes(): void {
    if (this.scorer && this.restoredProbes && this.restoredProbes.windowMs === this.scorer.policy.windowMs) this.scorer.importWindows(this.restoredProbes.windows);
  }

  /** Whether a worker's votes are not counted now (flagged, with quarantine = exclude). */
  isExcluded(worker: string): boolean {
    return this.quarantine === 'exclude' && this.scorer?.isFlagged(worker) === true;
  }

  /** Workers whose votes are not counted now. */
  excludedWorkers(): string[] {
    return this.quarantine === 'exclude' ? (this.scorer?.flagged() ?? []) : [];
  }

  quarantineMode(): QuarantineMode {
    return this.quarantine;
  }

  /** Every scored worker (empty with quarantine off). */
  probeScores(): ProbeScore[] {
    return this.scorer?.scores() ?? [];
  }

  /** The partial outage of a check in progress, if any. */
  partialOf(checkId: number): PartialOutage | undefined {
    return this.checks.get(checkId)?.partial;
  }

  /** Checks partially down now. */
  partialChecks(): number[] {
    const ids: number[] = [];
    for (const [id, tracked] of this.checks) if (tracked.partial) ids.push(id);
    return ids;
  }

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
  outstandingRuns(): { checkId: number; assignment: string; worker: string; audit?: boolean }[] {
    const runs: { checkId: number; assignment: string; worker: string; audit?: boolean }[] = [];
    for (const [checkId, tracked] of this.checks) for (const [assignment, run] of tracked.outstanding ?? []) runs.push(run.audit ? { checkId, assignment, worker: run.worker, audit: true } : { checkId, assignment, worker: run.worker });
    return runs;
  }

  /** Ids of all checks the fold knows. */
  checkIds(): number[] {
    return [...this.checks.keys()];
  }

  /** Whether a run of this check is outstanding (the scheduler asks for every due check). */
  hasOutstanding(checkId: number): boolean {
    const outstanding = this.checks.get(checkId)?.outstanding;
    if (!outstanding) return false;
    // An audit run of a quarantined worker is no vote: it must not hold the check's regular run back.
    for (const run of outstanding.values()) if (!run.audit) return true;
    return false;
  }

  /** Workers with a run (a vote, not an audit) of this check outstanding. */
  outstandingWorkers(checkId: number): string[] {
    return [...(this.checks.get(checkId)?.outstanding?.values() ?? [])].filter((run) => !run.audit).map((run) => run.worker);
  }

  /** Whether this worker has an audit run of the check out (one at a time is enough). */
  hasAudit(checkId: number, worker: string): boolean {
    for (const run of this.checks.get(checkId)?.outstanding?.values() ?? []) if (run.audit && run.worker === worker) return true;
    return false;
  }

  private assign(line: AssignLine): { lines: DerivedLine[]; error?: string } {
    const tracked = this.checks.get(line.checkId);
    if (!tracked) return { lines: [], error: unknownCheck(line.checkId, 'assignment') };
    const run: OutstandingRun = { worker: line.worker, at: line.at, deadline: line.deadline ?? line.at + DEFAULT_RESULT_WINDOW_MS };
    if (line.audit) run.audit = true;
    if (line.region !== undefined) run.region = line.region;
    (tracked.outstanding ??= new Map()).set(line.assignment, run);
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
  private accept(tracked: Tracked, line: ResultLine): { rejected: DerivedLine } | { at: number; audit?: boolean; region?: string } {
    if (line.assignment === undefined) return { at: line.at };
    const run = tracked.outstanding?.get(line.assignment);
    if (run?.worker === line.worker) {
      forget(tracked, line.assignment);
      return { at: clampResultTime(line.at, run, line.receivedAt), audit: run.audit, region: run.region };
    }
    const reason = run === undefined ? 'not an outstanding run (late, duplicate or expired)' : `run was assigned to ${run.worker}`;
    return { rejected: { type: 'rejected', checkId: line.checkId, worker: line.worker, assignment: line.assignment, reason, at: iso(line.at) } };
  }

  private configure(line: CheckLine): { lines: DerivedLine[] } {
    const delay = this.options.delay ?? line.delay;
    const minRegions = this.options.regions ?? line.minRegions ?? 1;
    const known = this.checks.get(line.checkId);
    if (known) {
      // A reappearing check line changes the settings; the status stays the machine's.
      store(known, transition(checkMachine, snapshotOf(known), { type: 'CONFIGURE', delay, interval: line.interval, minRegions, at: line.at ?? this.lastAt ?? 0 })[0]);
      return { lines: [] };
    }
    const { context } = initialSnapshot({
      checkId: line.checkId,
      status: line.status,
      delay,
      interval: line.interval,
      confirmations: this.options.confirmations,
      minRegions,
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
      partials: 0,
      offlineSince: line.status === 'offline' ? line.at : undefined,
      outstanding: undefined,
      views: undefined,
      watch: false,
      partial: undefined,
    });
    return { lines: [] };
  }

  private result(line: ResultLine): { lines: DerivedLine[]; error?: string } {
    const tracked = this.checks.get(line.checkId);
    if (!tracked) return { lines: [], error: unknownCheck(line.checkId, 'result') };
    const accepted = this.accept(tracked, line);
    if ('rejected' in accepted) return { lines: [accepted.rejected] };
    if (accepted.at !== line.at) line = { ...line, at: accepted.at };
    // A worker speaks for the region the controller knows it in (its heartbeats, logged with
    // the run), not for whatever region its result claims.
    if (accepted.region !== undefined && accepted.region !== line.region) line = { ...line, region: accepted.region };
    if (accepted.audit || this.isExcluded(line.worker)) return this.quarantined(tracked, line, accepted.audit === true);
    this.firstAt ??= line.at;
    this.lastAt = Math.max(this.lastAt ?? line.at, line.at);
    if (tracked.status === 'offline') tracked.offlineSince ??= this.firstAt;
    tracked.results += 1;
    if (rule.isIgnored(line)) return NOTHING;
    const status = line.status as Status;
    const region = line.region ?? DEFAULT_REGION;
    this.sawRegion(region);
    const views = this.viewsOf(tracked);
    if (views) observe(views, line.worker, region, status, line.at);
    if (tracked.overruled) this.settleOverruled(tracked, line, region, status);
    // Fast path: in an idle state the machine provably ignores a result that agrees (the
    // same guard the machine uses); most of a log is such results.
    if (!tracked.pending && rule.agrees(tracked.context, line)) {
      const verdict = this.scorer?.record(line.worker, line.at, true, tracked.context.status);
      if (verdict) this.pendingVerdicts.push(this.probeLine(line.checkId, verdict));
      if (tracked.overruled) this.settleExpired(tracked, line);
      return tracked.watch || tracked.partial || this.pendingVerdicts.length > 0 ? { lines: this.judgeRegions(tracked, line.at, false) } : NOTHING;
    }
    const before = tracked.context;
    const event: ResultEvent = { type: 'RESULT', worker: line.worker, status: line.status, at: line.at, message: line.message };
    if (line.region !== undefined) event.region = line.region;
    const [next, actions] = transition(checkMachine, snapshotOf(tracked), event);
    store(tracked, next);
    const lines = (actions as Fact[]).filter((a) => a.type in FACT_LINES).map((a) => FACT_LINES[a.type]!(a.params as never));
    let flipped = false;
    for (const derived of lines) {
      if (derived.type === 'transition') {
        flipped = true;
        this.count(tracked, derived.to, line.at);
        this.scoreDecision(tracked, derived.evidence.map((e) => e.worker), [], line);
        this.settleBorneOut(tracked, derived.to as Status, line.checkId);
      } else if (derived.type === 'cancelled') {
        this.scoreDecision(tracked, [line.worker], before.evidence.map((e) => e.worker), line);
      }
    }
    if (tracked.overruled) this.settleExpired(tracked, line);
    if (flipped && views) restartRuns(views, line.at);
    lines.push(...this.judgeRegions(tracked, line.at, flipped));
    return { lines };
  }

  /** Views are kept once two regions have been seen (partial outages) or workers are scored. */
  private viewsOf(tracked: Tracked): Views | undefined {
    if (tracked.views) return tracked.views;
    if (!this.multiRegion && !this.scorer) return undefined;
    return (tracked.views = new Map());
  }

  /**
   * A decision was reached: the workers it bears out agreed. The ones it overruled agreed
   * too if another worker of their region says what they said now (their region sees it so:
   * a regional outage, not a faulty probe); otherwise their vote waits for the region's next
   * verdict on the check (settleOverruled).
   */
  private scoreDecision(tracked: Tracked, agreed: string[], overruled: string[], line: ResultLine): ProbeVerdict[] {
    const scorer = this.scorer;
    if (!scorer) return [];
    const verdicts: ProbeVerdict[] = [];
    const note = (verdict: ProbeVerdict | undefined) => verdict && verdicts.push(verdict);
    // Judged against the status the decision left (a flip: the new one; a cancel: the old one).
    const settled = tracked.context.status;
    for (const worker of new Set(agreed)) note(scorer.record(worker, line.at, true, settled));
    const suspected: Status = settled === 'online' ? 'offline' : 'online';
    const fresh = tracked.views ? freshness(tracked.views, tracked.context.interval) : 0;
    for (const worker of new Set(overruled)) {
      const region = tracked.views?.get(worker)?.region ?? DEFAULT_REGION;
      // Its region says the same: it measured right (a regional outage, not a faulty probe).
      if (tracked.views && corroborated(tracked.views, worker, region, suspected, line.at, fresh)) note(scorer.record(worker, line.at, true, settled));
      // Not yet known: its region's next verdict on this check (or none within a rotation) decides.
      else {
        // The worker that overruled the vote is no witness against it when the region has another:
        // a worker behind a captive proxy that cancels a suspicion must not also condemn the vote.
        const other = tracked.views && hasWitness(tracked.views, worker, line.worker, region, line.at, fresh);
        (tracked.overruled ??= new Map()).set(worker, { at: line.at, status: suspected, region, ...(other ? { by: line.worker } : {}) });
      }
    }
    this.pendingVerdicts.push(...verdicts.map((v) => this.probeLine(line.checkId, v)));
    return verdicts;
  }

  /**
   * Settles overruled votes waiting for their region: a verdict of another worker of that
   * region saying the same corroborates it (an agreement), one saying otherwise contradicts
   * it. A rotation without any makes it a contradiction when nobody but the overruler could
   * have spoken for it (a lone worker of its region); when a witness was there but did not
   * run the check in time, it is dropped unjudged — a witness kept away by a captive proxy
   * winning the confirmations must not turn an honest worker's votes into contradictions.
   * Driven by results, so a replay settles them exactly as the controller did.
   */
  private settleOverruled(tracked: Tracked, line: ResultLine, region: string, status: Status): void {
    const waiting = tracked.overruled;
    const scorer = this.scorer;
    if (!waiting || !scorer) return;
    const fresh = tracked.views ? freshness(tracked.views, tracked.context.interval) : 0;
    for (const [worker, vote] of waiting) {
      const expired = line.at - vote.at > fresh;
      const peer = !expired && worker !== line.worker && line.worker !== vote.by && vote.region === region;
      if (!peer && !expired) continue;
      // Expired with nobody but the overruler to speak for it: judged after this result's own
      // decision (settleExpired), which may still bear it out.
      if (!peer && vote.by === undefined) continue;
      waiting.delete(worker);
      if (!peer) continue;
      // The vote was overruled by the status it suspected was wrong: that is what it is judged against.
      const verdict = scorer.record(worker, vote.at, status === vote.status, vote.status === 'online' ? 'offline' : 'online');
      if (verdict) this.pendingVerdicts.push(this.probeLine(line.checkId, verdict));
    }
    if (waiting.size === 0) tracked.overruled = undefined;
  }

  /** Votes of a worker alone in its region that a whole rotation did not bear out: contradictions. */
  private settleExpired(tracked: Tracked, line: ResultLine): void {
    const waiting = tracked.overruled;
    const scorer = this.scorer;
    if (!waiting || !scorer) return;
    const fresh = tracked.views ? freshness(tracked.views, tracked.context.interval) : 0;
    for (const [worker, vote] of waiting) {
      if (vote.by !== undefined || line.at - vote.at <= fresh) continue;
      waiting.delete(worker);
      const verdict = scorer.record(worker, vote.at, false, vote.status === 'online' ? 'offline' : 'online');
      if (verdict) this.pendingVerdicts.push(this.probeLine(line.checkId, verdict));
    }
    if (waiting.size === 0) tracked.overruled = undefined;
  }

  /**
   * The check flipped to what overruled votes still waiting suspected: the decision bears
   * them out after all (an agreement each), whatever a peer said in between.
   */
  private settleBorneOut(tracked: Tracked, to: Status, checkId: number): void {
    const waiting = tracked.overruled;
    const scorer = this.scorer;
    if (!waiting || !scorer) return;
    for (const [worker, vote] of waiting) {
      if (vote.status !== to) continue;
      const verdict = scorer.record(worker, vote.at, true, vote.status === 'online' ? 'offline' : 'online');
      if (verdict) this.pendingVerdicts.push(this.probeLine(checkId, verdict));
      waiting.delete(worker);
    }
    if (waiting.size === 0) tracked.overruled = undefined;
  }

  /** Probe lines derived while applying the current result (emitted after its own lines). */
  private pendingVerdicts: DerivedLine[] = [];

  private probeLine(checkId: number, verdict: ProbeVerdict): DerivedLine {
    const { worker, samples, contradictions, ratio, at, basis } = verdict;
    return {
      type: 'probe',
      checkId,
      worker,
      verdict: verdict.verdict,
      excluded: verdict.verdict === 'flagged' && this.quarantine === 'exclude',
      samples,
      contradictions,
      ratio: Math.round(ratio * 1000) / 1000,
      // Only when not every verdict: lines of a worker judged on all its verdicts read as before.
      ...(basis !== 'all' ? { basis } : {}),
      at: iso(at),
    };
  }

  /**
   * A result of a quarantined worker (its audit run, or any run while it is excluded): it
   * is scored against the check's settled status and counts for nothing else.
   */
  private quarantined(tracked: Tracked, line: ResultLine, audit: boolean): { lines: DerivedLine[] } {
    const lines: DerivedLine[] = [];
    if (!audit) lines.push({ type: 'rejected', checkId: line.checkId, worker: line.worker, assignment: line.assignment ?? '', reason: 'worker is quarantined: its votes do not count', at: iso(line.at) });
    if (!rule.isIgnored(line) && !tracked.pending) {
      const verdict = this.scorer?.record(line.worker, line.at, line.status === tracked.context.status, tracked.context.status);
      if (verdict) lines.push(this.probeLine(line.checkId, verdict));
    }
    return { lines };
  }

  /** Starts, changes or ends the check's partial outage (see src/decide/regional.ts). */
  private judgeRegions(tracked: Tracked, at: number, flipped: boolean): DerivedLine[] {
    const out = this.pendingVerdicts;
    this.pendingVerdicts = [];
    const views = tracked.views;
    const before = tracked.partial;
    const status = tracked.context.status;
    if (!views || (status === 'offline' && !before)) return out;
    const freshMs = freshness(views, tracked.context.interval);
    pruneViews(views, at, freshMs);
    const judgement = judgeRegions(views, status, at, { delay: tracked.context.delay, freshMs, ignore: this.scorer ? (w) => this.scorer!.isFlagged(w) : undefined });
    // A region that was down and has gone unobserved (its workers stopped reporting) stays
    // down: only its own fresh verdicts, or the check flipping, end it.
    if (before && !flipped) for (const region of before.down) if (!judgement.seen.has(region) && !judgement.down.includes(region)) judgement.down = [...judgement.down, region].sort();
    tracked.watch = judgement.down.length > 0 || hasDisagreeing(views, status);
    // It begins with a region up and one down; it lasts while a region is down (spreading to
    // every region, it ends as offline when the rule flips the check).
    const partial = before ? status === 'online' && judgement.down.length > 0 : isPartial(status, judgement);
    const line = (phase: 'began' | 'changed' | 'ended', since: number, down: string[], up: string[], reason?: 'recovered' | 'offline' | 'discounted'): DerivedLine => ({
      type: 'partial',
      checkId: tracked.checkId,
      phase,
      down,
      up,
      since: iso(since),
      at: iso(at),
      ...(reason ? { reason } : {}),
    });
    if (!before && partial) {
      tracked.partial = { since: at, down: judgement.down, up: judgement.up };
      tracked.partials += 1;
      out.push(line('began', at, judgement.down, judgement.up));
    } else if (before && !partial) {
      tracked.partial = undefined;
      const offline = flipped && status === 'offline';
      // Recovered: every region that was down sees it online again; discounted: the only
      // workers that saw it offline were flagged as faulty probes.
      const recovered = before.down.every((region) => judgement.up.includes(region));
      out.push(line('ended', before.since, before.down, offline ? [] : judgement.up, offline ? 'offline' : recovered ? 'recovered' : 'discounted'));
    } else if (before && partial && !sameRegions(before.down, judgement.down)) {
      tracked.partial = { since: before.since, down: judgement.down, up: judgement.up };
      out.push(line('changed', before.since, judgement.down, judgement.up));
    }
    return out;
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
      Object.assign(tracked, { transitions: 0, wentOffline: 0, offlineMs: 0, results: 0, partials: 0 });
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
      ...(context.minRegions > 1 ? { minRegions: context.minRegions } : {}),
      at,
    }));
  }

  /** Per-check totals; a check still offline counts until the last result in the log. */
  summaries(): CheckSummary[] {
    return [...this.checks.values()].map(({ checkId, status, transitions, wentOffline, offlineMs, results, partials, offlineSince }) => ({
      type: 'summary' as const,
      checkId,
      status,
      transitions,
      wentOffline,
      offlineMs: offlineMs + (offlineSince !== undefined && this.lastAt !== undefined ? Math.max(0, this.lastAt - offlineSince) : 0),
      results,
      partials,
    }));
  }

  /** Every check's context and outstanding runs: what a stored snapshot needs (summaries are not kept). */
  exportImage(): FoldImageCheck[] {
    return [...this.checks.values()].map((t) => {
      const image: FoldImageCheck = { context: t.context };
      if (t.outstanding) image.outstanding = [...t.outstanding].map(([assignment, run]) => (run.audit || run.region ? [assignment, run.worker, run.at, run.deadline, { audit: run.audit, region: run.region }] : [assignment, run.worker, run.at, run.deadline]));
      if (t.views && t.views.size > 0) image.views = [...t.views].map(([worker, v]) => [worker, v.region, v.status, v.since, v.count, v.at]);
      if (t.partial) image.partial = t.partial;
      // So a successor judges them as a replay of the whole log would.
      if (t.overruled && t.overruled.size > 0) image.overruled = [...t.overruled].map(([worker, v]) => (v.by !== undefined ? [worker, v.at, v.status, v.region, v.by] : [worker, v.at, v.status, v.region]));
      return image;
    });
  }

  /** The faulty-probe windows (absent with quarantine off). */
  exportExtras(): FoldImageExtras {
    return this.scorer ? { probes: this.scorer.exportWindows(), probeWindowMs: this.scorer.policy.windowMs } : {};
  }

  /** A fold continuing from a stored image (validated by the caller). */
  static fromImage(options: FoldOptions, image: readonly FoldImageCheck[], extras: FoldImageExtras = {}): ReplayFold {
    const fold = new ReplayFold(options);
    if (extras.probes) fold.restoredProbes = { windows: extras.probes, windowMs: extras.probeWindowMs };
    fold.importProbes();
    for (const { context, outstanding, views, partial, overruled } of image) {
      const restoredViews: Views | undefined = views && views.length > 0 ? new Map(views.map(([worker, region, status, since, count, at]) => [worker, { region, status, since, count, at }])) : undefined;
      for (const [, region] of views ?? []) fold.sawRegion(region);
      fold.checks.set(context.checkId, {
        context,
        pending: isPending(context) ? snapshotFromContext(context) : undefined,
        checkId: context.checkId,
        status: context.status,
        transitions: 0,
        wentOffline: 0,
        offlineMs: 0,
        results: 0,
        partials: 0,
        offlineSince: undefined,
        views: restoredViews,
        watch: restoredViews !== undefined,
        partial,
        ...(overruled && overruled.length > 0 ? { overruled: new Map(overruled.map(([worker, at, status, region, by]) => [worker, { at, status, region, ...(by ? { by } : {}) }])) } : {}),
        outstanding:
          outstanding && outstanding.length > 0
            ? // An image from before runs had windows: its results keep their own times.
              new Map(
                outstanding.map(([assignment, worker, at, deadline, run]) => [
                  assignment,
                  { worker, at: at ?? -Infinity, deadline: deadline ?? Infinity, ...(run?.audit ? { audit: true } : {}), ...(run?.region ? { region: run.region } : {}) },
                ]),
              )
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

/** After a flip every worker's run of verdicts starts again: verdicts from before it say nothing about the new status. */
function restartRuns(views: Views, at: number): void {
  for (const view of views.values()) {
    view.since = at;
    view.count = 0;
  }
}

function hasDisagreeing(views: Views, status: Status): boolean {
  for (const view of views.values()) if (view.status !== status && view.count > 0) return true;
  return false;
}

/** Verdicts of workers gone for several rotations (left the cluster) are dropped: they would only widen the freshness window. */
function pruneViews(views: Views, at: number, freshMs: number): void {
  for (const [worker, view] of views) if (at - view.at > 4 * freshMs) views.delete(worker);
}
