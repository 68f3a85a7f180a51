/**
 * Scale (issue 4): 100,000 tcp checks (to 127.0.0.1:9; nothing runs them) at a 60 s
 * interval, handled by the real controller in a child process, with 4 simulated workers
 * in this process answering every run request at once.
 *
 * Run-start lateness is measured against the due time the controller itself computed: every
 * assignment it logs (`{"type":"assign",...}` on bearmon.assign.<controller>.<check>) carries
 * `due` (when the schedule wanted the run) and `at` (when the controller handed it out).
 * Per regular run:
 * - dispatch lateness = assign `at` − `due` (the controller's clock alone);
 * - run-start lateness = the simulated worker received the run request − `due` (the
 *   controller's and this process's clocks: the same host). The target is held against it.
 * Runs due before the controller was ready (the first runs of checks whose spread put them
 * inside start-up) are counted apart; a re-run after an expiry (due = at by construction) is
 * not counted. A regular run the controller skipped (its previous run still out) shows as a
 * gap of more than 1.5 intervals between a check's consecutive due times, and is counted.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { PREFIX } from '../src/bus/subjects.ts';
import type { RunRequest } from '../src/bus/messages.ts';
import { forkController, type ChildSample, type ControllerChild } from './controller-child.ts';
import type { BenchDatabase, BenchCheck } from './database.ts';
import { cpuMicrosMs, processCpuMs } from './proc-cpu.ts';
import type { NatsLogin } from './nats.ts';
import { logFigures } from './log-tally.ts';
import type { BenchFigure } from './report.ts';
import { startSimWorkers, type SimWorkerStats } from './sim-workers.ts';
import { distributionFigures, round1, sleep } from './stats.ts';

export interface ScaleOptions {
  checks: number;
  intervalS: number;
  /** Measuring window after the controller is up; must exceed the interval to see second runs. */
  windowMs: number;
}

export const SCALE_DEFAULTS: ScaleOptions = { checks: 100_000, intervalS: 60, windowMs: 90_000 };
export const SCALE_QUICK: ScaleOptions = { checks: 10_000, intervalS: 10, windowMs: 15_000 };
const LATENESS_TARGET_MS = 100;
const SAMPLE_EVERY_MS = 5_000;
/** The controller's default [controller] reloadInterval, so its periodic reload is part of the load. */
const RELOAD_INTERVAL_MS = 60_000;
const CONTROLLER_ID = 'scale-ctl';

/** Distinct subjects matching `filter` in the stream (one per check for bearmon.check.>). */
async function countSubjects(login: NatsLogin, stream: string, filter: string): Promise<number> {
  const nc = await connect({ ...login, name: 'bearmon-bench-scale-count' });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(stream, { subjects_filter: filter });
    return Object.keys(info.state.subjects ?? {}).length;
  } finally {
    await nc.close();
  }
}

export function* dummyChecks(count: number, intervalS: number): Generator<BenchCheck> {
  const data = JSON.stringify({ address: '127.0.0.1:9' });
  for (let i = 1; i <= count; i++) yield { name: `bench ${i}`, type: 'tcp', data, interval: intervalS, delay: 1 };
}

/** The fields of an assign-subject line this bench reads (assign and expire lines share the subject). */
interface AssignEvent {
  type: string;
  checkId: number;
  assignment: string;
  at: string;
  due?: string;
}

/**
 * Pairs each logged assignment (due, at) with the run request a simulated worker received
 * for it, whichever arrives first (they come on different connections).
 */
