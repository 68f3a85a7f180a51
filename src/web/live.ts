/**
 * What the web role knows live: the controller's status (asked over NATS like `bearmon
 * status`, again soon after any result, decision or transition on the bus), and every
 * transition line of the result log with its evidence (an ephemeral consumer filtered on
 * `bearmon.transition.>`, from the start of the log and then live). Changes are handed to
 * listeners (the SSE streams) as the checks that changed.
 *
 * Nothing here is trusted for state: a check's state is what the controller answers;
 * transition lines only explain incidents that MySQL's check_events recorded (src/web/data.ts
 * matches them), so a line a forged publisher managed to log explains nothing by itself.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import { nanos, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { requestStatus } from '../cli/status.ts';
import type { CheckStatus, ControllerStatus } from '../controller/status.ts';
import type { Logger } from '../log.ts';
import type { DerivedLine } from '../replay/fold.ts';
import { parseLoggedSubject, PREFIX, wildcard } from '../bus/subjects.ts';

export type TransitionLine = Extract<DerivedLine, { type: 'transition' }>;

/** A live event as the dashboard receives it (the subject's family, its check, the few fields it shows). */
export interface BusEvent {
  family: 'result' | 'decision' | 'transition';
  checkId: number;
  /** The result's worker; for a decision or transition, the controller that published it. */
  publisher: string;
  type?: string;
  status?: string;
  to?: string;
  round?: number;
  of?: number;
  workers?: string[];
  at?: string;
}

/** A round of a suspected change that `confirmations` distinct workers completed. */
export interface CompletedRound {
  round: number;
  of: number;
  workers: string[];
  at: string;
}

export interface LiveListener {
  /** Checks whose state, round or last results changed (whole CheckStatus objects). */
  checks(changed: CheckStatus[], removed: number[]): void;
  status(summary: StatusSummary): void;
  event(event: BusEvent): void;
}

export interface StatusSummary {
  reachable: boolean;
  error: string | null;
  controller: string | null;
  view: number | null;
  at: string | null;
  confirmations: number | null;
  quorum: boolean | null;
  workers: ControllerStatus['workers'];
  notifications: ControllerStatus['notifications'] | null;
  backlog: ControllerStatus['backlog'] | null;
}

export interface LiveOptions {
  nc: NatsConnection;
  stream: string;
  log: Logger;
  /** Poll the controller this often even when the bus is quiet (ages, workers). */
  pollMs?: number;
  /** After an event, ask again no sooner than this. */
  debounceMs?: number;
  statusTimeoutMs?: number;
  /** Transition lines kept per check. */
  keepPerCheck?: number;
}

/** The fields of a check that, when changed, are news (ages and next-run times change at every poll). */
function fingerprint(c: CheckStatus): string {
  const results = Object.entries(c.lastResults ?? {})
    .map(([w, r]) => `${w}:${r.status}:${r.at}`)
    .sort()
    .join('|');
  return `${c.name}\u0000${c.type}\u0000${c.state}\u0000${c.suspected ?? ''}\u0000${(c.turn ?? []).join(',')}\u0000${c.rounds ?? ''}\u0000${c.of ?? ''}\u0000${c.problem ?? ''}\u0000${c.partial ? `${c.partial.down.join(',')}/${c.partial.up.join(',')}` : ''}\u0000${results}`;
}

export class LiveState {
  private status: ControllerStatus | undefined;
  private error: string | null = 'not asked yet';
  private readonly prints = new Map<number, string>();
  private readonly byId = new Map<number, CheckStatus>();
  private readonly listeners = new Set<LiveListener>();
  private readonly transitions = new Map<number, TransitionLine[]>();
  /** The last round completed of each check's suspected change (from the controller's `round` decisions), until it is settled. */
  private readonly rounds = new Map<number, CompletedRound>();
  private subscriptions: Subscription[] = [];
  private consumer: ConsumerMessages | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;
  private lastAsk = 0;
  /** How long the last status read took (all its pages). */
  lastDurationMs = 0;
  private stopped = false;
  /** Bumped whenever the checks change: caches keyed by it (the API's serialized list) stay valid until then. */
  version = 0;
  private readyResolve!: () => void;
  /** Settles after the first answer (or failure) of the controller. */
  readonly ready = new Promise<void>((resolve) => (this.readyResolve = resolve));
  private transitionsLoaded!: () => void;
  /** Settles when the transition lines stored before start-up have been read. */
  readonly transitionsReady = new Promise<void>((resolve) => (this.transitionsLoaded = resolve));

