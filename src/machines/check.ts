import { assign, setup, type SnapshotFrom } from 'xstate';
// Results without a region (older workers, hand-written logs) are all one region: the default one.
import { DEFAULT_REGION } from '../region.ts';

/**
 * The decision rule of SPEC §3 as an XState machine, one per check.
 *
 * Pure: no timers, no clock. Time is the `at` of each event (ms since the epoch), so a
 * replayed log gives the same facts as the live run. Every derived fact is a named action
 * with params (`pendingStarted`, `roundCompleted`, `transitioned`, `pendingCancelled`):
 * `transition()` returns them for the caller to publish, and an actor gets real effects
 * by `.provide({ actions })`.
 *
 * States: `online` and `offline` are idle (no suspected change); `pending` is a suspected
 * change being confirmed. `context.status` is always the current status S, so the
 * suspected direction is the other one (`suspected()`).
 */
export type Status = 'online' | 'offline';

export interface Evidence {
  worker: string;
  status: Status;
  at: number;
  message: string;
  /** The worker's region (absent: a result from before regions, or a hand-written log). */
  region?: string;
}

export interface CheckContext {
  checkId: number;
  status: Status;
  /** Workers that disagreed with `status` in the current round (distinct, in arrival order). */
  turn: string[];
  /** The distinct regions of the turn's workers (only kept while `minRegions` > 1). */
  turnRegions: string[];
  /** Distinct regions a round needs on top of `confirmations` (1: any, gobearmon's rule). */
  minRegions: number;
  /** Completed rounds of disagreement; a flip happens when rounds > delay. */
  rounds: number;
  delay: number;
  /** Seconds between runs; scheduling uses it, the rule itself does not. */
  interval: number;
  confirmations: number;
  /** `at` of the first disagreeing result of this suspected change (0 when idle). */
  pendingSince: number;
  /** The counted disagreeing results of this suspected change: the answer to "why?". */
  evidence: Evidence[];
}

export interface CheckInput {
  checkId: number;
  status: Status;
  delay: number;
  interval: number;
  confirmations: number;
  /** Default 1. */
  minRegions?: number;
}

/** A worker's verdict. `status` other than online/offline (a worker-side failure) is ignored. */
export interface ResultEvent {
  type: 'RESULT';
  worker: string;
  status: string;
  at: number;
  message?: string;
  /** The worker's region; absent counts as the default region. */
  region?: string;
}

/** New settings for the check (a config reload, a replayed `check` line). Status is not changed. */
export interface ConfigureEvent {
  type: 'CONFIGURE';
  delay?: number;
  interval?: number;
  confirmations?: number;
  minRegions?: number;
  at: number;
}

export type CheckEvent = ResultEvent | ConfigureEvent;

export interface RoundFact {
  checkId: number;
  round: number;
  of: number;
  suspected: Status;
  workers: string[];
  at: number;
}
export interface TransitionFact {
  checkId: number;
  from: Status;
  to: Status;
  at: number;
  pendingSince: number;
  rounds: number;
  delay: number;
  confirmations: number;
  evidence: Evidence[];
}
export interface PendingFact {
  checkId: number;
  status: Status;
  suspected: Status;
  worker: string;
  at: number;
}
export interface CancelFact {
  checkId: number;
  status: Status;
  worker: string;
  at: number;
  rounds: number;
}

const EMPTY: readonly never[] = Object.freeze([]);
const other = (status: Status): Status => (status === 'online' ? 'offline' : 'online');
export const suspected = (context: CheckContext): Status => other(context.status);

const isVerdict = (status: string): status is Status => status === 'online' || status === 'offline';

/** Guards, exported so the fast path and the tests use the very functions the machine uses. */
export const rule = {
  /** A worker-side failure or anything that is not a verdict: ignored by the rule. */
  isIgnored: (event: Pick<ResultEvent, 'status'>) => !isVerdict(event.status),
  agrees: (context: CheckContext, event: Pick<ResultEvent, 'status'>) => event.status === context.status,
  /**
   * The result completes a round: the turn, with this worker, reaches `confirmations`
   * distinct workers and, where the check asks for it, `minRegions` distinct regions.
   */
  completesRound: (context: CheckContext, event: ResultEvent) =>
    withWorker(context.turn, event.worker).length >= context.confirmations && (context.minRegions <= 1 || turnRegionsWith(context, event).length >= context.minRegions),
  /** ...and that round is the one past `delay`: the status flips. */
  completesChange: (context: CheckContext, event: ResultEvent) =>
    rule.completesRound(context, event) && context.rounds + 1 > context.delay,
};

