import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Kvm, type KV } from '@nats-io/kv';
import { headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { connectBus } from '../bus/connect.ts';
import { decode, heartbeat, viewMessage, type Pong, type ViewMessage } from '../bus/messages.ts';
import { heartbeatOf, subject, wildcard } from '../bus/subjects.ts';
import type { Config } from '../config/schema.ts';
import { createContactContext } from '../contacts/registry.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { createAdminNotifier } from '../notices/admin.ts';
import { showValue } from '../validation.ts';
import { unguessableId } from '../bus/message-id.ts';
import { createPinger, type PingOutcome } from './ping-responder.ts';
import { CLOSE_BUS_MS, drainThenClose, stopWithin } from './shutdown.ts';
import { terminationSignal } from './worker.ts';

/**
 * The viewserver: heartbeats the workers able to control, keeps the controller while it
 * answers, and otherwise names the live candidate that has been up longest (as gobearmon
 * did). Each change is a new view whose number is one above the last; the number is
 * stored in JetStream KV before anyone hears of it, so it only grows, across restarts and
 * even if two viewservers race (the KV write is conditional on the revision read).
 */
export interface ViewserverDeps {
  nc: NatsConnection;
  /**
   * The connection pings and pongs travel on (default `nc`). Its own connection keeps the
   * liveness path clear of whatever floods the main one (heartbeats, view requests).
   */
  liveness?: NatsConnection;
  log: Logger;
  /** Fixed candidate list ([viewserver] controller). Empty or absent: discover them from worker heartbeats. */
  candidates?: string[];
  periodMs?: number;
  timeoutMs?: number;
  /**
   * Consecutive unanswered pings (timeouts) after which the controller is replaced: a busy
   * or slow controller is late, not dead. "No responders" — no process subscribed at all,
   * as after a kill — replaces it at once.
   */
  misses?: number;
  /** How often the current view is said again on bearmon.view.current (default 30 s). */
  repeatMs?: number;
  now?: () => number;
  /** Discovery only: a worker silent this long is no longer a candidate (default 5000 ms). */
  discoveryTtlMs?: number;
  /** Discovery only: no controller is named before every worker had a chance to announce itself (default 1500 ms). */
  discoveryGraceMs?: number;
  /** Called (besides the error log line) when the controller is lost, or none can be named, with no live candidate. */
  onNoCandidate?(previous: string | null): void;
  metrics?: Metrics;
  /** This viewserver's name in the lease (default hostname-pid). */
  id?: string;
  /** How often the active viewserver renews its lease (default 500 ms). */
  renewMs?: number;
  /** A lease not renewed this long (seen by a standby's own clock) may be taken (default 2000 ms). */
  leaseMs?: number;
  /** How often a standby reads the lease (default 250 ms). */
  leasePollMs?: number;
}

export interface CandidateStatus {
  worker: string;
  /** The last ping was answered (with a valid pong). */
  alive: boolean;
  consecutiveMisses: number;
  startedAt?: string;
  canControl?: boolean;
  lastProblem?: string;
}

export interface ViewserverHandle {
  stop(): Promise<void>;
  view(): ViewMessage;
  candidates(): CandidateStatus[];
  /** This viewserver holds the lease: it pings, names controllers and says the view. */
  active(): boolean;
}

export const VIEW_BUCKET = 'bearmon_view';
export const VIEW_KEY = 'current';
/** The key of the active viewserver's lease, in the view's bucket (the viewserver's credential may already write it). */
export const LEASE_KEY = 'lease';
export const DEFAULT_RENEW_MS = 500;
export const DEFAULT_LEASE_MS = 2000;
export const DEFAULT_LEASE_POLL_MS = 250;
export const DEFAULT_PERIOD_MS = 1000;
export const DEFAULT_TIMEOUT_MS = 500;
export const DEFAULT_MISSES = 3;
export const DEFAULT_REPEAT_MS = 30_000;
/** A candidate whose main loop has not ticked this long (its liveness thread says so) counts as missing a ping. */
export const MAX_LOOP_LAG_MS = 10_000;
/** How long a replaced controller is passed over while another candidate is live. */
export const REPLACED_BACKOFF_MS = 30_000;
/** Requests for the view (bearmon.view.get) are answered at most this often, so a flood of them cannot flood the bus or the log. */
const MIN_REPEAT_GAP_MS = 250;
const MAX_HEARTBEAT_BYTES = 1024;
const DEFAULT_DISCOVERY_TTL_MS = 5000;
const DEFAULT_DISCOVERY_GRACE_MS = 1500;

interface Candidate {
  id: string;
  misses: number;
  pong?: Pong;
  lastProblem?: string;
}

export async function startViewserver(deps: ViewserverDeps): Promise<ViewserverHandle> {
  const now = deps.now ?? Date.now;
  const periodMs = deps.periodMs ?? DEFAULT_PERIOD_MS;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const missLimit = deps.misses ?? DEFAULT_MISSES;
  // A busy loop is worth a line once it is late by more than a ping's timeout.
  const lagReportMs = timeoutMs;
  const fixed = deps.candidates ?? [];
  const log = deps.log.child({ role: 'viewserver' });
  const store = await openViewStore(deps.nc, log);
  let { view, revision } = await store.load(now());
  const id = deps.id ?? `${hostname()}-${process.pid}`;
  log.info({ id, view: view.view, controller: view.controller, candidates: fixed.length > 0 ? fixed : 'discovered from heartbeats' }, 'viewserver started');

  const discovery = fixed.length === 0 ? discoverCandidates(deps.nc, log, now, deps.discoveryTtlMs ?? DEFAULT_DISCOVERY_TTL_MS) : undefined;
  const pinger = await createPinger(deps.liveness ?? deps.nc, log, (reason) => deps.metrics?.untrusted('pong', reason));
  const startedAt = now();
  const states = new Map<string, Candidate>();
  let noCandidateReported = false;
  const replacedAt = new Map<string, number>();

  /**
   * Says the view on bearmon.view.current — the only place a worker takes it from. The
   * message id makes the result log store each view once per duplicate window, however
   * often it is said.
   */
  let lastSaid = 0;
  // Unguessable (src/bus/message-id.ts), and the same for every repeat of one view by this process.
  const sayNonce = unguessableId('').slice(1);
  let sayTimer: NodeJS.Timeout | undefined;
  const say = () => {
    clearTimeout(sayTimer);
    sayTimer = undefined;
    lastSaid = Date.now();
    const h = natsHeaders();
    h.set('Nats-Msg-Id', `view-${view.view}.${sayNonce}`);
    try {
      deps.nc.publish(subject.view('current'), JSON.stringify(view), { headers: h });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not say the view');
    }
  };
  const sayAgainSoon = () => {
    if (sayTimer) return;
    sayTimer = setTimeout(say, Math.max(0, lastSaid + MIN_REPEAT_GAP_MS - Date.now()));
  };
  /** A standby says the stored view (read from KV at that moment), never one of its own. */
  const sayStored = async () => {
    try {
      ({ view, revision } = await store.load(now()));
      if (view.view > 0) say();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not read the stored view to say it');
    }
  };
  let getTimer: NodeJS.Timeout | undefined;
  let lastStoredSaid = 0;
  const onGet = (err: Error | null, msg: Msg) => {
    if (err) return log.error({ err: err.message }, 'view request subscription failed');
    if (msg.subject !== subject.view('get')) return;
    if (lease.active()) return sayAgainSoon();
    if (getTimer) return;
    getTimer = setTimeout(() => {
      getTimer = undefined;
      lastStoredSaid = Date.now();
      void sayStored();
    }, Math.max(0, lastStoredSaid + MIN_REPEAT_GAP_MS - Date.now()));
  };

  /**
   * Exactly one viewserver acts: the holder of the lease. On becoming active it reads the
   * stored view, so the number keeps growing from whatever the last active one stored.
   */
  let becameActive: Promise<void> = Promise.resolve();
  const lease = await startLease(store.kv, {
    id,
    log,
    renewMs: deps.renewMs ?? DEFAULT_RENEW_MS,
    leaseMs: deps.leaseMs ?? DEFAULT_LEASE_MS,
    pollMs: deps.leasePollMs ?? DEFAULT_LEASE_POLL_MS,
    onActive: () => {
      becameActive = (async () => {
        states.clear();
        try {
          ({ view, revision } = await store.load(now()));
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'could not read the stored view on becoming active; the first view change will');
        }
        log.info({ id, view: view.view, controller: view.controller }, 'viewserver active');
        if (view.view > 0) say();
      })();
    },
  });
  const getSubscription = deps.nc.subscribe(subject.view('get'), { callback: onGet });
  const repeater = setInterval(() => lease.active() && sayAgainSoon(), deps.repeatMs ?? DEFAULT_REPEAT_MS);

  /** Everyone worth a ping: the fixed list, or the discovered workers plus the controller (even before its first heartbeat). */
  function candidateIds(): string[] {
    if (!discovery) return fixed;
    const ids = new Set(discovery.live());
    if (view.controller) ids.add(view.controller);
    return [...ids];
  }

  async function round(): Promise<void> {
    await becameActive;
    if (!lease.active()) return;
    const ids = candidateIds();
    const outcomes = await Promise.all(ids.map((id) => pinger.ping(id, timeoutMs)));
    for (const id of states.keys()) if (!ids.includes(id)) states.delete(id);
    ids.forEach((id, i) => record(id, outcomes[i]!));
    await decide();
  }

  function record(id: string, answered: PingOutcome): void {
    const state = states.get(id) ?? { id, misses: 0 };
    states.set(id, state);
    // Alive but its main loop stuck this long: it is not doing the controller's work either.
    const outcome: PingOutcome =
      answered.ok && (answered.pong.loopLagMs ?? 0) > MAX_LOOP_LAG_MS ? { ok: false, reason: `event loop stalled for ${Math.round(answered.pong.loopLagMs! / 1000)} s` } : answered;
    if (answered.ok && (answered.pong.loopLagMs ?? 0) > lagReportMs && outcome.ok) {
      log.info({ worker: id, loopLagMs: answered.pong.loopLagMs }, 'candidate answers from its liveness thread while its main loop is busy');
    }
    if (outcome.ok) {
      if (state.misses > 0 || !state.pong) log.info({ worker: id, startedAt: outcome.pong.startedAt, canControl: outcome.pong.canControl }, 'candidate answers');
      state.misses = 0;
      state.pong = outcome.pong;
      state.lastProblem = undefined;
      return;
    }
    if (state.misses === 0) log.info({ worker: id, problem: outcome.reason }, 'candidate missed a ping');
    // Nobody subscribed: the process is gone (or cut off and known so by the server), not late.
    state.misses = outcome.reason === 'no responders' ? Math.max(state.misses + 1, missLimit) : state.misses + 1;
    state.lastProblem = outcome.reason;
  }

  const allowed = (id: string) => fixed.length === 0 || fixed.includes(id);
  const isLive = (state: Candidate) => state.misses === 0 && state.pong?.canControl === true && allowed(state.id);

  async function decide(): Promise<void> {
    const current = view.controller ? states.get(view.controller) : undefined;
    if (current && allowed(current.id) && current.misses < missLimit && current.pong?.canControl !== false) return;
    // Until every worker had a heartbeat's time to announce itself, "up longest" would only mean "heard first".
    if (discovery && now() - startedAt < (deps.discoveryGraceMs ?? DEFAULT_DISCOVERY_GRACE_MS)) return;
    const live = [...states.values()].filter(isLive);
    // A controller just replaced (busy, cut off) is named again only if no one else can be:
    // naming it back and forth is what turns one slow moment into a storm of views.
    const rested = live.filter((c) => now() - (replacedAt.get(c.id) ?? -Infinity) >= REPLACED_BACKOFF_MS);
    const next = upLongest(rested.length > 0 ? rested : live);
    if (next === undefined) return reportNoCandidate();
    noCandidateReported = false;
    if (next === view.controller) return;
    if (view.controller) replacedAt.set(view.controller, now());
    await changeView(next);
  }

  async function reportNoCandidate(): Promise<void> {
    const previous = view.controller;
    if (previous !== null) await changeView(null);
    if (noCandidateReported || view.controller !== null) return;
    noCandidateReported = true;
    const candidates = [...states.values()].map((s) => ({ worker: s.id, misses: s.misses, canControl: s.pong?.canControl, problem: s.lastProblem }));
    log.error({ view: view.view, previous, candidates }, 'no controller candidate alive');
    try {
      deps.onNoCandidate?.(previous);
    } catch (err) {
      log.error({ err: (err as Error)?.message ?? String(err) }, 'no-candidate handler failed');
    }
  }

  /** Stores the next view, then tells everyone; a view nobody could store is never published. */
  async function changeView(controller: string | null): Promise<void> {
    const next: ViewMessage = { type: 'view', view: view.view + 1, controller, at: new Date(now()).toISOString() };
    // Only the lease holder proposes; the conditional write below is the fence if two believe they hold it.
    if (!lease.active()) return;
    try {
      revision = await store.write(next, revision);
    } catch (err) {
      return adoptStored(next, err);
    }
    const previous = view.controller;
    view = next;
    log.info({ view: next.view, controller, previous }, controller === null ? 'new view without a controller' : 'new view');
    deps.metrics?.viewChanged(next.view, controller !== null);
    say();
  }

  /** The write failed: either another viewserver moved the view on (take its view) or the store is unreachable (try next round). */
  async function adoptStored(wanted: ViewMessage, err: unknown): Promise<void> {
    const reason = (err as Error)?.message ?? String(err);
    try {
      const stored = await store.load(now());
      if (stored.revision !== revision && stored.view.view >= view.view) {
        log.warn({ view: stored.view.view, controller: stored.view.controller, wanted: wanted.controller, err: reason }, 'another viewserver changed the view; adopting it');
        ({ view, revision } = stored);
        return;
      }
    } catch {
      // Reported below with the write's own error.
    }
    log.error({ view: wanted.view, controller: wanted.controller, err: reason }, 'could not store the new view; retrying next period');
  }

  const loop = startLoop(round, periodMs, log);

  return {
    stop: async () => {
      await loop.stop();
      await lease.stop();
      clearInterval(repeater);
      clearTimeout(sayTimer);
      clearTimeout(getTimer);
      pinger.stop();
      getSubscription.unsubscribe();
      discovery?.stop();
      log.info({ view: view.view, controller: view.controller }, 'viewserver stopped');
    },
    view: () => view,
    active: () => lease.active(),
    candidates: () =>
      [...states.values()].map((s) => ({
        worker: s.id,
        alive: s.misses === 0 && s.pong !== undefined,
        consecutiveMisses: s.misses,
        startedAt: s.pong?.startedAt,
        canControl: s.pong?.canControl,
        lastProblem: s.lastProblem,
      })),
  };
}

