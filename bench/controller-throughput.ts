/**
 * Sustained accepted results per second with the result log on (issue 4), found by a
 * capacity search. The real controller (child process) schedules tcp checks at a 1 s
 * interval; 4 simulated workers answer every run request at once with an `online` result
 * published into the result log (JetStream). N checks at 1 s offer N results/s.
 *
 * One probe: an empty result log, N checks in MySQL, a fresh controller process, a settling
 * pause, then a measuring window. Accepted results = results that reached the controller's
 * connection (counted by a second subscription on it, dispatched together with the
 * controller's own handler) minus the results it rejected (`rejected` facts on
 * bearmon.decision.>), per second of the controller's clock. A probe is sustained when at
 * least 95 % of the offered load is accepted.
 *
 * The search doubles (or halves) the load from a start until it has a sustained load below
 * and an unsustained one above, then bisects until they are within 5 % of each other. The
 * highest sustained load is probed once more at the end to show whether it holds up.
 * Probes are independent (a fresh controller and log each), so an overloaded probe leaves
 * no backlog to the next.
 */
import { forkController, type ChildSample, type ControllerChild } from './controller-child.ts';
import { dummyChecks } from './controller-scale.ts';
import type { BenchDatabase } from './database.ts';
import { jetStreamCeiling } from './jetstream-ceiling.ts';
import { cpuMicrosMs, machineCpuMs, processCpuMs } from './proc-cpu.ts';
import { deleteStream, type NatsLogin } from './nats.ts';
import { logFigures } from './log-tally.ts';
import type { BenchFigure } from './report.ts';
import { startSimWorkers, type SimWorkers } from './sim-workers.ts';
import { round1, sleep } from './stats.ts';

export interface ThroughputOptions {
  /** First offered load (checks at 1 s). */
  start: number;
  /** The search gives up above / below these (reported as "at least" / "below"). */
  max: number;
  min: number;
  /** Bisect until (unsustained − sustained) / sustained is at most this. */
  tolerance: number;
  settleMs: number;
  windowMs: number;
  /** Upper bound on probes, the final re-probe not included. */
  maxProbes: number;
}

export const THROUGHPUT_DEFAULTS: ThroughputOptions = { start: 5_000, max: 80_000, min: 250, tolerance: 0.05, settleMs: 4_000, windowMs: 8_000, maxProbes: 12 };
export const THROUGHPUT_QUICK: ThroughputOptions = { ...THROUGHPUT_DEFAULTS, start: 2_000, settleMs: 2_000, windowMs: 3_000, maxProbes: 8 };
const TARGET = 20_000;
/** A probe is sustained when this share of the offered results is accepted. */
const KEPT_UP = 0.95;

interface Probe {
  offered: number;
  accepted: number;
  requests: number;
  published: number;
  publishFailed: number;
  rejected: number;
  controllerCpu: number;
  /** Controller CPU per accepted result, µs. */
  cpuPerResult: number;
  natsCpu: number;
  benchCpu: number;
  /** Share of all cores busy (every process on the machine), percent. */
  machineBusy: number;
  sustained: boolean;
  /** The controller's warning/error lines up to the end of the window. */
  logs: Record<string, number>;
}

type Env = { nats: NatsLogin; natsPid: number; db: BenchDatabase; stream: string };

