/**
 * Check throughput on loopback: bearmon http checks against a plain Node http.get loop
 * (both without keep-alive, same concurrency, same run), and tcp checks. Checks go through
 * a CheckRunner with the real registry, as a worker runs them: the definition is parsed
 * and validated once, then every run goes through the runner (deadline, cancellation).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { createCheckRegistry } from '../src/checks/registry.ts';
import { httpCheck } from '../src/checks/http.ts';
import { CheckRunner } from '../src/checks/run.ts';
import type { BenchFigure, BenchReport } from './report.ts';

const CONCURRENCY = 64;
const PHASE_MS = 5000;
const SLICE_MS = 500;
/** Upper bound per phase, so a phase stops by itself even on a very fast machine. */
const MAX_PER_PHASE = 100_000;
const WARMUP = 500;
const RATIO_TARGET = 0.7;

interface Phase {
  count: number;
  elapsedMs: number;
  durations: number[];
  failures: number;
}

const emptyPhase = (): Phase => ({ count: 0, elapsedMs: 0, durations: [], failures: 0 });
const perSecond = (p: Phase) => p.count / (p.elapsedMs / 1000);

type Task = () => Promise<{ ok: boolean; ms: number }>;

/** Runs `task` from CONCURRENCY loops for `ms` (or `max` runs), adding to `into`. */
async function phase(task: Task, ms: number, max = MAX_PER_PHASE, into = emptyPhase()): Promise<Phase> {
  let started = 0;
  const begin = performance.now();
  const end = begin + ms;
  const loop = async () => {
    while (performance.now() < end && started < max) {
      started++;
      const { ok, ms: took } = await task();
      into.durations.push(took);
      into.count++;
      if (!ok) into.failures++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  into.elapsedMs += performance.now() - begin;
  return into;
}

/**
 * Measures tasks in alternating slices (ABC, CBA, ...), so drift in machine load (a shared
 * VM, other processes) hits all of them equally and their ratios stay meaningful.
 */
async function interleaved(tasks: Task[]): Promise<Phase[]> {
  const phases = tasks.map(emptyPhase);
  const slices = PHASE_MS / SLICE_MS;
  for (let i = 0; i < slices; i++) {
    const order = tasks.map((_, k) => (i % 2 === 0 ? k : tasks.length - 1 - k));
    for (const k of order) await phase(tasks[k]!, SLICE_MS, MAX_PER_PHASE / slices, phases[k]);
  }
  return phases;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function figures(label: string, result: Phase, unit = 'checks/s'): BenchFigure[] {
  return [
    { label: `${label} per second`, value: Math.round(perSecond(result)), unit },
    { label: `${label} p50`, value: round2(percentile(result.durations, 50)), unit: 'ms', n: result.durations.length },
    // Thousands of runs per phase: p99 is well supported (it needs 100).
    { label: `${label} p99`, value: round2(percentile(result.durations, 99)), unit: 'ms', n: result.durations.length },
    { label: `${label} not online`, value: result.failures, unit: 'runs', target: '= 0', pass: result.failures === 0 },
  ];
}

const round2 = (n: number) => Math.round(n * 100) / 100;

async function startTargets(): Promise<{ child: ChildProcess; http: number; tcp: number }> {
  const script = fileURLToPath(new URL('./target-server.ts', import.meta.url));
  const child = fork(script, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 2, 'inherit', 'ipc'] });
  const [message] = (await once(child, 'message')) as [{ ready: { http: number; tcp: number } }];
  return { child, ...message.ready };
}

/** The baseline: what Node itself does for one no-keep-alive GET. */
function plainGet(port: number): Promise<{ ok: boolean; ms: number }> {
  const begin = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve({ ok: res.statusCode === 200, ms: performance.now() - begin }));
    });
    req.once('error', () => resolve({ ok: false, ms: performance.now() - begin }));
  });
}

export async function benchChecks(): Promise<BenchReport> {
  const runner = new CheckRunner(createCheckRegistry());
  // Sub-millisecond clock, so p50 of a loopback check is not rounded to whole ms.
  const now = () => performance.timeOrigin + performance.now();
  const context = { now, dnsServer: '127.0.0.1:53' };
  const targets = await startTargets();
  try {
    const httpData = JSON.stringify({ url: `http://127.0.0.1:${targets.http}/`, expect_status: 200 });
    const tcpData = JSON.stringify({ address: `127.0.0.1:${targets.tcp}` });
    const viaRunner = (type: string, data: string) => async () => {
      const result = await runner.run(type, data, context);
      return { ok: result.status === 'online', ms: result.durationMs };
    };
    const bearmonHttp = viaRunner('http', httpData);
    const baseline = () => plainGet(targets.http);
    // Diagnostic only: the http check's own run() on pre-parsed params, without the runner.
    const params = httpCheck.schema.parse(JSON.parse(httpData));
    const checkAlone = async () => {
      const begin = performance.now();
      const outcome = await httpCheck.run(params, { ...context, signal: new AbortController().signal });
      return { ok: outcome.status === 'online', ms: performance.now() - begin };
    };
    // Warm up every path (JIT, socket tables) before measuring.
    for (const task of [bearmonHttp, baseline, checkAlone]) await phase(task, PHASE_MS, WARMUP);
    const [checks, plain, alone] = (await interleaved([bearmonHttp, baseline, checkAlone])) as [Phase, Phase, Phase];
    const ratio = perSecond(checks) / perSecond(plain);
    const tcp = await phase(viaRunner('tcp', tcpData), PHASE_MS);
    return {
      name: `checks: http and tcp on loopback, concurrency ${CONCURRENCY}, no keep-alive`,
      method: `Checks through a CheckRunner with the real registry (definition parsed once, as a worker runs them) against a target in a child process; bearmon http, plain http.get and the http check's run() alone measured in alternating ${SLICE_MS} ms slices over ${PHASE_MS / 1000} s each, after a warm-up; then tcp for ${PHASE_MS / 1000} s.`,
      figures: [
        ...figures('http check', checks),
        ...figures('plain http.get', plain, 'requests/s'),
        { label: 'http check / plain http.get', value: round2(ratio), unit: '×', target: `≥ ${RATIO_TARGET}`, pass: ratio >= RATIO_TARGET },
        { label: 'http run() alone (no runner, no parsing) / plain', value: round2(perSecond(alone) / perSecond(plain)), unit: '×' },
        ...figures('tcp check', tcp),
      ],
    };
  } finally {
    targets.child.disconnect();
    if (targets.child.exitCode === null) await once(targets.child, 'exit');
  }
}