function latenessTracker(intervalS: number) {
  const intervalMs = intervalS * 1000;
  /** Assignments logged, their run request not seen yet: due (undefined: not a regular run). */
  const awaiting = new Map<string, number | undefined>();
  /** Run requests seen before their assign line: received at. */
  const early = new Map<string, number>();
  const lastDue = new Map<number, number>();
  const rerun = new Set<number>();
  const dispatch: number[] = [];
  const runStart: number[] = [];
  const beforeReady: number[] = [];
  /** Worst run-start lateness per 10 s of due time since the controller was ready: steady, or a stall? */
  const worstBySpan = new Map<number, number>();
  let readyAt = Infinity;
  const counts = { assigns: 0, firstRuns: 0, skipped: 0, expired: 0, reruns: 0, noDue: 0 };

  const receipt = (due: number | undefined, receivedAt: number) => {
    if (due === undefined) return;
    const late = receivedAt - due;
    if (due < readyAt) return void beforeReady.push(late);
    runStart.push(late);
    const span = Math.floor((due - readyAt) / 10_000);
    worstBySpan.set(span, Math.max(worstBySpan.get(span) ?? -Infinity, late));
  };

  const onAssign = (event: AssignEvent) => {
    if (event.type === 'expire') {
      counts.expired++;
      rerun.add(event.checkId);
      return;
    }
    if (event.type !== 'assign') return;
    counts.assigns++;
    const at = Date.parse(event.at);
    const due = event.due === undefined ? NaN : Date.parse(event.due);
    let regular: number | undefined = due;
    if (Number.isNaN(due)) {
      counts.noDue++;
      regular = undefined;
    } else if (rerun.delete(event.checkId)) {
      counts.reruns++;
      regular = undefined;
    } else {
      const previous = lastDue.get(event.checkId);
      lastDue.set(event.checkId, due);
      if (previous === undefined) counts.firstRuns++;
      else if (due - previous > 1.5 * intervalMs) counts.skipped += Math.round((due - previous) / intervalMs) - 1;
      if (due >= readyAt) dispatch.push(at - due);
    }
    const receivedAt = early.get(event.assignment);
    if (receivedAt === undefined) awaiting.set(event.assignment, regular);
    else {
      early.delete(event.assignment);
      receipt(regular, receivedAt);
    }
  };

  const onRequest = (request: RunRequest, receivedAt: number) => {
    if (!awaiting.has(request.assignment)) return void early.set(request.assignment, receivedAt);
    const due = awaiting.get(request.assignment);
    awaiting.delete(request.assignment);
    receipt(due, receivedAt);
  };

  return {
    onAssign,
    onRequest,
    dispatch,
    runStart,
    beforeReady,
    /** Runs due from here on are the controller's to be on time for. */
    ready: (at: number) => void (readyAt = at),
    worstBySpan: () => [...worstBySpan].sort(([a], [b]) => a - b),
    /** Unpaired at the end: assignments no worker heard of (the stop cuts the last few), requests never logged. */
    counts: () => ({ ...counts, notReceived: awaiting.size, notLogged: early.size }),
  };
}

/** What the window measured outside the simulated workers. */
interface WindowSamples {
  samples: ChildSample[];
  /** Controller heap after a full GC at the end. */
  retained: number;
  natsCpuMs: number;
  benchCpu: NodeJS.CpuUsage;
  benchLoopP99: number;
}

/** Samples the controller every SAMPLE_EVERY_MS for `windowMs`, with nats-server's and this process's CPU. */
async function sampleWindow(child: ControllerChild, natsPid: number, windowMs: number): Promise<WindowSamples> {
  const natsBefore = await processCpuMs(natsPid);
  const benchBefore = process.cpuUsage();
  const benchLoop = monitorEventLoopDelay({ resolution: 10 });
  benchLoop.enable();
  try {
    const samples = [await child.sample()];
    const end = performance.now() + windowMs;
    while (performance.now() < end) {
      await sleep(Math.min(SAMPLE_EVERY_MS, end - performance.now()));
      samples.push(await child.sample());
    }
    const natsAfter = await processCpuMs(natsPid);
    return {
      samples,
      natsCpuMs: natsBefore !== undefined && natsAfter !== undefined ? natsAfter - natsBefore : NaN,
      benchCpu: process.cpuUsage(benchBefore),
      benchLoopP99: benchLoop.percentile(99) / 1e6,
      retained: (await child.sample({ gc: true })).heapUsed,
    };
  } finally {
    benchLoop.disable();
  }
}

export async function measureScale(env: { nats: NatsLogin; natsPid: number; db: BenchDatabase; stream: string }, options = SCALE_DEFAULTS): Promise<BenchFigure[]> {
  let began = performance.now();
  await env.db.replaceChecks(dummyChecks(options.checks, options.intervalS));
  const insertMs = performance.now() - began;
  const tracker = latenessTracker(options.intervalS);
  // The controller's assign lines, as any reader of the log sees them (core NATS, same subjects).
  const observer = await connect({ ...env.nats, name: 'bearmon-bench-scale-observer' });
  let undecodable = 0;
  observer.subscribe(`${PREFIX}.assign.${CONTROLLER_ID}.*`, {
    callback: (_err, msg) => {
      try {
        tracker.onAssign(msg.json<AssignEvent>());
      } catch {
        undecodable++;
      }
    },
  });
  await observer.flush();
  const sims = await startSimWorkers({ nats: env.nats, ids: ['sim-1', 'sim-2', 'sim-3', 'sim-4'], capacity: 100_000, onRequest: tracker.onRequest });
  try {
    began = performance.now();
    const child = await forkController({
      nats: env.nats,
      dsn: env.db.dsn,
      id: CONTROLLER_ID,
      confirmations: 2,
      reloadIntervalMs: RELOAD_INTERVAL_MS,
      snapshotMs: Number(process.env.BENCH_SNAPSHOT_MS ?? 60_000),
      stream: env.stream,
      retentionMs: 3_600_000,
      countResults: false,
    });
    const forkToReadyMs = performance.now() - began;
    tracker.ready(Date.now());
    let window: WindowSamples;
    let logs: Record<string, number>;
    try {
      window = await sampleWindow(child, env.natsPid, options.windowMs);
    } finally {
      logs = await child.stop();
    }
    // Lines still on their way to the observer.
    await observer.flush();
    await sleep(200);
    const storedCheckEvents = await countSubjects(env.nats, env.stream, 'bearmon.check.>');
    return report(options, { ...window, storedCheckEvents, insertMs, forkToReadyMs, startupMs: child.startupMs, tracker, sims: sims.stats(), logs, undecodable });
  } finally {
    await sims.stop();
    await observer.close();
  }
}

