/**
 * Detection latency (issue 4): a real controller (C = 3) and 3 real workers in this
 * process, each on its own NATS connection and source address (127.0.0.2-4), monitoring
 * one http check (interval 1 s, delay 1) of a loopback target that the bench switches to
 * 503 at t0 and back to 200 once the check is offline.
 *
 * t1 is the moment MySQL committed the transition (the store's recordTransition resolved,
 * observed by wrapping the store given to the transition writer); the moment the
 * transition event reached a subscriber on bearmon.transition.<id> is reported too.
 */
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { startWorker, type WorkerHandle } from '../src/actors/worker.ts';
import { decode, resultMessage } from '../src/bus/messages.ts';
import { checkFilter, subject } from '../src/bus/subjects.ts';
import { createCheckRegistry } from '../src/checks/registry.ts';
import { startController, type ControllerHandle } from '../src/controller/controller.ts';
import { createStore, type Store } from '../src/db/store.ts';
import { createTransitionWriter } from '../src/db/transition-writer.ts';
import type { BenchDatabase } from './database.ts';
import { logFigures, tallyLogs, type LogTally } from './log-tally.ts';
import type { NatsLogin } from './nats.ts';
import type { BenchFigure } from './report.ts';
import { distributionFigures, percentile, round1, sleep, within } from './stats.ts';

const CONFIRMATIONS = 3;
const INTERVAL_S = 1;
const DELAY = 1;
/** Ids with their own users in nats.conf, so each worker runs under its real permissions. */
const WORKERS: [string, string][] = [
  ['w1', '127.0.0.2'],
  ['w2', '127.0.0.3'],
  ['w3', '127.0.0.4'],
];
const TRANSITION_TIMEOUT_MS = 15_000;
const OVERHEAD_TARGET_MS = 200;

/** The fields of a transition event (bearmon.transition.<id>) this bench reads. */
const transitionEvent = z.object({
  checkId: z.number(),
  to: z.string(),
  at: z.string(),
  evidence: z.array(z.object({ worker: z.string(), at: z.string() })),
});
type TransitionEvent = z.output<typeof transitionEvent>;

interface Outage {
  t0: number;
  committedAt: number;
  publishedAt: number;
  transition: TransitionEvent;
}

