import type { Transition } from '../db/store.ts';
import { StreamTrust, type SkipReason, type TrustOptions } from '../bus/trust.ts';
import { ReplayFold, type DerivedLine, type FoldOptions } from '../replay/fold.ts';

/**
 * What a controller needs from the result log to take over: every check machine and
 * outstanding run (the fold), the transitions derived but not yet confirmed in MySQL, and
 * which recent results it has already applied. Built by folding the stream in order, by a
 * standby while another worker controls, or from nothing at a cold start.
 */
export interface LogState {
  fold: ReplayFold;
  /** Stream sequence of the last record applied (0: none). */
  seq: number;
  /** Transitions derived and not yet seen `recorded`, by key, oldest first. */
  owed: Map<string, Transition>;
  /** Results applied, with their stream sequence (newest last, bounded). */
  recent: RecentResults;
  /** Records applied. */
  records: number;
  /** Creation time of the stream folded (a recreated stream numbers from 1 again). */
  created?: string;
  /** Who may say what: the view in force so far, and what was skipped (src/bus/trust.ts). */
  trust: StreamTrust;
  /** Each check's latest transition derived by the fold and latest one found in the log (absent: none seen yet). */
  transitions?: TransitionLines;
}

/**
 * A controller that died (or was replaced) between deciding a transition and getting its
 * line into the log leaves the log without it (MySQL has it). Its successor, folding the
 * log, derives it again: when the log holds no line for it, the successor publishes it.
 * Per check, the latest of each — bounded by the checks.
 */
export class TransitionLines {
  readonly derived = new Map<number, Extract<DerivedLine, { type: 'transition' }>>();
  readonly logged = new Map<number, { to: string; at: number }>();

  /** Transitions derived with no logged line for the same change within `toleranceMs` (the live and the log's fold may date it a little apart). */
  missing(toleranceMs = 10_000): Extract<DerivedLine, { type: 'transition' }>[] {
    const out: Extract<DerivedLine, { type: 'transition' }>[] = [];
    for (const [checkId, line] of this.derived) {
      const logged = this.logged.get(checkId);
      if (!logged || logged.to !== line.to || logged.at < Date.parse(line.at) - toleranceMs) out.push(line);
    }
    return out;
  }
}

/** How the fold judges faulty probes (the controller's `[controller] quarantine` and probe settings). */
export type FoldPolicy = Pick<FoldOptions, 'quarantine' | 'probe'>;

export function emptyLogState(confirmations: number, trust: TrustOptions, policy: FoldPolicy = {}): LogState {
  return { fold: new ReplayFold({ confirmations, ...policy }), seq: 0, owed: new Map(), recent: new RecentResults(), records: 0, trust: new StreamTrust(trust) };
}

/** One stored record of the result log. */
export interface StreamRecord {
  subject: string;
  text: string;
  seq: number;
  /** When the stream stored it (ms): a result's receipt, which bounds its time. */
  time?: number | Date;
}

/** Told of every record the trust rules skip (logged and counted by the caller). */
export type SkipListener = (record: StreamRecord, reason: SkipReason, detail: string | undefined) => void;

/** `assignment/worker`: one result, whichever way it arrived (stream or live subscription). */
export const resultKey = (assignment: string, worker: string) => `${assignment}/${worker}`;

/**
 * Applies one stream record, if its subject and the view in force allow it (src/bus/trust.ts).
 * Lines that are not input (derived facts) only update `owed`.
 */
export function applyRecord(state: LogState, record: StreamRecord, onSkip?: SkipListener): void {
  const { seq } = record;
  state.seq = Math.max(state.seq, seq);
  const admitted = state.trust.admit(record.subject, record.text, seq);
  if (admitted.kind === 'skip') return onSkip?.(record, admitted.reason, admitted.detail);
  if (admitted.kind === 'view') return;
  const { parsed } = admitted;
  if (!parsed.line) {
    if ('recorded' in parsed && parsed.recorded) settle(state.owed, parsed.recorded);
    if ('transition' in parsed && parsed.transition) (state.transitions ??= new TransitionLines()).logged.set(parsed.transition.checkId, { to: parsed.transition.to, at: Date.parse(parsed.transition.at) });
    return;
  }
  state.records += 1;
  const line = parsed.line.type === 'result' && record.time !== undefined ? { ...parsed.line, receivedAt: Number(record.time) } : parsed.line;
  const { lines } = state.fold.apply(line);
  if (parsed.line.type === 'result' && parsed.line.assignment) state.recent.add(seq, resultKey(parsed.line.assignment, parsed.line.worker));
  for (const line of lines) {
    const transition = line.type === 'transition' ? transitionOf(line) : line.type === 'partial' ? partialTransitionOf(line) : undefined;
    if (transition) state.owed.set(transition.key, transition);
    if (line.type === 'transition') (state.transitions ??= new TransitionLines()).derived.set(line.checkId, line);
  }
}