function withWorker(turn: string[], worker: string): string[] {
  return turn.includes(worker) ? turn : [...turn, worker];
}

/** The distinct regions of the turn's workers, from their latest evidence. */
function regionsOfTurn(context: CheckContext): string[] {
  const regions: string[] = [];
  for (const worker of context.turn) {
    let region = DEFAULT_REGION;
    for (const e of context.evidence) if (e.worker === worker) region = e.region ?? DEFAULT_REGION;
    if (!regions.includes(region)) regions.push(region);
  }
  return regions;
}

/** The turn's regions with this result's: a worker already in the turn adds nothing (one worker, one vantage point). */
function turnRegionsWith(context: CheckContext, event: ResultEvent): string[] {
  if (context.minRegions <= 1 || context.turn.includes(event.worker)) return context.turnRegions;
  const region = event.region ?? DEFAULT_REGION;
  return context.turnRegions.includes(region) ? context.turnRegions : [...context.turnRegions, region];
}

function evidenceOf(event: ResultEvent): Evidence {
  const evidence: Evidence = { worker: event.worker, status: event.status as Status, at: event.at, message: event.message ?? '' };
  if (event.region !== undefined) evidence.region = event.region;
  return evidence;
}

/** A duplicate vote from a worker already in the turn adds no evidence. */
function addEvidence(context: CheckContext, event: ResultEvent): Evidence[] {
  return context.turn.includes(event.worker) ? context.evidence : [...context.evidence, evidenceOf(event)];
}

const idle = { turn: EMPTY as unknown as string[], turnRegions: EMPTY as unknown as string[], rounds: 0, pendingSince: 0, evidence: EMPTY as unknown as Evidence[] };

type Args = { context: CheckContext; event: CheckEvent };
const asResult = (event: CheckEvent) => event as ResultEvent;

/** Fact params. Each runs after the assigns listed before it in the same transition. */
const facts = {
  pendingStarted: ({ context, event }: Args): PendingFact => ({
    checkId: context.checkId,
    status: context.status,
    suspected: suspected(context),
    worker: asResult(event).worker,
    at: event.at,
  }),
  roundCompleted: ({ context, event }: Args): RoundFact => ({
    checkId: context.checkId,
    round: context.rounds + 1,
    of: context.delay + 1,
    suspected: suspected(context),
    workers: withWorker(context.turn, asResult(event).worker),
    at: event.at,
  }),
  // Runs after `countRound`: rounds and evidence already include this result.
  transitioned: ({ context, event }: Args): TransitionFact => ({
    checkId: context.checkId,
    from: context.status,
    to: suspected(context),
    at: event.at,
    pendingSince: context.pendingSince,
    rounds: context.rounds,
    delay: context.delay,
    confirmations: context.confirmations,
    evidence: context.evidence,
  }),
  pendingCancelled: ({ context, event }: Args): CancelFact => ({
    checkId: context.checkId,
    status: context.status,
    worker: asResult(event).worker,
    at: event.at,
    rounds: context.rounds,
  }),
};

/** The result joins the turn (once per worker) and the evidence. */
function vote({ context, event }: Args): Partial<CheckContext> {
  const result = asResult(event);
  return {
    turn: withWorker(context.turn, result.worker),
    turnRegions: turnRegionsWith(context, result),
    evidence: addEvidence(context, result),
    pendingSince: context.pendingSince || result.at,
  };
}

