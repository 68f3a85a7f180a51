import { setMaxListeners } from 'node:events';
import { jetstream } from '@nats-io/jetstream';
import type { Msg } from '@nats-io/transport-node';
import { busOptions, connectBus, type NatsConnection } from '../bus/connect.ts';
import { refusalProblem, watchOwnRefusals, type PermissionViolation } from '../bus/refusals.ts';
import { ConfigError } from '../config/load.ts';
import { decode, runRequest, type Heartbeat, type ResultMessage, type RunRequest } from '../bus/messages.ts';
import { runSender, subject, wildcard } from '../bus/subjects.ts';
import { createCheckRegistry } from '../checks/registry.ts';
import { CheckRunner } from '../checks/run.ts';
import type { CheckResult } from '../checks/types.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { noMetrics, type Metrics } from '../metrics/metrics.ts';
import { showValue } from '../validation.ts';
import { DEFAULT_RETRY, publishWithRetry, type RetryPolicy } from './publish-retry.ts';
import { CLOSE_BUS_MS, drainThenClose, stopWithin } from './shutdown.ts';
import { createWorkQueue } from './work-queue.ts';
import { clip } from '../text.ts';
import { createLogLimiter } from '../log-limit.ts';
import { DEFAULT_REGION } from '../region.ts';
import { unguessableId } from '../bus/message-id.ts';

/**
 * The worker actor: takes run requests from bearmon.run.<id>, runs each check with
 * bounded concurrency and publishes the verdict into the result log. It holds no state
 * beyond the runner's cache of prepared definitions and needs nothing but NATS: the
 * check definition travels with the request.
 */
export interface WorkerDeps {
  nc: NatsConnection;
  id: string;
  /** Checks run at the same time ([worker] numThreads). */
  numThreads: number;
  sourceAddress?: string;
  /** Where this worker runs ([worker] region, site): sent in every heartbeat and result; default region DEFAULT_REGION. */
  region?: string;
  site?: string;
  dnsServer: string;
  log: Logger;
  now?: () => number;
  runner?: CheckRunner;
  heartbeatMs?: number;
  /** Requests allowed to wait for a free slot; default QUEUE_FACTOR × numThreads. */
  maxQueued?: number;
  publishRetry?: RetryPolicy;
  metrics?: Metrics;
  /**
   * Without a viewserver (view 0): the controller this worker obeys — its own id when the
   * process runs with --controller. Absent (under a viewserver): no run request is obeyed
   * before the first view names a controller.
   */
  viewZeroController?: string;
}

export interface WorkerStats {
  running: number;
  queued: number;
  /** Runs that finished with a verdict (cancelled runs are not counted). */
  completed: number;
  /** Requests refused: undecodable, from an older view, or the queue was full. */
  dropped: number;
}

export interface WorkerHandle {
  /** Stops taking work, drops queued requests, cancels runs in flight (publishing nothing for them). */
  stop(): Promise<void>;
  stats(): WorkerStats;
  /**
   * The newest view from the viewserver (the view follower): from now on only run requests
   * from the controller it names, stamped with its number, are obeyed. Nothing else moves it.
   */
  observeView(view: { view: number; controller: string | null }): void;
}

export const DEFAULT_HEARTBEAT_MS = 1000;
/** A worker this far behind sheds load instead of buffering without bound. */
export const QUEUE_FACTOR = 10;
/** The result schema caps messages; a longer one would be dropped by every reader. */
const MAX_MESSAGE_CHARS = 4096;

/**
 * The JetStream message id of a result: namespaced so it never collides with another event
 * of the same assignment, unguessable (src/bus/message-id.ts) so no one can publish it
 * first, and made once per result so its retries are stored once.
 */
export function resultMessageId(worker: string, assignment: string): string {
  return unguessableId(`result.${worker}.${assignment}`);
}

/** A run request is a check definition (≤ 64 KiB) and a few fields; anything larger is refused unread. */
const MAX_RUN_REQUEST_BYTES = 80 * 1024;

