import { jetstream } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { CheckRegistry } from '../checks/registry.ts';
import { decode, heartbeat, resultMessage, type ResultMessage, type RunRequest } from '../bus/messages.ts';
import { ensureResultLog } from '../bus/result-log.ts';
import { heartbeatOf, subject, wildcard } from '../bus/subjects.ts';
import type { Logger } from '../log.ts';
import type { AdminNotice } from '../notices/types.ts';
import { noMetrics, type Metrics } from '../metrics/metrics.ts';
import type { AssignLine, ExpireLine, ResultLine } from '../log/lines.ts';
import type { HistorySink } from '../history/buckets.ts';
import type { Store } from '../db/store.ts';
import type { TransitionWriter } from '../db/transition-writer.ts';
import { DEFAULT_RESULT_WINDOW_MS, ReplayFold, type DerivedLine } from '../replay/fold.ts';
import { isPending } from '../machines/check.ts';
import { createLogLimiter } from '../log-limit.ts';
import { changed, defineCheck, isMisconfigured, type CheckDefinition, type MisconfiguredCheck } from './checks.ts';
import { DueHeap } from './heap.ts';
import { RoundClock } from './next-round.ts';
import { partialTransitionOf, resultKey, transitionOf, type LogState } from './log-state.ts';
import { pickConfirmers } from './pick.ts';
import { basisWords, DEFAULT_PROBE_POLICY, type ProbePolicy, type QuarantineMode } from '../decide/probe-score.ts';
import { awaitViewRecord, lastSequence, takeOverLogState } from './takeover.ts';
import { createLogPublisher } from '../bus/log-publisher.ts';
import { unguessableId } from '../bus/message-id.ts';
import type { SnapshotStore } from './snapshot.ts';
import { buildStatus, type ControllerStatus, type LastResult } from './status.ts';
import { chooseWorker, WorkerTable } from './workers.ts';

export type ControllerStore = Pick<Store, 'loadChecks'>;

/** Where transitions go to be written to MySQL (the retrying writer queue). */
export type TransitionSink = Pick<TransitionWriter, 'enqueue'>;

export type { AdminNotice } from '../notices/types.ts';

export interface ControllerDeps {
  nc: NatsConnection;
  /** The worker id of the process acting as controller. */
  id: string;
  confirmations: number;
  reloadIntervalMs: number;
  store: ControllerStore;
  writer: TransitionSink;
  registry: CheckRegistry;
  log: Logger;
  resultLog: { stream: string; retentionMs: number; maxBytes?: number; replicas?: number };
  /** The view that made this process controller (0 without a viewserver); stamped on every assignment. */
  view?: number;
  now?: () => number;
  tickMs?: number;
  workerTimeoutMs?: number;
  /** More for `bearmon status` from outside the controller (e.g. the notification backlog); a failure leaves it out. */
  statusExtras?: () => Promise<Partial<ControllerStatus>>;
  metrics?: Metrics;
  /** Stored snapshots: without a standby, the rebuild starts from the stored one. */
  snapshots?: SnapshotStore;
  /** A standby that has been folding the result log: its state is taken over instead of reading the whole log. */
  standby?: { handOver(): Promise<LogState> };
  /** Admin notices (the controller role mails them to [smtp] admin; logged when absent). */
  onNotice?: (notice: AdminNotice) => void;
  /** Uptime and latency history (src/history/writer.ts): told of every accepted result; must not throw or wait. */
  history?: HistorySink;
  /** Faulty probes (`[controller] quarantine`, `probe*`): score workers; with `exclude`, stop counting a flagged worker. Default off. */
  quarantine?: QuarantineMode;
  probe?: ProbePolicy;
}

export interface ControllerHandle {
  stop(): Promise<void>;
  reload(): Promise<{ checks: number; misconfigured: number }>;
  status(): ControllerStatus;
}