interface ScaleRun extends WindowSamples {
  /** Checks with a configuration event in the result log after the run. */
  storedCheckEvents: number;
  insertMs: number;
  forkToReadyMs: number;
  startupMs: number;
  tracker: ReturnType<typeof latenessTracker>;
  sims: SimWorkerStats;
  logs: Record<string, number>;
  undecodable: number;
}

function report(options: ScaleOptions, run: ScaleRun): BenchFigure[] {
  const first = run.samples[0]!;
  const last = run.samples[run.samples.length - 1]!;
  const later = run.samples.slice(1);
  const wallMs = last.at - first.at;
  const cpuPercent = (ms: number) => round1((ms / wallMs) * 100);
  const controllerCpu = cpuMicrosMs(last.cpuMicros) - cpuMicrosMs(first.cpuMicros);
  const mb = (bytes: number) => round1(bytes / 2 ** 20);
  const { runStart, dispatch, beforeReady } = run.tracker;
  const counts = run.tracker.counts();
  const spans = run.tracker.worstBySpan().map(([span, worst]) => `${span * 10}s ${Math.round(worst)}`);
  return [
    { label: `checks (tcp, interval ${options.intervalS} s, bulk insert ${round1(run.insertMs / 1000)} s)`, value: options.checks, unit: 'checks' },
    { label: 'controller start-up: fork → ready / startController alone', value: round1(run.forkToReadyMs / 1000), unit: `/ ${round1(run.startupMs / 1000)} s` },
    { label: `assignments logged in the ${Math.round(wallMs / 1000)} s window: first runs of a check / all`, value: counts.firstRuns, unit: `/ ${counts.assigns}` },
    ...distributionFigures('run-start lateness (worker received the request − logged due), runs due after ready', runStart, 'ms', { target: { percentile: 99, atMost: LATENESS_TARGET_MS } }),
    ...distributionFigures('dispatch lateness (logged at − logged due), runs due after ready', dispatch, 'ms'),
    ...distributionFigures('run-start lateness of runs due before the controller was ready (start-up)', beforeReady, 'ms', { percentiles: [50] }),
    { label: `worst run-start lateness by due time since ready: ${spans.join(', ')}`, value: spans.length, unit: 'spans of 10 s' },
    { label: 'regular runs skipped (a check\'s due times more than 1.5 intervals apart)', value: counts.skipped, unit: 'runs', target: '= 0', pass: counts.skipped === 0 },
    { label: 'runs expired / re-runs after an expiry (not counted in lateness)', value: counts.expired, unit: `/ ${counts.reruns}` },
    { label: 'assign lines without due / undecodable; run requests received without a logged assignment', value: counts.noDue, unit: `/ ${run.undecodable}; ${counts.notLogged}`, target: '0 / 0; 0', pass: counts.noDue === 0 && run.undecodable === 0 && counts.notLogged === 0 },
    { label: 'assignments logged whose run request no worker received (the stop cuts the last few)', value: counts.notReceived, unit: 'runs' },
    { label: 'controller CPU over the window (its own process)', value: cpuPercent(controllerCpu), unit: '% of a core' },
    { label: 'controller RSS at the end / peak', value: mb(last.rss), unit: `/ ${mb(Math.max(...run.samples.map((s) => s.rss)))} MB` },
    { label: 'controller heap at the end / after a full GC', value: mb(last.heapUsed), unit: `/ ${mb(run.retained)} MB` },
    { label: 'controller event-loop delay, worst 5 s p99 / max', value: round1(Math.max(...later.map((s) => s.loopDelayMs.p99))), unit: `/ ${round1(Math.max(...later.map((s) => s.loopDelayMs.max)))} ms` },
    { label: 'CPU of nats-server / of the simulated workers (bench process)', value: cpuPercent(run.natsCpuMs), unit: `/ ${cpuPercent(cpuMicrosMs(run.benchCpu))} % of a core` },
    { label: 'bench process event-loop delay p99 (late receipts on the bench side)', value: round1(run.benchLoopP99), unit: 'ms' },
    { label: 'results published / failed by the simulated workers', value: run.sims.published, unit: `/ ${run.sims.publishFailed}` },
    { label: 'checks with their configuration event in the result log', value: run.storedCheckEvents, unit: `of ${options.checks}`, target: `= ${options.checks}`, pass: run.storedCheckEvents === options.checks },
    ...logFigures('controller', run.logs),
  ];
}