export function startWorker(deps: WorkerDeps): WorkerHandle {
  const runSubject = wildcard.runsFor(deps.id);
  if (!Number.isInteger(deps.numThreads) || deps.numThreads < 1) throw new RangeError(`numThreads must be a positive integer, got ${deps.numThreads}`);
  const now = deps.now ?? Date.now;
  const runner = deps.runner ?? new CheckRunner(createCheckRegistry());
  const log = deps.log.child({ worker: deps.id });
  const js = jetstream(deps.nc);
  const shutdown = new AbortController();
  // Every run in flight listens to it (numThreads of them): not a leak, so no warning past 10.
  setMaxListeners(0, shutdown.signal);
  const counters = { completed: 0, dropped: 0 };
  const metrics = deps.metrics ?? noMetrics;

  /** Assignments queued or running: a controller taking over sends the runs still out again, and one run is enough. */
  const active = new Set<string>();
  const queue = createWorkQueue<RunRequest>({
    concurrency: deps.numThreads,
    maxQueued: deps.maxQueued ?? QUEUE_FACTOR * deps.numThreads,
    run: (request) => execute(request).finally(() => active.delete(request.assignment)),
    onError: (request, err) =>
      log.error({ checkId: request.checkId, assignment: request.assignment, err: (err as Error)?.message ?? String(err) }, 'run failed unexpectedly'),
  });

  async function execute(request: RunRequest): Promise<void> {
    const result = await runner.run(request.checkType, request.data, {
      now,
      dnsServer: deps.dnsServer,
      sourceAddress: deps.sourceAddress,
      signal: shutdown.signal,
    });
    // A run cut short by shutdown says nothing about the target: publish nothing, the
    // controller reassigns it when no result arrives.
    if (shutdown.signal.aborted && result.status === 'error') {
      log.debug({ checkId: request.checkId, assignment: request.assignment }, 'run cancelled by shutdown; no result published');
      return;
    }
    counters.completed++;
    metrics.runCompleted(request.checkType, result.status, result.durationMs);
    const message = buildResult(deps.id, request, result, now(), placeOf(deps));
    logRun(log, message);
    await publishWithRetry(
      js,
      {
        subject: subject.result(deps.id, request.checkId),
        payload: JSON.stringify(message),
        msgID: resultMessageId(deps.id, request.assignment),
        context: { checkId: request.checkId, assignment: request.assignment },
      },
      deps.publishRetry ?? DEFAULT_RETRY,
      log,
      shutdown.signal,
    );
  }

  /** Drops are counted always, logged at most 10 times per reason and minute (a flood must not flood the log). */
  const mayLogDrop = createLogLimiter(now);
  const drop = (reason: 'bad-request' | 'old-view' | 'queue-full' | 'not-from-controller', fields: object, message: string) => {
    counters.dropped++;
    metrics.runDropped(reason);
    if (mayLogDrop(reason)) log.warn({ ...fields, reason }, message);
  };

  const onRequest = (err: Error | null, msg: Msg) => {
    if (err) return log.error({ subject: runSubject, err: err.message }, 'run subscription failed');
    if (shutdown.signal.aborted) return;
    // Who sent it is in the subject (bearmon.run.<me>.<controller>), bound to the sender's credential by nats.conf.
    const sender = runSender(msg.subject, deps.id);
    if (sender === undefined || msg.data.length > MAX_RUN_REQUEST_BYTES) return drop('bad-request', { subject: msg.subject, bytes: msg.data.length }, 'dropped a run request on a malformed subject or too large');
    const controller = inForce ? inForce.controller : deps.viewZeroController;
    if (sender !== controller) {
      return drop('not-from-controller', { subject: msg.subject, sender, view: inForce?.view ?? 0, controller: controller ?? null }, 'dropped a run request from a worker the view does not name controller');
    }
    const decoded = decode(runRequest, msg.data);
    if (!decoded.ok) return drop('bad-request', { subject: msg.subject, error: decoded.error, payload: showValue(msg.string(), 200) }, `dropped a bad run request: ${decoded.error}`);
    const request = decoded.value;
    // Fencing: only the view in force counts (0 while no viewserver has spoken); a request can never move it.
    const current = inForce?.view ?? 0;
    if (request.view !== current) {
      return drop('old-view', { checkId: request.checkId, assignment: request.assignment, view: request.view, current }, `dropped a run request of view ${request.view} (the view in force is ${current})`);
    }
    if (active.has(request.assignment)) {
      counters.dropped++;
      metrics.runDropped('duplicate');
      return log.debug({ checkId: request.checkId, assignment: request.assignment }, 'run request for a run already queued or running: ignored');
    }
    if (queue.offer(request)) active.add(request.assignment);
    else drop('queue-full', { checkId: request.checkId, assignment: request.assignment, running: queue.running, queued: queue.queued }, 'run queue full: dropped a run request');
  };
  let inForce: { view: number; controller: string | null } | undefined;
  const subscription = deps.nc.subscribe(runSubject, { callback: onRequest });

  const heartbeat = startHeartbeat(deps, now, log, () => queue.running);
  metrics.source('worker', () => ({ running: queue.running, queued: queue.queued }));

  let stopped: Promise<void> | undefined;
  const stop = async () => {
    subscription.unsubscribe();
    heartbeat.stop();
    const unstarted = queue.clear();
    if (unstarted.length > 0) log.info({ dropped: unstarted.length }, 'worker stopping: dropped queued run requests');
    shutdown.abort();
    await queue.idle();
    metrics.source('worker', undefined);
    log.info({ completed: counters.completed }, 'worker stopped');
  };

  return {
    stop: () => (stopped ??= stop()),
    stats: () => ({ running: queue.running, queued: queue.queued, ...counters }),
    observeView: (view) => {
      if (!inForce || view.view > inForce.view) inForce = { view: view.view, controller: view.controller };
    },
  };
}