/** The candidate up longest: earliest startedAt, ties broken by id so every run agrees. */
export function upLongest(candidates: { id: string; pong?: Pong }[]): string | undefined {
  const startOf = (c: { pong?: Pong }) => Date.parse(c.pong?.startedAt ?? '') || Number.POSITIVE_INFINITY;
  const sorted = [...candidates].sort((a, b) => startOf(a) - startOf(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return sorted[0]?.id;
}

/** Runs `round` every periodMs (a slow round delays the next one rather than overlapping it). */
function startLoop(round: () => Promise<void>, periodMs: number, log: Logger): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    const started = Date.now();
    running = round()
      .catch((err) => log.error({ err: (err as Error)?.message ?? String(err) }, 'heartbeat round failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, Math.max(0, periodMs - (Date.now() - started)));
      });
  };
  tick();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/** Workers heard on bearmon.worker.* within the last ttlMs. */
function discoverCandidates(nc: NatsConnection, log: Logger, now: () => number, ttlMs: number): { live(): string[]; stop(): void } {
  const lastHeard = new Map<string, number>();
  const onHeartbeat = (err: Error | null, msg: Msg) => {
    if (err) return log.error({ err: err.message }, 'heartbeat subscription failed');
    const token = heartbeatOf(msg.subject);
    if (!token || msg.data.length > MAX_HEARTBEAT_BYTES) return;
    const decoded = decode(heartbeat, msg.data);
    if (!decoded.ok) return log.warn({ subject: msg.subject, error: decoded.error, payload: showValue(msg.string(), 200) }, `ignored a bad heartbeat: ${decoded.error}`);
    if (decoded.value.worker !== token) return log.warn({ subject: msg.subject, worker: decoded.value.worker }, 'ignored a heartbeat whose worker differs from its subject');
    if (!lastHeard.has(token)) log.info({ worker: token }, 'discovered a candidate');
    lastHeard.set(token, now());
  };
  const subscription = nc.subscribe(wildcard.heartbeats(), { callback: onHeartbeat });
  return {
    live: () => {
      const cutoff = now() - ttlMs;
      for (const [id, at] of lastHeard) if (at < cutoff) lastHeard.delete(id);
      return [...lastHeard.keys()];
    },
    stop: () => subscription.unsubscribe(),
  };
}

interface LeaseOptions {
  id: string;
  log: Logger;
  renewMs: number;
  leaseMs: number;
  pollMs: number;
  onActive(): void;
}

/**
 * The viewserver lease: a key in the view's bucket, taken and renewed by conditional
 * writes on its revision. nats-server 2.9 reports no expiry, so a standby polls: a lease
 * whose revision has not moved for leaseMs (by the standby's own monotonic clock, from the
 * moment it first saw that revision) is taken with a write conditional on that revision —
 * of several standbys, one wins. The holder counts itself active only until
 * leaseMs - renewMs after it *sent* its last successful renewal, so it stops acting before
 * anyone else may start; a renewal refused (the revision moved: someone took it) steps it
 * down at once. Safety does not rest on timing: every view is stored by a conditional
 * write before it is said (see changeView).
 */
async function startLease(kv: KV, o: LeaseOptions): Promise<{ active(): boolean; stop(): Promise<void> }> {
  const mono = () => performance.now();
  type State = { mode: 'active'; rev: number; renewedAt: number } | { mode: 'standby'; seenRev: number; seenAt: number };
  let state: State = { mode: 'standby', seenRev: -1, seenAt: mono() };
  const value = () => JSON.stringify({ holder: o.id, at: new Date().toISOString() });
  const active = () => state.mode === 'active' && mono() - state.renewedAt < o.leaseMs - o.renewMs;
  const requestTimeout = Math.max(o.renewMs * 2, 1000);
  let reportedError = false;
  let lastHolder: string | undefined;
  const take = (rev: number, sentAt: number) => {
    state = { mode: 'active', rev, renewedAt: sentAt };
    lastHolder = o.id;
    o.log.info({ id: o.id, revision: rev }, 'took the viewserver lease');
    o.onActive();
  };
  const step = async () => {
    const sentAt = mono();
    try {
      if (state.mode === 'active') {
        if (!active()) {
          o.log.warn({ id: o.id, sinceRenewalMs: Math.round(sentAt - state.renewedAt) }, 'viewserver lease not renewed in time; standing by');
          state = { mode: 'standby', seenRev: state.rev, seenAt: state.renewedAt };
          return;
        }
        try {
          state = { mode: 'active', rev: await kv.update(LEASE_KEY, value(), state.rev, requestTimeout), renewedAt: sentAt };
        } catch (err) {
          if (/wrong last sequence/i.test((err as Error).message)) {
            o.log.warn({ id: o.id }, 'another viewserver holds the lease; standing by');
            state = { mode: 'standby', seenRev: -1, seenAt: mono() };
            return;
          }
          throw err;
        }
        return;
      }
      const entry = await kv.get(LEASE_KEY);
      // When it was seen, not asked for: the holder may have written it while the read was on its way.
      const seenAt = mono();
      if (!entry || entry.operation !== 'PUT') {
        // Never taken, or released by a viewserver that stopped: take it at once.
        return take(entry ? await kv.update(LEASE_KEY, value(), entry.revision, requestTimeout) : await kv.create(LEASE_KEY, value()), sentAt);
      }
      if (entry.revision !== state.seenRev) {
        const holder = holderOf(entry.string());
        if (holder !== o.id && holder !== lastHolder) o.log.info({ id: o.id, holder }, 'standing by: another viewserver holds the lease');
        lastHolder = holder;
        state = { mode: 'standby', seenRev: entry.revision, seenAt };
        return;
      }
      if (seenAt - state.seenAt >= o.leaseMs) {
        o.log.info({ id: o.id, holder: holderOf(entry.string()), sinceMs: Math.round(seenAt - state.seenAt) }, 'viewserver lease expired; taking it');
        take(await kv.update(LEASE_KEY, value(), entry.revision, requestTimeout), sentAt);
      }
      reportedError = false;
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      // Lost a race for the lease: someone else took it, which is the point.
      if (/wrong last sequence|key exists/i.test(message)) return;
      if (!reportedError) o.log.warn({ id: o.id, err: message }, 'viewserver lease: could not reach the bucket');
      reportedError = true;
    }
  };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    const started = mono();
    running = step().finally(() => {
      const wait = state.mode === 'active' ? o.renewMs : o.pollMs;
      if (!stopped) timer = setTimeout(tick, Math.max(0, wait - (mono() - started)));
    });
  };
  tick();
  await running;
  return {
    active,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (state.mode !== 'active') return;
      const rev = state.rev;
      state = { mode: 'standby', seenRev: -1, seenAt: mono() };
      // Released, so a standby (or this viewserver, restarted) takes it without waiting out the lease.
      await kv.delete(LEASE_KEY, { previousSeq: rev }).catch(() => undefined);
    },
  };
}

