/**
 * Scale (issue 4): 100,000 tcp checks (to 127.0.0.1:9; nothing runs them) at a 60 s
 * interval, handled by the real controller in a child process, with 4 simulated workers
 * in this process answering every run request at once.
 *
 * Run-start lateness: the controller schedules a check's next run at `at + interval`,
 * where `at` is the time it stamps into the run request it sends now. So for every run
 * after a check's first, due = previous request's `at` + 60 s, and lateness = the time a
 * simulated worker received the request − due. (First runs are due at start + a hashed
 * spread the bench cannot see; they are not counted.) Both clocks are this host's.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { RunRequest } from '../src/bus/messages.ts';
import { forkController, type ChildSample, type ControllerChild } from './controller-child.ts';
import type { BenchDatabase, BenchCheck } from './database.ts';
import { cpuMicrosMs, processCpuMs } from './proc-cpu.ts';
import type { NatsLogin } from './nats.ts';
import { logFigures } from './log-tally.ts';
import type { BenchFigure } from './report.ts';
import { startSimWorkers, type SimWorkerStats } from './sim-workers.ts';
import { percentile, round1, sleep } from './stats.ts';

export interface ScaleOptions {
  checks: number;
  intervalS: number;
  /** Measuring window after the controller is up; must exceed the interval to see second runs. */
  windowMs: number;
}

export const SCALE_DEFAULTS: ScaleOptions = { checks: 100_000, intervalS: 60, windowMs: 90_000 };
const LATENESS_TARGET_MS = 100;
const SAMPLE_EVERY_MS = 5_000;
/** The controller's default [controller] reloadInterval, so its periodic reload is part of the load. */
const RELOAD_INTERVAL_MS = 60_000;

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

/** Keeps, per check, the `at` of its last run request, and the lateness of each later one. */
function latenessTracker(intervalS: number) {
  const lastAt = new Map<number, number>();
  const lateness: number[] = [];
  /** Worst lateness per 10 s of due time since `origin`: shows whether lateness is steady or a stall. */
  const worstBySpan = new Map<number, number>();
  let origin = Date.now();
  const dispatch: number[] = [];
  let firstRuns = 0;
  let deferred = 0;
  const onRequest = (request: RunRequest, receivedAt: number) => {
    const at = Date.parse(request.at);
    dispatch.push(receivedAt - at);
    const previous = lastAt.get(request.checkId);
    lastAt.set(request.checkId, at);
    if (previous === undefined) return void firstRuns++;
    const late = receivedAt - (previous + intervalS * 1000);
    // Half an interval late means the run was put off (the controller skips a check whose
    // run is still out), not merely late: counted apart so it cannot hide in a percentile.
    if (late > (intervalS * 1000) / 2) return void deferred++;
    lateness.push(late);
    const span = Math.floor((previous + intervalS * 1000 - origin) / 10_000);
    worstBySpan.set(span, Math.max(worstBySpan.get(span) ?? -Infinity, late));
  };
  return {
    onRequest,
    lateness,
    dispatch,
    /** Due times are counted from here (the controller's start) in the per-span figures. */
    startSpans: (at: number) => void (origin = at),
    worstBySpan: () => [...worstBySpan].sort(([a], [b]) => a - b),
    counts: () => ({ firstRuns, deferred }),
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
  const sims = await startSimWorkers({ nats: env.nats, ids: ['sim-1', 'sim-2', 'sim-3', 'sim-4'], capacity: 100_000, onRequest: tracker.onRequest });
  try {
    began = performance.now();
    const child = await forkController({
      nats: env.nats,
      dsn: env.db.dsn,
      id: 'scale-ctl',
      confirmations: 2,
      reloadIntervalMs: RELOAD_INTERVAL_MS,
      snapshotMs: Number(process.env.BENCH_SNAPSHOT_MS ?? 60_000),
      stream: env.stream,
      retentionMs: 3_600_000,
      countResults: false,
    });
    const forkToReadyMs = performance.now() - began;
    tracker.startSpans(Date.now());
    let window: WindowSamples;
    let logs: Record<string, number>;
    try {
      window = await sampleWindow(child, env.natsPid, options.windowMs);
    } finally {
      logs = await child.stop();
    }
    const storedCheckEvents = await countSubjects(env.nats, env.stream, 'bearmon.check.>');
    return report(options, { ...window, storedCheckEvents, insertMs, forkToReadyMs, startupMs: child.startupMs, tracker, sims: sims.stats(), logs });
  } finally {
    await sims.stop();
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
}

function report(options: ScaleOptions, run: ScaleRun): BenchFigure[] {
  const first = run.samples[0]!;
  const last = run.samples[run.samples.length - 1]!;
  const later = run.samples.slice(1);
  const wallMs = last.at - first.at;
  const cpuPercent = (ms: number) => round1((ms / wallMs) * 100);
  const controllerCpu = cpuMicrosMs(last.cpuMicros) - cpuMicrosMs(first.cpuMicros);
  const mb = (bytes: number) => round1(bytes / 2 ** 20);
  const { lateness, dispatch } = run.tracker;
  const { firstRuns, deferred } = run.tracker.counts();
  const p99 = round1(percentile(lateness, 99));
  const spans = run.tracker.worstBySpan().map(([span, worst]) => `${span * 10}s ${Math.round(worst)}`);
  return [
    { label: `checks (tcp, interval ${options.intervalS} s, bulk insert ${round1(run.insertMs / 1000)} s)`, value: options.checks, unit: 'checks' },
    { label: 'controller start-up: fork → ready / startController alone', value: round1(run.forkToReadyMs / 1000), unit: `/ ${round1(run.startupMs / 1000)} s` },
    { label: `run requests in the ${Math.round(wallMs / 1000)} s window: first runs / later runs`, value: firstRuns, unit: `/ ${lateness.length + deferred}` },
    { label: 'run-start lateness (received − previous run\'s at − interval), p50', value: round1(percentile(lateness, 50)), unit: 'ms' },
    { label: 'run-start lateness, p99', value: p99, unit: 'ms', target: `≤ ${LATENESS_TARGET_MS}`, pass: p99 <= LATENESS_TARGET_MS },
    { label: 'run-start lateness, max', value: round1(Math.max(...lateness)), unit: 'ms' },
    { label: `worst lateness by due time since start: ${spans.join(', ')}`, value: spans.length, unit: 'spans of 10 s' },
    { label: 'later runs put off by more than half an interval', value: deferred, unit: 'runs', target: '= 0', pass: deferred === 0 },
    { label: 'run request at → received by the worker, p50 / p99', value: round1(percentile(dispatch, 50)), unit: `/ ${round1(percentile(dispatch, 99))} ms` },
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