/** A loopback HTTP target: 200 while `up`, 503 otherwise. */
async function switchableTarget(): Promise<{ url: string; up: boolean; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => void res.writeHead(state.up ? 200 : 503).end(state.up ? 'ok' : 'down'));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const state = {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`,
    up: true,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return state;
}

/** Resolves with the first `event` emitted after the call whose payload satisfies `test`. */
function nextEvent<T>(emitter: EventEmitter, event: string, test: (value: T) => boolean, what: string): Promise<T> {
  let listener: (value: T) => void = () => {};
  const seen = new Promise<T>((resolve) => {
    listener = (value) => {
      if (test(value)) resolve(value);
    };
    emitter.on(event, listener);
  });
  return within(seen, TRANSITION_TIMEOUT_MS, what).finally(() => emitter.off(event, listener));
}

/**
 * The per-outage figures, all in ms. The transition's evidence lists the counted results
 * in order, the last CONFIRMATIONS of them being the deciding round: its first is the
 * regular run, its last the deciding confirmation. A run's start is its result's `at`
 * minus its duration. With S = start of the first counted run:
 * - overheadDb / overheadBus: commit / event seen on NATS, minus the deciding result's `at`;
 * - beyondFloor: commit − S − (delay × interval + the deciding round's two run times),
 *   i.e. everything the rule itself does not require; it is the sum of
 * - scheduleLag (the deciding round's regular run started later than S + delay × interval),
 * - confirmLag (the deciding confirmation started after the result before it), and overheadDb;
 * - endToEnd: commit − t0, including the wait for the first run after t0.
 */
function analyse(outage: Outage, durations: Map<string, number>) {
  const { transition: t } = outage;
  const ms = (iso: string) => Date.parse(iso);
  const duration = (e: { worker: string; at: string }) => durations.get(`${e.worker}|${e.at}`) ?? 0;
  const first = t.evidence[0]!;
  const lastRound = t.evidence[t.evidence.length - CONFIRMATIONS]!;
  const decider = t.evidence[t.evidence.length - 1]!;
  const firstStart = ms(first.at) - duration(first);
  const lastRoundStart = ms(lastRound.at) - duration(lastRound);
  const floor = DELAY * INTERVAL_S * 1000 + duration(lastRound) + duration(decider);
  return {
    overheadDb: outage.committedAt - ms(t.at),
    overheadBus: outage.publishedAt - ms(t.at),
    endToEnd: outage.committedAt - outage.t0,
    beyondFloor: outage.committedAt - firstStart - floor,
    scheduleLag: lastRoundStart - firstStart - DELAY * INTERVAL_S * 1000,
    confirmLag: ms(decider.at) - duration(decider) - ms(lastRound.at),
    runMs: (duration(lastRound) + duration(decider)) / 2,
  };
}

type LatencyEnv = { nats: NatsLogin; natsLogin(user: string): NatsLogin; db: BenchDatabase; stream: string };

/**
 * The controller, its store and writer, 3 workers and an observer, each on its own NATS
 * connection. Emits on `events`: `result` (every result of the check), `published` (a
 * transition event seen on the bus) and `committed` (a transition committed to MySQL).
 */
async function startCluster(env: LatencyEnv, checkId: number, events: EventEmitter, tally: LogTally) {
  const registry = createCheckRegistry();
  const connections: NatsConnection[] = [];
  const bus = async (name: string, login = env.nats) => {
    const nc = await connect({ ...login, name });
    connections.push(nc);
    return nc;
  };
  const store = createStore({ dsns: [env.db.dsn], log: tally.log, registry });
  // The writer's store, wrapped only to see when MySQL committed each transition.
  const timedStore: Pick<Store, 'recordTransition'> = {
    recordTransition: async (transition) => {
      const outcome = await store.recordTransition(transition);
      events.emit('committed', { to: transition.to, at: Date.now() });
      return outcome;
    },
  };
  const writer = createTransitionWriter({ store: timedStore, log: tally.log, retry: { initialMs: 100, maxMs: 1000 } });
  const workers: WorkerHandle[] = [];
  const durations = new Map<string, number>();
  let controller: ControllerHandle | undefined;
  const stop = async () => {
    await controller?.stop();
    // Lets the controller's last assignment publishes settle before the connections drain:
    // each ends by publishing its run request, which throws on a draining connection.
    await sleep(300);
    for (const worker of workers) await worker.stop();
    await within(writer.drain(), 10_000, 'transition writer drain').catch(() => {});
    await writer.stop();
    await store.close();
    for (const nc of connections) await nc.drain().catch(() => nc.close());
  };
  try {
    const observer = await bus('bearmon-bench-observer');
    observer.subscribe(`bearmon.result.*.${checkId}`, {
      callback: (_err, msg) => {
        const decoded = decode(resultMessage, msg.data);
        if (!decoded.ok) return void tally.log.error({ subject: msg.subject, error: decoded.error }, 'bench: undecodable result');
        durations.set(`${decoded.value.worker}|${decoded.value.at}`, decoded.value.durationMs);
        events.emit('result', decoded.value);
      },
    });
    observer.subscribe(checkFilter('transition', checkId), {
      callback: (_err, msg) => {
        const at = Date.now();
        const decoded = decode(transitionEvent, msg.data);
        if (decoded.ok) events.emit('published', { at, transition: decoded.value });
        else tally.log.error({ subject: msg.subject, error: decoded.error }, 'bench: undecodable transition event');
      },
    });
    await observer.flush();
    for (const [id, sourceAddress] of WORKERS) {
      workers.push(startWorker({ nc: await bus(`bearmon-bench-${id}`, env.natsLogin(id)), id, numThreads: 4, sourceAddress, dnsServer: '127.0.0.1:53', log: tally.log, viewZeroController: 'lat-ctl' }));
    }
    controller = await startController({
      nc: await bus('bearmon-bench-controller'),
      id: 'lat-ctl',
      confirmations: CONFIRMATIONS,
      reloadIntervalMs: 60_000,
      store,
      writer,
      registry,
      log: tally.log,
      resultLog: { stream: env.stream, retentionMs: 3_600_000 },
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { durations, stop };
}

/** Resolves once every worker has answered online (connections made, code warm). */
function everyWorkerAnswered(events: EventEmitter): Promise<void> {
  const answered = new Set<string>();
  let onResult: (r: { worker: string; status: string }) => void = () => {};
  const all = new Promise<void>((resolve) => {
    onResult = (r) => {
      if (r.status === 'online') answered.add(r.worker);
      if (answered.size === WORKERS.length) resolve();
    };
    events.on('result', onResult);
  });
  return within(all, 20_000, 'every latency worker answering').finally(() => events.off('result', onResult));
}

/** Switches the target off and waits for the transition, then on and waits again; `outages` times. */
async function runOutages(events: EventEmitter, target: { up: boolean }, outages: number): Promise<Outage[]> {
  const transitionTo = async (to: string) => {
    const [committed, published] = await Promise.all([
      nextEvent<{ to: string; at: number }>(events, 'committed', (e) => e.to === to, `transition to ${to} committed`),
      nextEvent<{ at: number; transition: TransitionEvent }>(events, 'published', (e) => e.transition.to === to, `transition to ${to} published`),
    ]);
    return { committed, published };
  };
  const samples: Outage[] = [];
  for (let i = 0; i < outages; i++) {
    // A random pause puts t0 at a random phase of the check's schedule.
    await sleep(Math.random() * INTERVAL_S * 1000);
    const offline = transitionTo('offline');
    const t0 = Date.now();
    target.up = false;
    const seen = await offline;
    samples.push({ t0, committedAt: seen.committed.at, publishedAt: seen.published.at, transition: seen.published.transition });
    const online = transitionTo('online');
    target.up = true;
    await online;
  }
  return samples;
}

export async function measureDetection(env: LatencyEnv, outages = 10): Promise<BenchFigure[]> {
  const target = await switchableTarget();
  try {
    await env.db.replaceChecks([
      { name: 'latency target', type: 'http', data: JSON.stringify({ url: target.url, expect_status: 200 }), interval: INTERVAL_S, delay: DELAY },
    ]);
    const checkId = 1;
    const tally = tallyLogs();
    const events = new EventEmitter();
    const cluster = await startCluster(env, checkId, events, tally);
    let samples: Outage[];
    try {
      await everyWorkerAnswered(events);
      samples = await runOutages(events, target, outages);
    } finally {
      await cluster.stop();
    }
    return figures(samples.map((s) => analyse(s, cluster.durations)), outages, tally.counts());
  } finally {
    await target.close();
  }
}

function figures(rows: ReturnType<typeof analyse>[], outages: number, logs: Record<string, number>): BenchFigure[] {
  type Key = keyof (typeof rows)[number];
  const values = (key: Key) => rows.map((r) => r[key]);
  // p99 is asked for where a target names it; with 10 outages it cannot be had, and the max is held to it instead.
  const target = { percentile: 99, atMost: OVERHEAD_TARGET_MS };
  const runMs = percentile(values('runMs'), 50);
  const floor = DELAY * INTERVAL_S * 1000 + 2 * runMs;
  return [
    { label: 'outages detected', value: rows.length, unit: `of ${outages}`, target: `= ${outages}`, pass: rows.length === outages },
    ...distributionFigures('deciding result → MySQL commit', values('overheadDb'), 'ms', { percentiles: [50, 99], target }),
    ...distributionFigures('deciding result → transition event on NATS', values('overheadBus'), 'ms', { percentiles: [50, 99] }),
    ...distributionFigures('beyond the rule floor (first counted run → commit − floor)', values('beyondFloor'), 'ms', { percentiles: [50, 99], target }),
    ...distributionFigures('  of which next regular run late on the interval', values('scheduleLag'), 'ms', { percentiles: [50] }),
    ...distributionFigures('  of which confirmation run start after the result', values('confirmLag'), 'ms', { percentiles: [50] }),
    ...distributionFigures('end-to-end: t0 (target off) → MySQL commit', values('endToEnd'), 'ms', { percentiles: [50] }),
    { label: `rule floor: delay × interval + 2 runs of ${round1(runMs)} ms (+ up to 1 interval of phase)`, value: round1(floor), unit: `… ${round1(floor + INTERVAL_S * 1000)} ms` },
    ...logFigures('controller+workers', logs),
  ];
}