/**
 * A transition is in MySQL: it, and every owed transition of that check no later than it,
 * need no write (the writer records a check's transitions in order, so an earlier one left
 * owed was written, dropped, or derived differently by this fold — writing it now would
 * move the check backwards).
 */
function settle(owed: Map<string, Transition>, recorded: { checkId: number; key: string; transitionAt?: number }): void {
  owed.delete(recorded.key);
  if (recorded.transitionAt === undefined) return;
  for (const [key, transition] of owed) if (transition.checkId === recorded.checkId && transition.at.getTime() <= recorded.transitionAt) owed.delete(key);
}

/**
 * The MySQL record of a transition the machine decided. Its key is the same for every
 * controller that derives it from the log, so a successor's rewrite changes nothing.
 */
export function transitionOf(line: Extract<DerivedLine, { type: 'transition' }>, view?: number): Transition {
  const deciding = line.evidence.at(-1);
  return {
    checkId: line.checkId,
    to: line.to as Transition['to'],
    at: new Date(line.at),
    key: `${line.checkId}:${line.at}:${line.to}`,
    ...(view === undefined ? {} : { view }),
    message: deciding?.message ?? '',
    workers: [...new Set(line.evidence.map((e) => e.worker))],
  };
}

/**
 * The MySQL record of a partial outage beginning or ending (a change of its regions is only
 * logged): no status change, only the notifications of `partial` alerts. Keyed by the
 * outage's start, so every controller deriving it writes it once.
 */
export function partialTransitionOf(line: Extract<DerivedLine, { type: 'partial' }>, view?: number): Transition | undefined {
  if (line.phase === 'changed') return undefined;
  const since = Date.parse(line.since);
  const message =
    line.phase === 'began'
      ? `offline from ${line.down.join(', ')} (online from ${line.up.join(', ')})`
      : line.reason === 'offline'
        ? `the check itself is offline now (was offline from ${line.down.join(', ')})`
        : line.reason === 'discounted'
          ? `no longer counted: the workers that saw it offline from ${line.down.join(', ')} were flagged as faulty probes`
        : `online from every region again (was offline from ${line.down.join(', ')})`;
  // At the end: recovered, no region is down any more; gone offline, no region is up.
  const regions =
    line.phase === 'began' || line.reason === 'discounted' ? { down: line.down, up: line.up } : line.reason === 'offline' ? { down: line.down, up: [] } : { down: [], up: line.up };
  return {
    checkId: line.checkId,
    to: line.phase === 'began' ? 'offline' : 'online',
    at: new Date(line.at),
    key: `partial:${line.checkId}:${since}:${line.phase}`,
    ...(view === undefined ? {} : { view }),
    message,
    workers: [],
    partial: { phase: line.phase, ...regions },
  };
}

/**
 * A bounded ring of (sequence, result key). A new controller subscribes to live results
 * before it finishes reading the log, so a result can arrive both ways: the keys of
 * results stored after the subscription began are what it must not apply twice.
 */
export class RecentResults {
  private readonly seqs: number[] = [];
  private readonly keys: string[] = [];
  private head = 0;

  constructor(private readonly capacity = 200_000) {}

  add(seq: number, key: string): void {
    if (this.seqs.length < this.capacity) {
      this.seqs.push(seq);
      this.keys.push(key);
      return;
    }
    this.seqs[this.head] = seq;
    this.keys[this.head] = key;
    this.head = (this.head + 1) % this.capacity;
  }

  /** Keys of results stored after `seq`. */
  after(seq: number): Set<string> {
    const found = new Set<string>();
    for (let i = 0; i < this.seqs.length; i++) if (this.seqs[i]! > seq) found.add(this.keys[i]!);
    return found;
  }
}

/**
 * The usual SkipListener: each skip is counted (metric); the first few of each reason are
 * logged with subject, sequence and detail, then every thousandth, so a flood of forged
 * records cannot flood the log too.
 */
export function reportSkips(log: { warn(fields: object, message: string): void }, untrusted: (reason: string) => void, loudPerReason = 20): SkipListener {
  const seen = new Map<string, number>();
  return (record, reason, detail) => {
    untrusted(reason);
    const count = (seen.get(reason) ?? 0) + 1;
    seen.set(reason, count);
    if (count <= loudPerReason || count % 1000 === 0) log.warn({ subject: record.subject, seq: record.seq, reason, detail, count }, `skipped a log record: ${reason}`);
  };
}