function holderOf(text: string): string {
  try {
    const holder = (JSON.parse(text) as { holder?: unknown }).holder;
    return typeof holder === 'string' ? holder.slice(0, 200) : '(unknown)';
  } catch {
    return '(unknown)';
  }
}

interface ViewStore {
  kv: KV;
  /** The stored view and its KV revision (0: nothing stored yet). */
  load(at: number): Promise<{ view: ViewMessage; revision: number }>;
  /** Writes `view` only if the key is still at `revision`; returns the new revision. */
  write(view: ViewMessage, revision: number): Promise<number>;
}

async function openViewStore(nc: NatsConnection, log: Logger): Promise<ViewStore> {
  const kv: KV = await openViewBucket(nc);
  return {
    kv,
    load: async (at) => {
      const entry = await kv.get(VIEW_KEY);
      const empty: ViewMessage = { type: 'view', view: 0, controller: null, at: new Date(at).toISOString() };
      if (!entry) return { view: empty, revision: 0 };
      if (entry.operation !== 'PUT') return { view: { ...empty, view: entry.revision }, revision: entry.revision };
      const decoded = decode(viewMessage, entry.value);
      if (decoded.ok) return { view: decoded.value, revision: entry.revision };
      // Every stored view took one write, so the revision bounds every number ever used.
      log.error({ bucket: VIEW_BUCKET, key: VIEW_KEY, error: decoded.error, revision: entry.revision }, `stored view is invalid; continuing above its revision: ${decoded.error}`);
      return { view: { ...empty, view: entry.revision }, revision: entry.revision };
    },
    write: (view, revision) => (revision === 0 ? kv.create(VIEW_KEY, JSON.stringify(view)) : kv.update(VIEW_KEY, JSON.stringify(view), revision)),
  };
}