export const checkMachine = setup({
  types: {
    context: {} as CheckContext,
    events: {} as CheckEvent,
    input: {} as CheckInput,
  },
  guards: {
    isIgnored: ({ event }) => event.type === 'RESULT' && rule.isIgnored(event),
    agrees: ({ context, event }) => event.type === 'RESULT' && rule.agrees(context, event),
    completesRound: ({ context, event }) => event.type === 'RESULT' && rule.completesRound(context, event),
    completesChange: ({ context, event }) => event.type === 'RESULT' && rule.completesChange(context, event),
    statusIsOffline: ({ context }) => context.status === 'offline',
  },
  actions: {
    // Facts: no effect here; callers read them from transition() or .provide() effects.
    pendingStarted: (_, _fact: PendingFact) => {},
    roundCompleted: (_, _fact: RoundFact) => {},
    transitioned: (_, _fact: TransitionFact) => {},
    pendingCancelled: (_, _fact: CancelFact) => {},
    // Context updates.
    vote: assign(vote),
    countRound: assign((args) => ({ ...vote(args), turn: EMPTY as unknown as string[], turnRegions: EMPTY as unknown as string[], rounds: args.context.rounds + 1 })),
    // gobearmon never reset the round counter after a flip; bearmon does, so a change
    // straight back waits out its own delay.
    flip: assign(({ context }) => ({ ...idle, status: suspected(context) })),
    reset: assign(idle),
    configure: assign(({ context, event }) => {
      if (event.type !== 'CONFIGURE') return {};
      return {
        delay: event.delay ?? context.delay,
        interval: event.interval ?? context.interval,
        confirmations: event.confirmations ?? context.confirmations,
        minRegions: event.minRegions ?? context.minRegions,
        // The turn's regions are only kept while a check asks for several: asked for now, they
        // are rebuilt from the turn's evidence, or a round in progress could never complete.
        turnRegions: (event.minRegions ?? context.minRegions) > 1 && context.minRegions <= 1 ? regionsOfTurn(context) : context.turnRegions,
      };
    }),
  },
}).createMachine({
  id: 'check',
  context: ({ input }) => initialContext(input),
  initial: 'idle',
  on: {
    CONFIGURE: { actions: 'configure' },
    // Handles results in the idle states (online, offline); `pending` has its own handler.
    // An agreeing or ignored result changes nothing; a disagreeing one opens a suspicion
    // (or, with confirmations 1 and delay 0, is the whole change at once).
    RESULT: [
      { guard: 'isIgnored' },
      { guard: 'agrees' },
      {
        guard: 'completesChange',
        target: '.idle',
        actions: [
          { type: 'pendingStarted', params: facts.pendingStarted },
          { type: 'roundCompleted', params: facts.roundCompleted },
          'countRound',
          { type: 'transitioned', params: facts.transitioned },
          'flip',
        ],
      },
      {
        guard: 'completesRound',
        target: '.pending',
        actions: [{ type: 'pendingStarted', params: facts.pendingStarted }, { type: 'roundCompleted', params: facts.roundCompleted }, 'countRound'],
      },
      { target: '.pending', actions: [{ type: 'pendingStarted', params: facts.pendingStarted }, 'vote'] },
    ],
  },
  states: {
    // Transient: settles in online or offline according to the current status.
    idle: { always: [{ guard: 'statusIsOffline', target: 'offline' }, { target: 'online' }] },
    online: {},
    offline: {},
    pending: {
      on: {
        RESULT: [
          { guard: 'isIgnored' },
          {
            guard: 'agrees',
            target: 'idle',
            actions: [{ type: 'pendingCancelled', params: facts.pendingCancelled }, 'reset'],
          },
          {
            guard: 'completesChange',
            target: 'idle',
            actions: [{ type: 'roundCompleted', params: facts.roundCompleted }, 'countRound', { type: 'transitioned', params: facts.transitioned }, 'flip'],
          },
          { guard: 'completesRound', actions: [{ type: 'roundCompleted', params: facts.roundCompleted }, 'countRound'] },
          { actions: 'vote' },
        ],
      },
    },
  },
});

export type CheckSnapshot = SnapshotFrom<typeof checkMachine>;

function initialContext(input: CheckInput): CheckContext {
  // Spelled out rather than spread: this runs once per check a controller or replay loads.
  return {
    checkId: input.checkId,
    status: input.status,
    delay: input.delay,
    interval: input.interval,
    confirmations: input.confirmations,
    minRegions: input.minRegions ?? 1,
    turn: idle.turn,
    turnRegions: idle.turnRegions,
    rounds: 0,
    pendingSince: 0,
    evidence: idle.evidence,
  };
}

/**
 * The machine's initial snapshot without running its start-up microsteps: the same value
 * and context `initialTransition` gives (a test holds them equal), ~25x cheaper, which
 * matters when a controller or a replay loads 100,000 checks.
 */
export function initialSnapshot(input: CheckInput): CheckSnapshot {
  return settledSnapshot(initialContext(input));
}

/**
 * Rebuilds the snapshot of a check with no suspected change from its context alone. A
 * snapshot costs ~0.9 KB, its context ~0.15 KB: holders of many checks keep only the
 * context of idle checks and the snapshot of pending ones.
 */
/** Pending while a round is filling or rounds have completed; otherwise settled at its status. */
export function isPending(context: Pick<CheckContext, 'turn' | 'rounds'>): boolean {
  return context.turn.length > 0 || context.rounds > 0;
}

/** The snapshot a context stands for (a stored fold image holds contexts only). */
export function snapshotFromContext(context: CheckContext): CheckSnapshot {
  return checkMachine.resolveState({ value: isPending(context) ? 'pending' : context.status, context });
}

export function settledSnapshot(context: CheckContext): CheckSnapshot {
  return checkMachine.resolveState({ value: context.status, context });
}