interface InFlight {
  checkId: number;
  worker: string;
  expiresAt: number;
  /** An audit run of a quarantined worker: its expiry hands nothing on. */
  audit?: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();
/** Log events awaiting the stream's acknowledgement at once. */
const MAX_LOG_IN_FLIGHT = 512;
/** A result is at most a 4,096-character message plus a few fields; a heartbeat a few ids. */
const MAX_RESULT_BYTES = 32 * 1024;
const MAX_HEARTBEAT_BYTES = 1024;
/** How far a worker's clock may differ from the controller's before it is reported. */
export const CLOCK_TOLERANCE_MS = 2000;
/** A check this late for want of a worker slot makes the controller say it is overloaded. */
export const OVERLOAD_AFTER_MS = 2000;

/**
 * The controller actor: loads checks, keeps one machine per check (through the same fold
 * replay uses), schedules runs (SPEC §3), accepts results only for outstanding runs,
 * and turns the machines' facts into effects: log events, MySQL writes, notices.
 */
export async function startController(deps: ControllerDeps): Promise<ControllerHandle> {
  const now = deps.now ?? Date.now;
  const view = deps.view ?? 0;
  const log = deps.log.child({ role: 'controller', worker: deps.id, view });
  const { differences } = await ensureResultLog(deps.nc, deps.resultLog);
  if (differences.length > 0) {
    log.error({ stream: deps.resultLog.stream, differences }, `the result log stream has other settings than [nats] asks for (${differences.join('; ')}); going on with it — run \`bearmon setup\` with the admin credentials to fix them`);
  }
  // Readers of the log take this controller's lines only after the record of the view naming it.
  if (view > 0) await awaitViewRecord(deps.nc, deps.resultLog.stream, view, log);
  const js = jetstream(deps.nc);
  // Replaced by the rebuilt one before anything else uses it.
  const quarantine = deps.quarantine ?? 'off';
  const probePolicy = deps.probe ?? DEFAULT_PROBE_POLICY;
  let fold = new ReplayFold({ confirmations: deps.confirmations, quarantine, probe: probePolicy });
  const checks = new Map<number, CheckDefinition>();
  let misconfigured = new Map<number, MisconfiguredCheck>();
  const due = new DueHeap();
  const roundClock = new RoundClock();
  const workerTimeoutMs = deps.workerTimeoutMs ?? 3000;
  const workers = new WorkerTable(workerTimeoutMs);

  const inFlight = new Map<string, InFlight>();
  const lastResults = new Map<number, Map<string, LastResult>>();
  let cursor = 0;
  let sequence = 0;
  let quorum: boolean | undefined;
  let reloadFailures = 0;
  /** The most distinct regions any check asks for (recomputed at each reload). */
  let maxMinRegions = 1;
  const metrics = deps.metrics ?? noMetrics;
  const notice = deps.onNotice ?? ((n: AdminNotice) => log.warn({ notice: n }, `admin notice: ${n.kind}`));

  const publishToLog = createLogPublisher(js, log, MAX_LOG_IN_FLIGHT);
  /** Every line this controller logs carries its view: a reader of the log takes it only while that view is in force. */
  const publishLogged = (name: string, event: object, msgID: string) => publishToLog(name, { ...event, view }, msgID);

  // --- facts -> effects -------------------------------------------------------------
  const EFFECTS: Record<DerivedLine['type'], (line: never) => void> = {
    transition: (line: Extract<DerivedLine, { type: 'transition' }>) => {
      const transition = transitionOf(line, view);
      log.info({ checkId: line.checkId, from: line.from, to: line.to, at: line.at, rounds: line.rounds }, `check ${line.checkId} is ${line.to}`);
      deps.writer.enqueue(transition);
      metrics.transition(transition.to);
      publishLogged(subject.transition(deps.id, line.checkId), line, `transition:${transition.key}`);
    },
    rejected: (line: Extract<DerivedLine, { type: 'rejected' }>) => {
      log.warn({ checkId: line.checkId, worker: line.worker, assignment: line.assignment }, `result rejected: ${line.reason}`);
      publishLogged(subject.decision(deps.id, line.checkId), line, `rejected:${line.assignment}:${line.worker}`);
    },
    pending: (line: Extract<DerivedLine, { type: 'pending' }>) => publishLogged(subject.decision(deps.id, line.checkId), line, `pending:${line.checkId}:${line.at}`),
    round: (line: Extract<DerivedLine, { type: 'round' }>) => publishLogged(subject.decision(deps.id, line.checkId), line, `round:${line.checkId}:${line.at}`),
    cancelled: (line: Extract<DerivedLine, { type: 'cancelled' }>) =>
      publishLogged(subject.decision(deps.id, line.checkId), line, `cancelled:${line.checkId}:${line.at}`),
    partial: (line: Extract<DerivedLine, { type: 'partial' }>) => {
      const fields = { checkId: line.checkId, phase: line.phase, down: line.down, up: line.up, since: line.since };
      const why = { offline: 'the check itself is offline now', discounted: 'the workers that saw it offline were flagged as faulty probes', recovered: 'online from every region' };
      if (line.phase === 'ended') log.info(fields, `check ${line.checkId} is no longer partially down (${why[line.reason ?? 'recovered']})`);
      else log.warn(fields, `check ${line.checkId} is partially down: offline from ${line.down.join(', ')}, online from ${line.up.join(', ')}`);
      const transition = partialTransitionOf(line, view);
      if (transition) deps.writer.enqueue(transition);
      metrics.partial?.(line.phase);
      publishLogged(subject.decision(deps.id, line.checkId), line, `partial:${line.checkId}:${line.since}:${line.phase}:${line.at}`);
    },
    probe: (line: Extract<DerivedLine, { type: 'probe' }>) => {
      const fields = { worker: line.worker, checkId: line.checkId, samples: line.samples, contradictions: line.contradictions, ratio: line.ratio, excluded: line.excluded, ...(line.basis ? { basis: line.basis } : {}) };
      const pct = Math.round(line.ratio * 100);
      if (line.verdict === 'flagged') log.error(fields, `worker ${line.worker} is a faulty probe: ${pct} % of its last ${line.samples} verdicts${basisWords(line.basis)} contradict the others${line.excluded ? '; its votes no longer count (quarantine = exclude)' : ''}`);
      else log.info(fields, `worker ${line.worker} agrees with the others again (${pct} % contradictions): ${quarantine === 'exclude' ? 'its votes count again' : 'no longer flagged'}`);
      const basis = line.basis ? { basis: line.basis } : {};
      if (line.verdict === 'flagged') notice({ kind: 'probe-flagged', worker: line.worker, ratio: line.ratio, samples: line.samples, excluded: line.excluded, ...basis });
      else notice({ kind: 'probe-released', worker: line.worker, ratio: line.ratio, samples: line.samples, excluded: line.excluded });
      publishLogged(subject.decision(deps.id, line.checkId), line, `probe:${line.worker}:${line.at}:${line.verdict}`);
      // Said at once, not at the next tick — but not inside the start-up grace, before the other workers' heartbeats are in.
      if (quarantine === 'exclude') judgeQuorum(now(), now() - startedAt >= workerTimeoutMs);
    },
  };
  const effect = (lines: DerivedLine[]) => {
    for (const line of lines) EFFECTS[line.type](line as never);
  };

  // --- assignments ------------------------------------------------------------------
  /** `due`: when the schedule wanted the run (the regular one; a confirmation or a re-run is due at once), logged so lateness can be measured. */
  const assign = (check: CheckDefinition, worker: string, at: number, due = at, audit = false) => {
    const assignment = `${deps.id}.${view}.${at.toString(36)}.${(sequence++).toString(36)}`;
    const deadline = at + check.expireAfterMs;
    const line: AssignLine = { type: 'assign', checkId: check.id, worker, assignment, at, deadline };
    if (audit) line.audit = true;
    // The region its heartbeats name, logged with the run: the fold counts the result for it,
    // whatever region the result itself claims.
    const region = workers.regionOf(worker);
    if (region !== undefined) line.region = region;
    fold.apply(line);
    inFlight.set(assignment, audit ? { checkId: check.id, worker, expiresAt: deadline, audit } : { checkId: check.id, worker, expiresAt: deadline });
    workers.reserve(worker);
    if (!audit) check.lastWorker = worker;
    // The assignment goes to the log before the worker hears of it, on the same connection:
    // the server stores it before the worker can answer, so a replay sees it first. The run
    // does not wait for the log's acknowledgement (a round trip per run, at scale the
    // controller's main cost).
    js.publish(subject.assign(deps.id, check.id), JSON.stringify({ ...line, at: iso(at), deadline: iso(deadline), due: iso(due), view }), { msgID: unguessableId(assignment) }).catch(
      (err: Error) => log.error({ err: err.message, checkId: check.id }, 'could not log an assignment'),
    );
    sendRun(check, worker, assignment, at);
  };

  const sendRun = (check: CheckDefinition, worker: string, assignment: string, at: number) => {
    // The connection may be draining (shutdown): the run is then simply not sent.
    if (deps.nc.isClosed() || deps.nc.isDraining()) return;
    const request: RunRequest = { type: 'run', assignment, checkId: check.id, checkType: check.type, data: check.data, view, at: iso(at) };
    try {
      deps.nc.publish(subject.run(worker, deps.id), JSON.stringify(request));
    } catch (err) {
      log.warn({ err: (err as Error).message, checkId: check.id }, 'could not send a run request');
    }
  };

  /** Live workers whose votes count: a quarantined worker gets audit runs only. */
  const voters = (at: number) => {
    const alive = workers.alive(at);
    const excluded = fold.excludedWorkers();
    return excluded.length === 0 ? alive : alive.filter((w) => !excluded.includes(w.id));
  };

  /** The regular run of a due check, on the next worker in rotation. */
  const runDue = (check: CheckDefinition, at: number, dueAt = at): boolean => {
    const worker = chooseWorker(voters(at), { avoid: check.lastWorker, cursor: cursor++ });
    if (!worker) return false;
    assign(check, worker.id, at, dueAt);
    return true;
  };

  /**
   * While a change is suspected, confirmation runs go at once to workers not yet heard from.
   * `newRound`: the check is due and still pending (an earlier round completed): the whole
   * round goes out together, so a round costs one run's time, not two (a hanging target is
   * detected in about two timeouts plus `delay` intervals).
   */
  const confirm = (check: CheckDefinition, at: number, newRound = false) => {
    const context = fold.contextOf(check.id);
    if (!context || (context.turn.length === 0 && !(newRound && isPending(context)))) return;
    const busy = new Set([...context.turn, ...fold.outstandingWorkers(check.id)]);
    const alive = voters(at);
    const covered = new Set(context.turnRegions);
    if (context.minRegions > 1) for (const w of alive) if (busy.has(w.id)) covered.add(w.region);
    const chosen = pickConfirmers(alive, { workers: context.confirmations - busy.size, minRegions: context.minRegions, covered, busy, avoid: check.lastConfirmer, cursor });
    cursor += chosen.length + 1;
    for (const worker of chosen) assign(check, worker.id, at);
    if (chosen.length > 0) check.lastConfirmer = chosen[0]!.id;
  };

  /** A whole round of a suspected change at once: `confirmations` distinct workers, runs of this check still out or not. */
  const sendRound = (check: CheckDefinition, at: number, dueAt: number): boolean => {
    const minRegions = fold.contextOf(check.id)?.minRegions ?? 1;
    const chosen = pickConfirmers(voters(at), { workers: deps.confirmations, minRegions, covered: new Set(), busy: new Set(), avoid: check.lastWorker, cursor });
    cursor += chosen.length + 1;
    for (const worker of chosen) assign(check, worker.id, at, dueAt);
    return chosen.length > 0;
  };

  /**
   * A quarantined worker gets audit runs of settled checks now and then: scored against the
   * decision, never counted, so its agreement can recover and release it. Paced so that a
   * window holds about twice `minSamples` of them.
   */
  const auditEveryMs = Math.max(200, probePolicy.windowMs / (2 * probePolicy.minSamples));
  const lastAudit = new Map<string, number>();
  let auditCursor = 0;
  /** The checks' ids, for audits to go round (rebuilt at each reload, not copied every tick). */
  let checkOrder: number[] = [];
  const audit = (at: number) => {
    const excluded = fold.excludedWorkers();
    if (excluded.length === 0 || checkOrder.length === 0) return;
    const ids = checkOrder;
    for (const worker of workers.alive(at)) {
      if (!excluded.includes(worker.id) || worker.inFlight >= worker.capacity || at - (lastAudit.get(worker.id) ?? -Infinity) < auditEveryMs) continue;
      for (let tries = 0; tries < Math.min(ids.length, 16); tries++) {
        const check = checks.get(ids[auditCursor++ % ids.length]!);
        const context = check && fold.contextOf(check.id);
        if (!check || !context || isPending(context) || fold.hasAudit(check.id, worker.id) || fold.outstandingWorkers(check.id).includes(worker.id)) continue;
        assign(check, worker.id, at, at, true);
        lastAudit.set(worker.id, at);
        break;
      }
    }
  };

  const expire = (assignment: string, flight: InFlight, at: number) => {
    inFlight.delete(assignment);
    workers.release(flight.worker);
    const line: ExpireLine = { type: 'expire', checkId: flight.checkId, worker: flight.worker, assignment, at };
    fold.apply(line);
    publishLogged(subject.assign(deps.id, flight.checkId), { ...line, at: iso(at) }, `expire:${assignment}`);
    // An audit run is no vote: nobody else needs to run it (a quarantined worker hanging is no news).
    if (flight.audit) return void log.debug({ checkId: flight.checkId, worker: flight.worker, assignment }, 'audit run not answered in time');
    log.warn({ checkId: flight.checkId, worker: flight.worker, assignment }, 'run not answered in time: handing it to another worker');
    const check = checks.get(flight.checkId);
    if (check && !runDue(check, at)) due.set(check.id, at);
  };

  // --- the clock ----------------------------------------------------------------------
  let lastTick = now();
  const tick = () => {
    const at = now();
    // After a stall (a long GC, a big reload) heartbeats are still queued unread: judging
    // liveness now would declare every worker dead. Wait for a tick on time.
    const onTime = at - lastTick < workerTimeoutMs / 2;
    lastTick = at;
    for (const dead of onTime ? workers.reapDead(at) : []) {
      log.warn({ worker: dead }, 'worker stopped sending heartbeats');
      for (const [assignment, flight] of inFlight) if (flight.worker === dead) expire(assignment, flight, at);
    }
    for (const [assignment, flight] of inFlight) if (flight.expiresAt <= at) expire(assignment, flight, at);
    // One due check at a time, oldest first; when no slot is free anywhere it goes back with
    // its due time and the tick ends: next tick the oldest go first again — under overload
    // every check runs in turn and none starves.
    for (let next = due.popOne(at); next; next = due.popOne(at)) {
      const { id, dueAt } = next;
      const check = checks.get(id);
      if (!check) continue;
      // The next run is due one interval after this one was due (not after it ran), so a
      // stall does not shift the schedule into a burst that recurs every interval.
      const following = Math.max(dueAt + check.interval * 1000, at + 1);
      // A suspected change: its rounds go out on the round clock, overlapping a round that has not answered yet.
      const context = fold.contextOf(id);
      const roundDue = context && roundClock.nextDue(id, context, check.interval);
      if (roundDue !== undefined && roundDue > at) {
        due.set(id, roundDue);
        continue;
      }
      if (roundDue !== undefined) {
        if (!sendRound(check, at, dueAt)) {
          due.set(id, dueAt);
          break;
        }
        roundClock.roundSent(id);
        due.set(id, roundClock.nextDue(id, context!, check.interval) ?? following);
        continue;
      }
      // A check whose run is still out is not run again (gobearmon's lock); expiry frees it.
      if (fold.hasOutstanding(id)) {
        due.set(id, following);
        continue;
      }
      if (!runDue(check, at, dueAt)) {
        due.set(id, dueAt);
        break;
      }
      due.set(id, following);
      confirm(check, at, true);
    }
    audit(at);
    watchQuorum(at);
    watchOverload(at);
  };

  /**
   * Overload: more runs due than the live workers have slots for. Every check still runs, in
   * turn; the operator hears of it once per episode (log, admin notice, status, metric).
   */
  let overloaded = false;
  let overloadJudgedAt = -Infinity;
  let caughtUpSince: number | undefined;
  const watchOverload = (at: number) => {
    // A scan of the schedule: once a second is plenty.
    if (at - overloadJudgedAt < 1000) return;
    overloadJudgedAt = at;
    const { checks: backlog, oldestLateMs } = due.backlog(at);
    const capacity = workers.alive(at).reduce((sum, w) => sum + w.capacity, 0);
    // No worker at all is lost quorum (said on its own), not overload.
    if (!overloaded && capacity > 0 && backlog > 0 && oldestLateMs >= OVERLOAD_AFTER_MS) {
      overloaded = true;
      caughtUpSince = undefined;
      log.error({ backlog, oldestLateMs, capacity }, `overloaded: ${backlog} check(s) wait for a free worker slot; every check still runs, in turn`);
      notice({ kind: 'overloaded', backlog, oldestLateMs, capacity });
    } else if (overloaded) {
      // Over only after a minute without a backlog: load in bursts near capacity is one episode, not one a minute.
      caughtUpSince = backlog === 0 ? (caughtUpSince ?? at) : undefined;
      if (caughtUpSince !== undefined && at - caughtUpSince >= 60_000) {
        overloaded = false;
        log.info({ capacity }, 'no longer overloaded: every due check has had a worker slot for a minute');
      }
    }
  };

  const startedAt = now();
  /** Quorum counts the live workers whose votes count: quarantine can take it away too, and says so. */
  const judgeQuorum = (at: number, force = false) => {
    // Workers announce themselves within a heartbeat: judging before that would cry wolf at every start.
    if (!force && at - startedAt < workerTimeoutMs) return;
    const allAlive = workers.alive(at).length;
    const alive = voters(at).length;
    const quarantined = allAlive - alive;
    const ok = alive >= deps.confirmations;
    if (ok === quorum) return;
    const wasLost = quorum === false;
    quorum = ok;
    if (!ok) {
      const why = quarantined > 0 ? ` (${quarantined} more quarantined as faulty probes: ${fold.excludedWorkers().join(', ')})` : '';
      log.error({ alive, quarantined, confirmations: deps.confirmations }, `only ${alive} live worker(s) but confirmations = ${deps.confirmations}: no check can change state${why}`);
      notice({ kind: 'quorum-lost', alive, confirmations: deps.confirmations, ...(quarantined > 0 ? { quarantined: fold.excludedWorkers() } : {}) });
    } else if (wasLost) {
      // Only a loss said before is restored: the first judgement after the start is not news.
      log.info({ alive }, 'enough live workers to confirm changes again');
      notice({ kind: 'quorum-restored', alive });
    }
  };
  /**
   * Checks asking for more distinct regions than the live voters span cannot change state:
   * said once per episode, like quorum (a region's workers all gone or quarantined).
   */
  let regionsShort = false;
  const judgeRegionQuorum = (at: number) => {
    // Workers announce themselves within a heartbeat: judging before that would cry wolf at every start.
    if (at - startedAt < workerTimeoutMs || (maxMinRegions <= 1 && !regionsShort)) return;
    const regions = new Set(voters(at).map((w) => w.region));
    // No check asking for several regions any more (a reload) ends a shortfall too.
    const short = maxMinRegions > 1 && regions.size < maxMinRegions;
    if (short === regionsShort) return;
    regionsShort = short;
    const list = [...regions].sort();
    if (short) {
      log.error({ regions: list, needed: maxMinRegions }, `live workers whose votes count span ${regions.size} region(s) (${list.join(', ') || 'none'}) but a check asks for ${maxMinRegions}: such checks cannot change state`);
      notice({ kind: 'regions-short', regions: list, needed: maxMinRegions });
    } else {
      log.info({ regions: list }, 'live workers span enough regions again for every check');
      notice({ kind: 'regions-restored', regions: list });
    }
  };
  const watchQuorum = (at: number) => {
    judgeQuorum(at);
    judgeRegionQuorum(at);
  };

  // --- results --------------------------------------------------------------------------
  /** Until the fold is rebuilt from the log, live results wait here. */
  let buffered: Msg[] | undefined = [];
  /** Results the rebuild already applied that may also arrive live (assignment/worker): skipped there. */
  let rebuiltResults = new Set<string>();
  const onLiveResult = (msg: Msg) => {
    if (buffered) buffered.push(msg);
    else onResult(msg);
  };

  const onResult = (msg: Msg) => {
    // A result is a few KB at most; a larger message is a flood, refused before parsing.
    if (msg.data.length > MAX_RESULT_BYTES) return untrusted('result', 'oversized', { subject: msg.subject, bytes: msg.data.length });
    const decoded = decode(resultMessage, msg.data);
    if (!decoded.ok) {
      metrics.resultHandled('malformed');
      return untrusted('result', 'malformed', { subject: msg.subject, error: decoded.error });
    }
    const result = decoded.value;
    // The subject names the publisher (nats.conf binds it to that worker's credential): the payload must agree.
    if (msg.subject !== subject.result(result.worker, result.checkId)) {
      metrics.resultHandled('malformed');
      return untrusted('result', 'result names another worker or check', { subject: msg.subject, worker: result.worker, checkId: result.checkId });
    }
    if (rebuiltResults.delete(resultKey(result.assignment, result.worker))) return;
    const flight = inFlight.get(result.assignment);
    if (flight && flight.worker === result.worker) {
      inFlight.delete(result.assignment);
      workers.release(flight.worker);
    }
    const definition = checks.get(result.checkId);
    if (!definition || !fold.has(result.checkId)) {
      metrics.resultHandled('unknown-check');
      return void log.warn({ checkId: result.checkId, worker: result.worker }, 'dropped a result for an unknown check');
    }
    const receivedAt = now();
    const workerAt = Date.parse(result.at);
    watchSkew(result.worker, result.checkId, workerAt - receivedAt);
    // The fold dates the result into its run's window by this controller's clock (clampResultTime).
    const line: ResultLine = { type: 'result', checkId: result.checkId, worker: result.worker, status: result.status, at: workerAt, message: result.message, assignment: result.assignment, receivedAt };
    if (result.region !== undefined) line.region = result.region;
    const { lines } = fold.apply(line);
    const rejected = lines.some((l) => l.type === 'rejected');
    metrics.resultHandled(rejected ? 'rejected' : 'accepted');
    if (!rejected) remember(result);
    if (!rejected) deps.history?.record({ checkId: result.checkId, worker: result.worker, status: result.status, at: workerAt, receivedAt, durationMs: result.durationMs });
    effect(lines);
    if (lines.length > 0) scheduleRounds(definition);
    confirm(definition, receivedAt);
  };

  /** The machine moved: a suspicion began, a round completed, or it settled. Its next round may be due before its next regular run. */
  const scheduleRounds = (check: CheckDefinition) => {
    const context = fold.contextOf(check.id);
    if (!context) return;
    roundClock.observe(check.id, context);
    const roundDue = roundClock.nextDue(check.id, context, check.interval);
    if (roundDue !== undefined && roundDue < (due.timeOf(check.id) ?? Infinity)) due.set(check.id, roundDue);
  };

  /** Logs (once per worker and minute) a worker whose clock is off by more than the tolerance, and exports every skew. */
  const skewReported = new Map<string, number>();
  const watchSkew = (worker: string, checkId: number, skewMs: number) => {
    metrics.clockSkew(worker, skewMs / 1000);
    if (Math.abs(skewMs) <= CLOCK_TOLERANCE_MS) return;
    const at = now();
    if (at - (skewReported.get(worker) ?? -Infinity) < 60_000) return;
    skewReported.set(worker, at);
    log.warn({ worker, checkId, skewMs }, `worker ${worker}'s clock is ${Math.round(skewMs / 1000)} s ${skewMs > 0 ? 'ahead of' : 'behind'} the controller's: its result times are clamped to the run's window`);
  };

  /** A message whose subject, size or publisher does not allow it: counted and logged (the first few per reason and minute). */
  const mayLogUntrusted = createLogLimiter(now);
  const untrusted = (where: 'result' | 'heartbeat', reason: string, fields: Record<string, unknown>) => {
    metrics.untrusted(where, reason);
    if (mayLogUntrusted(`${where}:${reason}`)) log.warn({ ...fields, reason }, `skipped a ${where}: ${reason}`);
  };

  const remember = (result: ResultMessage) => {
    let perWorker = lastResults.get(result.checkId);
    if (!perWorker) lastResults.set(result.checkId, (perWorker = new Map()));
    perWorker.set(result.worker, { status: result.status, message: result.message, at: result.at, durationMs: result.durationMs });
  };

  const onHeartbeat = (msg: Msg) => {
    if (msg.data.length > MAX_HEARTBEAT_BYTES) return untrusted('heartbeat', 'oversized', { subject: msg.subject, bytes: msg.data.length });
    const decoded = decode(heartbeat, msg.data);
    if (!decoded.ok) return untrusted('heartbeat', 'malformed', { subject: msg.subject, error: decoded.error });
    if (heartbeatOf(msg.subject) !== decoded.value.worker) return untrusted('heartbeat', 'heartbeat names another worker', { subject: msg.subject, worker: decoded.value.worker });
    const wasAlive = workers.isAlive(decoded.value.worker, now());
    const moved = workers.heartbeat(decoded.value, now());
    if (!wasAlive) log.info({ worker: decoded.value.worker, capacity: decoded.value.capacity, region: decoded.value.region, site: decoded.value.site }, 'worker is alive');
    else if (moved && mayLogUntrusted(`region:${decoded.value.worker}`)) log.warn({ worker: decoded.value.worker, region: decoded.value.region }, `worker ${decoded.value.worker} now says it is in region ${decoded.value.region ?? 'default'}: its next votes count for that region`);
  };

  // --- configuration ----------------------------------------------------------------------
  const reload = async () => {
    let loaded;
    try {
      loaded = await deps.store.loadChecks(checks);
    } catch (err) {
      reloadFailures += 1;
      log.error({ err: (err as Error).message, consecutive: reloadFailures }, 'could not load checks; monitoring goes on with the last configuration');
      if (reloadFailures % 10 === 0) notice({ kind: 'reload-failed', consecutive: reloadFailures, error: (err as Error).message });
      throw err;
    }
    reloadFailures = 0;
    const at = now();
    const nextMisconfigured = new Map(loaded.misconfigured.map((m) => [m.id ?? -1, m]));
    const seen = new Set<number>();
    for (const row of loaded.checks) {
      const before = checks.get(row.id);
      // Unchanged rows (nearly all of them on a periodic reload) need no second validation.
      if (before && !changed(before, row)) {
        seen.add(row.id);
        continue;
      }
      const definition = defineCheck(deps.registry, row);
      if (isMisconfigured(definition)) {
        nextMisconfigured.set(row.id, definition);
        continue;
      }
      seen.add(row.id);
      checks.set(row.id, { ...definition, lastWorker: before?.lastWorker, lastConfirmer: before?.lastConfirmer });
      // A take-over: the fold (from the log) already holds this check as configured — no
      // line to log, no burst of thousands of republished checks.
      const known = fold.contextOf(row.id);
      const minRegions = row.minRegions ?? 1;
      const same = !before && known !== undefined && known.interval === row.interval && known.delay === row.delay && known.minRegions === minRegions;
      if (!same) {
        // minRegions is logged only where it matters, so the lines of gobearmon's rule stay as they were.
        const regions = minRegions > 1 ? { minRegions } : {};
        fold.apply({ type: 'check', checkId: row.id, interval: row.interval, delay: row.delay, status: row.status, at, ...regions });
        publishLogged(subject.check(deps.id, row.id), { type: 'check', checkId: row.id, interval: row.interval, delay: row.delay, status: row.status, at: iso(at), name: row.name, checkType: row.type, ...regions }, `check:${row.id}:${at}`);
      }
      // New checks start spread over their interval so they don't all fire at once.
      if (!before) due.set(row.id, at + spread(row.id, row.interval));
    }
    // Checks gone from the database (deleted, disabled) — including ones only the log knew.
    for (const id of new Set([...checks.keys(), ...fold.checkIds()])) {
      if (seen.has(id)) continue;
      checks.delete(id);
      fold.remove(id);
      due.delete(id);
      roundClock.forget(id);
      lastResults.delete(id);
    }
    for (const [id, bad] of nextMisconfigured) {
      // Said once per problem, not on every reload.
      if (misconfigured.get(id)?.message !== bad.message) {
        log.error({ checkId: bad.id, field: bad.field }, `check ${bad.id} (${bad.name}) is misconfigured and not monitored: ${bad.message}`);
      }
    }
    misconfigured = nextMisconfigured;
    checkOrder = [...checks.keys()];
    maxMinRegions = 1;
    for (const check of checks.values()) maxMinRegions = Math.max(maxMinRegions, check.minRegions ?? 1);
    return { checks: checks.size, misconfigured: misconfigured.size };
  };

  // --- taking over ----------------------------------------------------------------------
  /**
   * Rebuilds every machine from the result log, so a confirmation in progress under the
   * previous controller continues instead of restarting. A standby hands over the state it
   * has folded so far and only the tail is read here; without one the whole log is.
   * Facts derived on the way are not published again; transitions not yet seen recorded
   * are handed to the writer again (their keys make that a no-op if they were written).
   * `subscribedAfter` is the stream's last sequence before the live subscription began:
   * results stored after it may arrive live too, and are skipped there.
   */
  const rebuild = async (subscribedAfter: number) => {
    const began = now();
    const { state, startedAt } = await takeOverLogState({
      nc: deps.nc,
      stream: deps.resultLog.stream,
      confirmations: deps.confirmations,
      log,
      standby: deps.standby,
      snapshots: deps.snapshots,
      trust: { viewless: view === 0 },
      metrics,
      policy: { quarantine, probe: probePolicy },
    });
    fold = state.fold;
    fold.setQuarantine(quarantine, probePolicy);
    rebuiltResults = state.recent.after(subscribedAfter);
    for (const transition of state.owed.values()) deps.writer.enqueue({ ...transition, view });
    // Transitions the log never got a line for (the controller that decided them went first):
    // published now, under the message id their first controller used (a copy is dropped).
    const unlogged = state.transitions?.missing() ?? [];
    for (const line of unlogged) publishLogged(subject.transition(deps.id, line.checkId), line, `transition:${transitionOf(line, view).key}`);
    if (unlogged.length > 0) log.warn({ transitions: unlogged.length, checks: unlogged.map((l) => l.checkId) }, 'the result log lacked the line of transitions its results decide: published them');
    log.info(
      { records: state.records - startedAt.records, standbyRecords: startedAt.records, standbySeq: startedAt.seq, seq: state.seq, checks: fold.checkIds().length, transitions: state.owed.size, ms: now() - began },
      'rebuilt the check machines from the result log',
    );
  };

  /**
   * Runs the previous controller handed out stay valid: each gets a fresh expiry and its
   * request is sent again at once under this view — the first may have died with the old
   * controller, and a worker now obeys only this one. A worker that already ran it answers
   * twice; the second answer is rejected (no longer outstanding). Suspected changes continue at once.
   */
  const inherit = () => {
    const at = now();
    let resent = 0;
    for (const run of fold.outstandingRuns()) {
      const check = checks.get(run.checkId);
      if (!check) {
        // Not loaded (MySQL down at the take-over, or the check is gone): the run must still
        // expire, or the check would wait for it forever once it is loaded.
        inFlight.set(run.assignment, { checkId: run.checkId, worker: run.worker, expiresAt: at + DEFAULT_RESULT_WINDOW_MS });
        continue;
      }
      inFlight.set(run.assignment, { checkId: run.checkId, worker: run.worker, expiresAt: at + check.expireAfterMs, ...(run.audit ? { audit: true } : {}) });
      workers.reserve(run.worker);
      sendRun(check, run.worker, run.assignment, at);
      resent += 1;
    }
    if (resent > 0) log.info({ runs: resent }, 'sent the runs still out under the previous controller again, under this view');
    for (const check of checks.values()) confirm(check, at);
  };

  const status = (): ControllerStatus =>
    // Before the start-up grace has judged quorum, say what the live workers would give.
    buildStatus({ id: deps.id, view, now: now(), confirmations: deps.confirmations, checks, misconfigured, fold, due, workers, lastResults, quorum: quorum ?? workers.alive(now()).length >= deps.confirmations });

  /**
   * The status a page is cut from. A paged read (the web role, `bearmon status`) asks for the
   * first page and then the others within moments: they are cut from the status built for
   * the first, so the pages agree with each other and 10,000 checks are built once per read,
   * not once per page. A first page is always built afresh: readers merge it with the
   * decisions they see on the bus, which must not be newer than it.
   */
  let builtStatus: { at: number; value: ControllerStatus } | undefined;
  const statusForPage = (offset: number): ControllerStatus => {
    const at = now();
    if (offset === 0 || !builtStatus || at - builtStatus.at > STATUS_PAGES_MS) builtStatus = { at, value: status() };
    return builtStatus.value;
  };

  // --- control requests -----------------------------------------------------------------------
  /**
   * `bearmon status`, a page of checks at a time (a reply must fit the server's max_payload):
   * the request may carry {"offset": n}; the reply says {"page": {offset, total}}.
   */
  const answerStatus = (msg: Msg) => {
    if (!isControlRequest(msg, 'status')) return;
    const offset = statusOffset(msg.data);
    // A slow MySQL must not make `bearmon status` time out: the extras get one second.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Partial<ControllerStatus>>((resolve) => (timer = setTimeout(() => resolve({}), 1000)));
    const extras = offset > 0 ? Promise.resolve({}) : (deps.statusExtras?.().catch((err: Error) => (log.warn({ error: err.message }, 'status extras unavailable'), {})) ?? Promise.resolve({}));
    void Promise.race([extras, late]).then((extra) => {
      clearTimeout(timer);
      const whole = statusForPage(offset);
      const page = { ...whole, ...extra, checks: whole.checks.slice(offset, offset + STATUS_PAGE_CHECKS), page: { offset, total: whole.checks.length } };
      msg.respond(JSON.stringify(page));
    });
  };

  /** Reloads asked for while one runs are answered by the next one (a flood of requests is one reload, not thousands). */
  type Reloaded = { checks: number; misconfigured: number };
  let reloading: Promise<Reloaded> | undefined;
  let reloadAgain: Promise<Reloaded> | undefined;
  const coalescedReload = (): Promise<Reloaded> => {
    if (!reloading) return (reloading = reload().finally(() => (reloading = undefined)));
    return (reloadAgain ??= reloading.catch(() => {}).then((): Promise<Reloaded> => {
      reloadAgain = undefined;
      return coalescedReload();
    }));
  };
  const answerReload = (msg: Msg): void => {
    if (!isControlRequest(msg, 'reload')) return;
    void coalescedReload().then(
      (counts) => msg.respond(JSON.stringify({ ok: true, ...counts })),
      (err: Error) => msg.respond(JSON.stringify({ ok: false, error: err.message })),
    );
  };

  // --- wiring -----------------------------------------------------------------------------
  const subscribedAfter = await lastSequence(deps.nc, deps.resultLog.stream);
  const subscriptions: Subscription[] = [
    deps.nc.subscribe(wildcard.results(), { callback: (err, msg) => (err ? log.error({ err: err.message }, 'result subscription failed') : onLiveResult(msg)) }),
    deps.nc.subscribe(wildcard.heartbeats(), { callback: (err, msg) => (err ? undefined : onHeartbeat(msg)) }),
    deps.nc.subscribe(subject.control('status'), { callback: (_err, msg) => answerStatus(msg) }),
    deps.nc.subscribe(subject.control('reload'), { callback: (_err, msg) => answerReload(msg) }),
  ];
  await deps.nc.flush();
  await rebuild(subscribedAfter);
  await reload().catch(() => {});
  inherit();
  const waiting = buffered;
  buffered = undefined;
  for (const msg of waiting) onResult(msg);
  rebuiltResults = new Set();
  const ticker = setInterval(tick, deps.tickMs ?? 100);
  const reloader = setInterval(() => void coalescedReload().catch(() => {}), deps.reloadIntervalMs);
  metrics.source('controller', () => {
    const current = status();
    const byState: Record<string, number> = {};
    for (const check of current.checks) byState[check.state] = (byState[check.state] ?? 0) + 1;
    const excluded = new Set(fold.excludedWorkers());
    const probes = fold.probeScores().map((p) => ({ worker: p.worker, ratio: p.ratio, flagged: p.flagged, excluded: excluded.has(p.worker) }));
    return { checks: byState, workersAlive: current.workers.length, quorum: current.quorum, view, backlog: current.backlog.checks, partial: fold.partialChecks().length, probes };
  });
  log.info({ checks: checks.size, misconfigured: misconfigured.size, confirmations: deps.confirmations }, 'controller started');

  return {
    reload,
    status,
    stop: async () => {
      clearInterval(ticker);
      clearInterval(reloader);
      for (const sub of subscriptions) sub.unsubscribe();
      metrics.source('controller', undefined);
      log.info('controller stopped');
    },
  };
}

/**
 * A control request as an operator sends it: on its own subject (a JetStream consumer can
 * deliver stored messages here, but they keep their original subject) with an inbox to answer.
 */
function isControlRequest(msg: Msg, command: 'status' | 'reload'): boolean {
  return msg.subject === subject.control(command) && typeof msg.reply === 'string' && msg.reply.startsWith('_INBOX');
}

/** The later pages of one paged read are cut from the status built for its first page, this long. */
const STATUS_PAGES_MS = 5_000;

/** Checks per `bearmon status` reply: ~300 bytes each keeps a page well under max_payload. */
export const STATUS_PAGE_CHECKS = 200;

function statusOffset(data: Uint8Array): number {
  if (data.length === 0 || data.length > 256) return 0;
  try {
    const offset = (JSON.parse(new TextDecoder().decode(data)) as { offset?: unknown })?.offset;
    return Number.isSafeInteger(offset) && (offset as number) > 0 ? (offset as number) : 0;
  } catch {
    return 0;
  }
}

/** A stable offset within the interval for a check's first run (ms). */
function spread(checkId: number, intervalSeconds: number): number {
  const hash = Math.imul(checkId ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  return hash % Math.max(1, intervalSeconds * 1000);
}