/**
 * The view's bucket: opened, or made when this credential may make buckets (admin; the
 * viewserver's own credential may only read and write its key: `bearmon setup` makes it).
 */
export async function openViewBucket(nc: NatsConnection): Promise<KV> {
  const kvm = new Kvm(nc);
  try {
    const kv = await kvm.open(VIEW_BUCKET);
    // open() does not look: status() reads the bucket's stream and fails when it is missing.
    await kv.status();
    return kv;
  } catch (err) {
    if (!/stream not found|bucket not found|not found/i.test((err as Error).message)) throw err;
  }
  try {
    // Its storage reserved (a view is ~100 bytes): a flood into the log cannot leave no room for a view.
    return await kvm.create(VIEW_BUCKET, { history: 1, max_bytes: 1024 * 1024 });
  } catch (err) {
    const message = (err as Error).message;
    if (/permission/i.test(message)) throw new Error(`KV bucket ${VIEW_BUCKET} does not exist, and this credential may not make it: run \`bearmon setup\` with the admin credentials (${message})`);
    throw err;
  }
}

/**
 * `bearmon viewserver`: connects to NATS, runs the viewserver with the [viewserver]
 * settings until `shutdown` aborts (by default on SIGINT or SIGTERM), then stops it.
 */
export async function runViewserverProcess(config: Config, log: Logger, shutdown: AbortSignal = terminationSignal(), metrics?: Metrics): Promise<void> {
  const nc = await connectBus(config.nats, 'bearmon-viewserver');
  void logConnectionEvents(nc, log.child({ role: 'viewserver' }));
  // Pings on a connection of their own: a flood on the main one cannot delay a pong.
  const liveness = await connectBus(config.nats, 'bearmon-viewserver-liveness');
  const notifier = createAdminNotifier({ ctx: createContactContext(config, log), log: log.child({ role: 'viewserver' }) });
  const viewserver = await startViewserver({
    nc,
    liveness,
    log,
    candidates: config.viewserver.controller,
    periodMs: config.viewserver.heartbeatPeriod,
    timeoutMs: config.viewserver.heartbeatTimeout,
    misses: config.viewserver.misses,
    onNoCandidate: (previous) => notifier.notify({ kind: 'no-controller', previous }),
    metrics,
  });
  if (!shutdown.aborted) await new Promise((resolve) => shutdown.addEventListener('abort', resolve, { once: true }));
  // Bounded (src/actors/shutdown.ts): with NATS gone a drain never ends.
  await stopWithin(
    [
      { name: 'viewserver', run: () => viewserver.stop() },
      { name: 'NATS liveness connection', run: () => liveness.close() },
      { name: 'NATS connection', run: () => drainThenClose(nc, log), reserveMs: CLOSE_BUS_MS },
      { name: 'admin notices', run: () => notifier.idle() },
    ],
    { log },
  );
}

async function logConnectionEvents(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === 'disconnect') log.warn({ server: status.server }, 'lost the NATS connection; reconnecting');
    else if (status.type === 'reconnect') log.info({ server: status.server }, 'reconnected to NATS');
  }
}
