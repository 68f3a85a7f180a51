/**
 * Sustained accepted results per second with the result log on (issue 4). The real
 * controller (child process) schedules tcp checks at a 1 s interval; 4 simulated workers
 * answer every run request at once with an `online` result published into the result log
 * (JetStream). The offered load is raised in steps (rows added to `checks`, then a reload
 * asked over bearmon.control.reload) until the controller no longer keeps up.
 *
 * Accepted results = results that reached the controller's connection (counted by a
 * second subscription on it, dispatched together with the controller's own handler)
 * minus the results it rejected (`rejected` facts on bearmon.decision.>), per second of
 * the controller's clock, over a window after each step has settled.
 */
import { connect } from '@nats-io/transport-node';
import { subject } from '../src/bus/subjects.ts';
import { forkController, type ChildSample, type ControllerChild } from './controller-child.ts';
import { dummyChecks } from './controller-scale.ts';
import type { BenchDatabase } from './database.ts';
import { jetStreamCeiling } from './jetstream-ceiling.ts';
import { cpuMicrosMs, machineCpuMs, processCpuMs } from './proc-cpu.ts';
import type { NatsLogin } from './nats.ts';
import { logFigures } from './log-tally.ts';
import type { BenchFigure } from './report.ts';
import { startSimWorkers, type SimWorkers } from './sim-workers.ts';
import { round1, sleep } from './stats.ts';

export interface ThroughputOptions {
  /** Checks at a 1 s interval after each step, i.e. the offered results per second. */
  steps: number[];
  settleMs: number;
  windowMs: number;
}

export const THROUGHPUT_DEFAULTS: ThroughputOptions = { steps: [2_500, 5_000, 10_000, 15_000, 20_000, 25_000], settleMs: 3_000, windowMs: 5_000 };
const TARGET = 20_000;
/** A step is sustained when this share of the offered results is accepted. */
const KEPT_UP = 0.95;

interface Step {
  offered: number;
  accepted: number;
  requests: number;
  published: number;
  rejected: number;
  controllerCpu: number;
  natsCpu: number;
  benchCpu: number;
  /** Share of all cores busy (every process on the machine), percent. */
  machineBusy: number;
}

async function measureStep(child: ControllerChild, sims: SimWorkers, natsPid: number, offered: number, windowMs: number): Promise<Step> {
  const machineBefore = await machineCpuMs();
  const before: [ChildSample, ReturnType<SimWorkers['stats']>, number | undefined, NodeJS.CpuUsage] = [await child.sample(), sims.stats(), await processCpuMs(natsPid), process.cpuUsage()];
  await sleep(windowMs);
  const after: [ChildSample, ReturnType<SimWorkers['stats']>, number | undefined] = [await child.sample(), sims.stats(), await processCpuMs(natsPid)];
  const machineAfter = await machineCpuMs();
  const benchCpu = cpuMicrosMs(process.cpuUsage(before[3]));
  const seconds = (after[0].at - before[0].at) / 1000;
  const rate = (a: number, b: number) => Math.round((a - b) / seconds);
  const percent = (ms: number) => round1(ms / seconds / 10);
  return {
    offered,
    accepted: rate(after[0].results - after[0].rejected, before[0].results - before[0].rejected),
    rejected: after[0].rejected - before[0].rejected,
    requests: rate(after[1].requests, before[1].requests),
    published: rate(after[1].published, before[1].published),
    controllerCpu: percent(cpuMicrosMs(after[0].cpuMicros) - cpuMicrosMs(before[0].cpuMicros)),
    natsCpu: after[2] !== undefined && before[2] !== undefined ? percent(after[2] - before[2]) : NaN,
    benchCpu: percent(benchCpu),
    machineBusy:
      machineBefore && machineAfter ? round1(((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * 100) : NaN,
  };
}

export async function measureThroughput(env: { nats: NatsLogin; natsPid: number; db: BenchDatabase; stream: string }, options = THROUGHPUT_DEFAULTS): Promise<BenchFigure[]> {
  const ceiling = await jetStreamCeiling(env.nats);
  await env.db.replaceChecks(dummyChecks(options.steps[0]!, 1));
  const sims = await startSimWorkers({ nats: env.nats, ids: ['tp-1', 'tp-2', 'tp-3', 'tp-4'], capacity: 100_000 });
  const steps: Step[] = [];
  let logs: Record<string, number> = {};
  const nc = await connect({ ...env.nats, name: 'bearmon-bench-throughput' });
  try {
    const child = await forkController({
      nats: env.nats,
      dsn: env.db.dsn,
      id: 'tp-ctl',
      confirmations: 2,
      reloadIntervalMs: 60_000,
      stream: env.stream,
      retentionMs: 3_600_000,
      countResults: true,
    });
    try {
      let loaded = options.steps[0]!;
      for (const offered of options.steps) {
        if (offered > loaded) {
          await env.db.addChecks(dummyChecks(offered - loaded, 1));
          await nc.request(subject.control('reload'), '', { timeout: 60_000 });
          loaded = offered;
        }
        await sleep(options.settleMs);
        const step = await measureStep(child, sims, env.natsPid, offered, options.windowMs);
        steps.push(step);
        if (step.accepted < KEPT_UP * offered) break;
      }
    } finally {
      logs = await child.stop();
    }
  } finally {
    await nc.close();
    await sims.stop();
  }
  return report(steps, ceiling, sims.stats(), logs);
}

function report(steps: Step[], ceiling: number, sims: ReturnType<SimWorkers['stats']>, logs: Record<string, number>): BenchFigure[] {
  const sustained = steps.filter((s) => s.accepted >= KEPT_UP * s.offered);
  const best = Math.max(0, ...sustained.map((s) => s.accepted));
  const peak = Math.max(0, ...steps.map((s) => s.accepted));
  return [
    { label: `max sustained accepted results/s (step with ≥ ${KEPT_UP * 100} % of its load accepted)`, value: best, unit: 'results/s', target: `≥ ${TARGET}`, pass: best >= TARGET },
    { label: 'highest accepted rate in any step (above = saturated)', value: peak, unit: 'results/s' },
    { label: 'JetStream acks/s to one process, nothing else running (a result costs 2)', value: ceiling, unit: 'messages/s' },
    ...steps.map((s) => ({
      label: `offered ${s.offered}/s: requests ${s.requests}/s, stored ${s.published}/s, rejected ${s.rejected}; CPU % of a core: controller ${s.controllerCpu}, nats ${s.natsCpu}, sims ${s.benchCpu}; machine ${s.machineBusy} % busy`,
      value: s.accepted,
      unit: 'accepted/s',
    })),
    { label: 'results the simulated workers could not store', value: sims.publishFailed, unit: 'results' },
    ...logFigures('controller', logs),
  ];
}