  constructor(private readonly options: LiveOptions) {}

  start(): void {
    const { nc } = this.options;
    for (const pattern of [`${PREFIX}.transition.>`, `${PREFIX}.decision.>`, wildcard.results()]) {
      const sub = nc.subscribe(pattern, {
        callback: (err, msg) => {
          if (err) return;
          this.onBus(msg.subject, msg.data);
        },
      });
      this.subscriptions.push(sub);
    }
    void this.refresh();
    void this.followTransitions();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const sub of this.subscriptions) sub.unsubscribe();
    await this.consumer?.close().catch(() => {});
    await this.inFlight?.catch(() => {});
    this.listeners.clear();
  }

  subscribe(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  checks(): CheckStatus[] {
    return this.status?.checks ?? [];
  }

  /** What changes when a check's state, round or last results change: a cache key for what is made of it. */
  printOf(id: number): string | undefined {
    return this.prints.get(id);
  }

  check(id: number): CheckStatus | undefined {
    return this.byId.get(id);
  }

  /** While a check is pending: the last round its workers completed (undefined before the first). */
  lastRound(id: number): CompletedRound | undefined {
    return this.byId.get(id)?.state === 'pending' ? this.rounds.get(id) : undefined;
  }

  summary(): StatusSummary {
    const s = this.status;
    return {
      reachable: this.error === null,
      error: this.error,
      controller: s?.controller ?? null,
      view: s?.view ?? null,
      at: s?.at ?? null,
      confirmations: s?.confirmations ?? null,
      quorum: s?.quorum ?? null,
      workers: s?.workers ?? [],
      notifications: s?.notifications ?? null,
      backlog: s?.backlog ?? null,
    };
  }

  /** Transition lines of one check from the log, oldest first. */
  transitionsOf(checkId: number): readonly TransitionLine[] {
    return this.transitions.get(checkId) ?? [];
  }

  /** Asks the controller now (coalesced with a request in flight). */
  refresh(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.ask().finally(() => {
      this.inFlight = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.schedule(this.gap(this.options.debounceMs ?? 250));
      } else this.schedule(this.gap(this.options.pollMs ?? 2000));
    });
    return this.inFlight;
  }

  /**
   * The controller builds its whole status for every page it answers: with many checks a
   * status read costs it real time, so the web role leaves it at least 4× that long between
   * two reads (at 10,000 checks updates come every few seconds instead of 4 times a second).
   */
  private gap(ms: number): number {
    return Math.max(ms, 4 * this.lastDurationMs);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), ms);
  }

  private async ask(): Promise<void> {
    this.lastAsk = Date.now();
    try {
      const began = performance.now();
      const status = await requestStatus(this.options.nc, this.options.statusTimeoutMs ?? 3000);
      this.lastDurationMs = performance.now() - began;
      this.error = null;
      this.apply(status);
    } catch (err) {
      const message = (err as Error).message;
      if (this.error !== message) this.options.log.warn({ err: message }, 'web: the controller did not answer the status request');
      this.error = message;
      for (const l of this.listeners) l.status(this.summary());
    } finally {
      this.readyResolve();
    }
  }

  private apply(status: ControllerStatus): void {
    const changed: CheckStatus[] = [];
    const seen = new Set<number>();
    for (const check of status.checks) {
      seen.add(check.id);
      this.byId.set(check.id, check);
      if (check.state !== 'pending') this.rounds.delete(check.id);
      const round = this.rounds.get(check.id);
      const print = `${fingerprint(check)}\u0000${round ? `${round.round}:${round.workers.join(',')}` : ''}`;
      if (this.prints.get(check.id) !== print) {
        this.prints.set(check.id, print);
        changed.push(check);
      }
    }
    const removed = [...this.prints.keys()].filter((id) => !seen.has(id));
    for (const id of removed) {
      this.prints.delete(id);
      this.byId.delete(id);
    }
    this.status = status;
    if (changed.length > 0 || removed.length > 0) this.version += 1;
    for (const l of this.listeners) {
      if (changed.length > 0 || removed.length > 0) l.checks(changed, removed);
      l.status(this.summary());
    }
  }

  private onBus(subjectName: string, data: Uint8Array): void {
    const parsed = parseLoggedSubject(subjectName);
    if (!parsed || (parsed.family !== 'result' && parsed.family !== 'decision' && parsed.family !== 'transition')) return;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
    } catch {
      return;
    }
    // The payload must be about the check its subject names (src/bus/trust.ts's first rule).
    if (body.checkId !== parsed.checkId) return;
    const pick = <T>(v: unknown, ok: (v: unknown) => boolean) => (ok(v) ? (v as T) : undefined);
    const str = (v: unknown) => typeof v === 'string' && v.length <= 64;
    const event: BusEvent = {
      family: parsed.family,
      checkId: parsed.checkId,
      publisher: parsed.publisher,
      type: pick<string>(body.type, str),
      status: pick<string>(body.status, str),
      to: pick<string>(body.to, str),
      round: pick<number>(body.round, Number.isSafeInteger),
      of: pick<number>(body.of, Number.isSafeInteger),
      workers: pick<string[]>(body.workers, (v) => Array.isArray(v) && v.length <= 100 && v.every(str)),
      at: pick<string>(body.at, str),
    };
    // Rounds are remembered from the controller in charge only (the view's, as its status says).
    if (event.family === 'decision' && event.publisher === this.status?.controller) {
      if (event.type === 'round' && event.round !== undefined && event.of !== undefined && event.workers) {
        this.rounds.set(event.checkId, { round: event.round, of: event.of, workers: event.workers, at: event.at ?? '' });
      } else if (event.type === 'pending' || event.type === 'cancelled') this.rounds.delete(event.checkId);
    }
    if (event.family === 'transition') this.rounds.delete(event.checkId);
    for (const l of this.listeners) l.event(event);
    // Results arrive all the time at scale: one status request per debounce window at most.
    const wait = Math.max(0, this.gap(this.options.debounceMs ?? 250) - (Date.now() - this.lastAsk));
    if (this.inFlight) this.again = true;
    else this.schedule(wait);
  }

  /** Reads every transition line of the log, then keeps following it. */
  private async followTransitions(): Promise<void> {
    const { nc, stream, log } = this.options;
    let nextSeq = 0;
    let announced = false;
    while (!this.stopped) {
      try {
        const jsm = await jetstreamManager(nc);
        const last = (await jsm.streams.info(stream)).state.last_seq;
        // No name: the legacy ephemeral create, the one nats.conf grants readers.
        const info = await jsm.consumers.add(stream, {
          ack_policy: AckPolicy.None,
          inactive_threshold: nanos(30_000),
          mem_storage: true,
          num_replicas: 1,
          filter_subject: `${PREFIX}.transition.>`,
          ...(nextSeq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: nextSeq } : { deliver_policy: DeliverPolicy.All }),
        });
        if (this.stopped) return;
        const consumer = await jetstream(nc).consumers.get(stream, info.name);
        if (info.num_pending === 0 && !announced) {
          announced = true;
          this.transitionsLoaded();
        }
        this.consumer = await consumer.consume({ max_messages: 256, abort_on_missing_resource: true });
        let expected = 1;
        for await (const m of this.consumer) {
          if (m.info.deliverySequence !== expected) break; // a lost delivery: start again after the last one
          expected += 1;
          nextSeq = m.seq + 1;
          this.keepTransition(m.subject, m.string());
          if (!announced && (m.info.pending === 0 || m.seq >= last)) {
            announced = true;
            this.transitionsLoaded();
          }
        }
        await this.consumer.close().catch(() => {});
      } catch (err) {
        if (this.stopped) return;
        log.warn({ err: (err as Error).message, stream }, 'web: reading transitions from the result log failed; trying again');
        if (!announced) {
          announced = true;
          this.transitionsLoaded();
        }
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  }

  private keepTransition(subjectName: string, text: string): void {
    const parsed = parseLoggedSubject(subjectName);
    if (!parsed || parsed.family !== 'transition') return;
    let line: TransitionLine;
    try {
      line = JSON.parse(text) as TransitionLine;
    } catch {
      return;
    }
    if (line.type !== 'transition' || line.checkId !== parsed.checkId || typeof line.at !== 'string' || !Array.isArray(line.evidence)) return;
    const list = this.transitions.get(line.checkId) ?? [];
    list.push(line);
    const keep = this.options.keepPerCheck ?? 100;
    if (list.length > keep) list.splice(0, list.length - keep);
    this.transitions.set(line.checkId, list);
  }
}