async function measureWindow(child: ControllerChild, sims: SimWorkers, natsPid: number, offered: number, windowMs: number): Promise<Probe> {
  const machineBefore = await machineCpuMs();
  const before: [ChildSample, ReturnType<SimWorkers['stats']>, number | undefined, NodeJS.CpuUsage] = [await child.sample(), sims.stats(), await processCpuMs(natsPid), process.cpuUsage()];
  await sleep(windowMs);
  const after: [ChildSample, ReturnType<SimWorkers['stats']>, number | undefined] = [await child.sample(), sims.stats(), await processCpuMs(natsPid)];
  const machineAfter = await machineCpuMs();
  const benchCpu = cpuMicrosMs(process.cpuUsage(before[3]));
  const seconds = (after[0].at - before[0].at) / 1000;
  const rate = (a: number, b: number) => Math.round((a - b) / seconds);
  const percent = (ms: number) => round1(ms / seconds / 10);
  const accepted = rate(after[0].results - after[0].rejected, before[0].results - before[0].rejected);
  const controllerCpuMs = cpuMicrosMs(after[0].cpuMicros) - cpuMicrosMs(before[0].cpuMicros);
  return {
    offered,
    accepted,
    rejected: after[0].rejected - before[0].rejected,
    requests: rate(after[1].requests, before[1].requests),
    published: rate(after[1].published, before[1].published),
    publishFailed: after[1].publishFailed - before[1].publishFailed,
    controllerCpu: percent(controllerCpuMs),
    cpuPerResult: accepted > 0 ? Math.round((controllerCpuMs * 1000) / (accepted * seconds)) : NaN,
    natsCpu: after[2] !== undefined && before[2] !== undefined ? percent(after[2] - before[2]) : NaN,
    benchCpu: percent(benchCpu),
    machineBusy:
      machineBefore && machineAfter ? round1(((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * 100) : NaN,
    sustained: accepted >= KEPT_UP * offered,
    logs: after[0].logs,
  };
}

export async function measureThroughput(env: Env, options = THROUGHPUT_DEFAULTS): Promise<BenchFigure[]> {
  const ceiling = await jetStreamCeiling(env.nats);
  const sims = await startSimWorkers({ nats: env.nats, ids: ['tp-1', 'tp-2', 'tp-3', 'tp-4'], capacity: 100_000 });
  const logs: Record<string, number> = {};
  const probes: Probe[] = [];
  const probe = async (offered: number): Promise<Probe> => {
    await deleteStream(env.nats, env.stream);
    await env.db.replaceChecks(dummyChecks(offered, 1));
    const child = await forkController({
      nats: env.nats,
      dsn: env.db.dsn,
      id: 'tp-ctl',
      confirmations: 2,
      reloadIntervalMs: 60_000,
      stream: env.stream,
      retentionMs: 3_600_000,
      countResults: true,
      snapshotMs: 0,
    });
    let result: Probe;
    try {
      await sleep(options.settleMs);
      result = await measureWindow(child, sims, env.natsPid, offered, options.windowMs);
      // Log lines up to the end of the window: stopping a controller under load cuts assignment publishes in flight, which says nothing of its capacity.
      for (const [line, count] of Object.entries(result.logs)) logs[line] = (logs[line] ?? 0) + count;
    } finally {
      const atStop = await child.stop();
      for (const [line, count] of Object.entries(atStop)) if (line.startsWith('stop:')) logs[line] = (logs[line] ?? 0) + count;
    }
    probes.push(result);
    return result;
  };
  let lo: number | undefined; // highest load sustained
  let hi: number | undefined; // lowest load not sustained
  try {
    const first = await probe(options.start);
    if (first.sustained) {
      lo = options.start;
      while (hi === undefined && lo * 2 <= options.max && probes.length < options.maxProbes) {
        if ((await probe(lo * 2)).sustained) lo *= 2;
        else hi = lo * 2;
      }
    } else {
      hi = options.start;
      while (lo === undefined && hi / 2 >= options.min && probes.length < options.maxProbes) {
        if ((await probe(Math.round(hi / 2))).sustained) lo = Math.round(hi / 2);
        else hi = Math.round(hi / 2);
      }
    }
    while (lo !== undefined && hi !== undefined && (hi - lo) / lo > options.tolerance && probes.length < options.maxProbes) {
      const mid = Math.round((lo + hi) / 2 / 10) * 10;
      if ((await probe(mid)).sustained) lo = mid;
      else hi = mid;
    }
    const again = lo !== undefined ? await probe(lo) : undefined;
    return report({ probes, lo, hi, again, ceiling, options, logs });
  } finally {
    await sims.stop();
  }
}

function report(run: { probes: Probe[]; lo?: number; hi?: number; again?: Probe; ceiling: number; options: ThroughputOptions; logs: Record<string, number> }): BenchFigure[] {
  const { probes, lo, hi, again, options } = run;
  const converged = lo !== undefined && hi !== undefined && (hi - lo) / lo <= options.tolerance;
  const atLo = probes.find((p) => p.offered === lo);
  const bracket =
    lo === undefined ? `below ${hi} offered/s (the search stops at ${options.min})`
    : hi === undefined ? `at least ${lo} offered/s (the search stops at ${options.max})`
    : `between ${lo} (sustained) and ${hi} (not) offered/s, ${round1(((hi - lo) / lo) * 100)} % apart${converged ? '' : `: NOT converged in ${options.maxProbes} probes`}`;
  const capacity = lo ?? 0;
  return [
    { label: `capacity: highest offered load with ≥ ${KEPT_UP * 100} % accepted; ${bracket}`, value: capacity, unit: 'results/s', target: `≥ ${TARGET}`, pass: capacity >= TARGET },
    { label: `search converged to within ${options.tolerance * 100} %`, value: converged ? 1 : 0, unit: converged ? '(yes)' : '(no)', target: 'yes', pass: converged },
    ...(atLo ? [{ label: `accepted at ${lo}/s in the search`, value: atLo.accepted, unit: 'accepted/s' }] : []),
    ...(again ? [{ label: `the same load probed again at the end: ${again.sustained ? 'sustained' : 'NOT sustained (the machine is noisy at this level)'}`, value: again.accepted, unit: 'accepted/s', target: 'sustained', pass: again.sustained }] : []),
    ...(atLo ? [{ label: `controller CPU per accepted result at ${lo}/s`, value: atLo.cpuPerResult, unit: 'µs' }] : []),
    { label: 'JetStream acks/s to one process, nothing else running (a result costs 2: assignment + result)', value: run.ceiling, unit: 'messages/s' },
    ...probes.map((p, i) => ({
      label: `probe ${i + 1}${again && i === probes.length - 1 ? ' (repeat)' : ''}: offered ${p.offered}/s ${p.sustained ? 'sustained' : 'not sustained'}; requests ${p.requests}/s, stored ${p.published}/s, rejected ${p.rejected}, store failed ${p.publishFailed}; CPU % of a core: controller ${p.controllerCpu}, nats ${p.natsCpu}, sims ${p.benchCpu}; machine ${p.machineBusy} % busy`,
      value: p.accepted,
      unit: 'accepted/s',
    })),
    ...logFigures('controller', run.logs),
  ];
}