/** A worker's region (always, the default one when none is configured) and site (when configured), as its messages carry them. */
export type Place = { region: string; site?: string };
function placeOf(deps: WorkerDeps): Place {
  return { region: deps.region ?? DEFAULT_REGION, ...(deps.site !== undefined && { site: deps.site }) };
}

export function buildResult(worker: string, request: RunRequest, result: CheckResult, completedAt: number, place: Place = { region: DEFAULT_REGION }): ResultMessage {
  return {
    type: 'result',
    checkId: request.checkId,
    worker,
    assignment: request.assignment,
    status: result.status,
    message: clip(result.message, MAX_MESSAGE_CHARS),
    durationMs: Math.max(0, result.durationMs),
    view: request.view,
    ...place,
    at: new Date(completedAt).toISOString(),
  };
}

function logRun(log: Logger, message: ResultMessage): void {
  const fields = { checkId: message.checkId, assignment: message.assignment, status: message.status, durationMs: message.durationMs };
  // `error` is the worker's own failure, worth an operator's eye; verdicts are routine.
  if (message.status === 'error') log.warn({ ...fields, message: message.message }, 'run failed inside the worker');
  else log.debug(fields, 'run completed');
}

/** Announces liveness and load at once and every heartbeatMs (core NATS: not logged). */
function startHeartbeat(deps: WorkerDeps, now: () => number, log: Logger, running: () => number): { stop(): void } {
  const heartbeatSubject = subject.worker(deps.id);
  const startedAt = new Date(now()).toISOString();
  const place = placeOf(deps);
  const beat = () => {
    const message: Heartbeat = { type: 'heartbeat', worker: deps.id, capacity: deps.numThreads, running: running(), startedAt, ...place, at: new Date(now()).toISOString() };
    try {
      deps.nc.publish(heartbeatSubject, JSON.stringify(message));
    } catch (err) {
      log.warn({ subject: heartbeatSubject, err: (err as Error).message }, 'heartbeat not sent');
    }
  };
  beat();
  const timer = setInterval(beat, deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  return { stop: () => clearInterval(timer) };
}

/** Another role the same process plays on the same connection (the controller). */
export type ExtraRole = (nc: NatsConnection, worker: WorkerHandle) => Promise<{ stop(): Promise<void> }>;

/**
 * `bearmon worker`: connects to NATS, runs the worker until `shutdown` aborts (by default
 * on SIGINT or SIGTERM), then stops it and drains the connection so every result already
 * handed to NATS is flushed.
 *
 * Rejects with a ConfigError (exit 78 at the CLI) naming the worker id and the NATS user when
 * nats-server refuses the worker its own subjects — its first heartbeat, before any other
 * role starts, or anything later — rather than running on, unseen, with every result refused.
 */
export async function runWorkerProcess(
  config: Config,
  log: Logger,
  shutdown: AbortSignal = terminationSignal(),
  roles: ExtraRole[] = [],
  metrics?: Metrics,
  options: Pick<WorkerDeps, 'viewZeroController'> = {},
): Promise<void> {
  const nc = await connectBus(config.nats, `bearmon-worker-${config.worker.id}`);
  // Watching before the worker's first subscription and heartbeat, so their refusal is seen.
  const refusals = watchOwnRefusals(nc, config.worker.id);
  // Logged as well as thrown: where the log is collected, the reason stands beside the exit.
  const natsUser = busOptions(config.nats).user;
  const refused = (err: PermissionViolation) => {
    const problem = refusalProblem(config.worker.id, natsUser, err);
    log.fatal({ worker: config.worker.id, natsUser: natsUser ?? null, subject: err.subject }, problem);
    return new ConfigError([problem]);
  };
  void logConnectionEvents(nc, log.child({ worker: config.worker.id }));
  const worker = startWorker({
    nc,
    id: config.worker.id,
    numThreads: config.worker.numThreads,
    sourceAddress: config.worker.sourceAddress,
    region: config.worker.region,
    site: config.worker.site,
    dnsServer: config.dns.server,
    log,
    metrics,
    ...options,
  });
  // startWorker subscribed and sent the first heartbeat: a refusal of either is known now.
  await refusals.settled();
  const early = refusals.seen();
  if (early) {
    const failure = refused(early);
    refusals.stop();
    await worker.stop();
    await nc.close();
    throw failure;
  }
  log.info({ worker: config.worker.id, region: config.worker.region, site: config.worker.site, numThreads: config.worker.numThreads, sourceAddress: config.worker.sourceAddress, server: nc.getServer() }, 'worker started');
  const started = await Promise.all(roles.map((role) => role(nc, worker)));
  const late = await Promise.race([aborted(shutdown).then(() => undefined), refusals.first]);
  refusals.stop();
  const failure = late && refused(late);
  log.info({ worker: config.worker.id }, 'worker shutting down');
  // Bounded (src/actors/shutdown.ts): with NATS or MySQL gone a step may never finish.
  await stopWithin(
    [
      ...started.map((role, i) => ({ name: started.length > 1 ? `role ${i + 1}` : 'role', run: () => role.stop() })),
      { name: 'worker', run: () => worker.stop() },
      { name: 'NATS connection', run: () => drainThenClose(nc, log), reserveMs: CLOSE_BUS_MS },
    ],
    { log },
  );
  if (failure) throw failure;
}

/** Aborts on the first SIGINT or SIGTERM: the process's edge, so only the CLI path uses it. */
export function terminationSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return controller.signal;
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Lost and regained connections are what an operator looks for when results stop. */
async function logConnectionEvents(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === 'disconnect') log.warn({ server: status.server }, 'lost the NATS connection; reconnecting');
    else if (status.type === 'reconnect') log.info({ server: status.server }, 'reconnected to NATS');
    else if (status.type === 'slowConsumer' || status.type === 'error') log.warn({ status }, 'NATS connection problem');
  }
}
