/**
 * Regions and faulty-probe scoring (issue 17): the controller's CPU per accepted result
 * with both on, next to both off, in the same run.
 *
 * off: quarantine 'off', 6 simulated workers naming no region (every result in the default
 *      region), every check min_regions 1 — the behaviour before issue 17.
 * on:  quarantine 'exclude' (default probe policy), the same 6 workers announcing 3 regions
 *      (2 each), every check min_regions 2.
 *
 * Both arms get the same verdict mix from the simulated workers (the workers' physical
 * region decides it, whether or not they announce it): mostly online; 2 % of checks are
 * down from one region (ap-south) 20 s out of every 40 s (partial outages, and in the off
 * arm rounds cancelled by the other workers); 0.4 % of checks are down everywhere 15 s out
 * of every 30 s (transitions both ways, written to MySQL); one worker (us-east-2) says
 * offline on 3 % of its runs at random (rounds cancelled, contradictions scored — too few
 * to flag it). The real controller runs in a child process, as in `throughput`, at a fixed
 * offered load (checks at 1 s, well under capacity), a fresh controller and empty result
 * log per probe; the arms alternate (off, on, off, on, …) so machine noise falls on both
 * alike, and medians are reported. Accepted results = results that reached the
 * controller's connection minus the ones it rejected, as in `throughput`.
 *
 * Second figure, the decision core alone: the result log recorded by the first 'on' probe
 * is read back and folded by ReplayFold.apply as recorded with quarantine 'exclude', and
 * the same lines with region and minRegions stripped with quarantine 'off', alternately,
 * in this process: wall time per result the fold accepted.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { RunRequest } from '../src/bus/messages.ts';
import { StreamReader } from '../src/bus/stream-reader.ts';
import type { QuarantineMode } from '../src/decide/probe-score.ts';
import { parseLine, type InputLine } from '../src/log/lines.ts';
import { ReplayFold } from '../src/replay/fold.ts';
import { forkController, type ChildSample } from './controller-child.ts';
import { createBenchDatabase, type BenchCheck } from './database.ts';
import { cpuMicrosMs, machineCpuMs } from './proc-cpu.ts';
import { deleteStream, startBenchNats, type NatsLogin } from './nats.ts';
import { logFigures } from './log-tally.ts';
import type { BenchFigure, BenchReport } from './report.ts';
import { startSimWorkers } from './sim-workers.ts';
import { percentile, round1, sleep } from './stats.ts';

export interface RegionsOptions {
  /** Checks at 1 s: the offered load in results/s. */
  checks: number;
  /** Probes per arm (off and on alternate). */
  rounds: number;
  settleMs: number;
  windowMs: number;
  /** Passes of the fold over the recorded log, per arm. */
  foldRounds: number;
}

export const REGIONS_DEFAULTS: RegionsOptions = { checks: 2_000, rounds: 5, settleMs: 4_000, windowMs: 8_000, foldRounds: 21 };
export const REGIONS_QUICK: RegionsOptions = { checks: 300, rounds: 1, settleMs: 2_000, windowMs: 3_000, foldRounds: 2 };

const TARGET_RATIO = 1.1;
const STREAM = 'BEARMON_BENCH_REGIONS';
const CONFIRMATIONS = 2;
/** Worker id → its physical region (announced only in the 'on' arm). */
const WORKERS: Record<string, string> = {
  'rg-1': 'eu-west',
  'rg-2': 'eu-west',
  'rg-3': 'us-east',
  'rg-4': 'us-east',
  'rg-5': 'ap-south',
  'rg-6': 'ap-south',
};
const FLAKY_WORKER = 'rg-4';

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return (h >>> 0) / 4294967296;
}

/** The verdict mix, the same in both arms (see the header). */
export function verdictOf(worker: string, request: RunRequest, now: number): 'online' | 'offline' {
  const id = request.checkId;
  if (id % 250 === 7 && Math.floor(now / 15_000 + id / 250) % 2 === 1) return 'offline';
  if (id % 50 === 3 && WORKERS[worker] === 'ap-south' && Math.floor(now / 20_000 + id / 50) % 2 === 1) return 'offline';
  if (worker === FLAKY_WORKER && hash(request.assignment) < 0.03) return 'offline';
  return 'online';
}

function* checksOf(count: number, minRegions: number): Generator<BenchCheck> {
  const data = JSON.stringify({ address: '127.0.0.1:9' });
  for (let i = 1; i <= count; i++) yield { name: `regions ${i}`, type: 'tcp', data, interval: 1, delay: 1, minRegions };
}

type Arm = 'off' | 'on';

interface Probe {
  arm: Arm;
  accepted: number;
  cpuPerResult: number;
  controllerCpu: number;
  machineBusy: number;
  decisions: Record<string, number>;
  logs: Record<string, number>;
}

/** Every input line of the stream, in order (results dated by the stream's clock as a standby does). */
async function readLog(login: NatsLogin, stream: string): Promise<InputLine[]> {
  const nc = await connect({ ...login, name: 'bearmon-bench-regions-reader' });
  try {
    const last = (await (await jetstreamManager(nc)).streams.info(stream)).state.last_seq;
    const lines: InputLine[] = [];
    if (last === 0) return lines;
    const reader = new StreamReader(nc, stream);
    for await (const m of reader.records()) {
      const parsed = parseLine(m.string());
      if (parsed.ok && parsed.line) {
        if (parsed.line.type === 'result') parsed.line.receivedAt = Math.floor(m.info.timestampNanos / 1e6);
        lines.push(parsed.line);
      }
      if (m.seq >= last) break;
    }
    await reader.close();
    return lines;
  } finally {
    await nc.close();
  }
}

/** The same lines as a pre-regions log: no region on results, no minRegions on checks. */
function withoutRegions(lines: readonly InputLine[]): InputLine[] {
  return lines.map((line) => {
    if (line.type === 'result' && line.region !== undefined) {
      const { region: _region, site: _site, ...rest } = line as typeof line & { site?: string };
      return rest as InputLine;
    }
    if (line.type === 'check' && line.minRegions !== undefined) {
      const { minRegions: _minRegions, ...rest } = line;
      return rest as InputLine;
    }
    return line;
  });
}

function foldOnce(lines: readonly InputLine[], quarantine: QuarantineMode): { ms: number; accepted: number; derived: Record<string, number> } {
  const fold = new ReplayFold({ confirmations: CONFIRMATIONS, quarantine });
  const derived: Record<string, number> = {};
  let results = 0;
  const began = performance.now();
  for (const line of lines) {
    if (line.type === 'result') results++;
    for (const out of fold.apply(line).lines) derived[out.type] = (derived[out.type] ?? 0) + 1;
  }
  const ms = performance.now() - began;
  return { ms, accepted: results - (derived.rejected ?? 0), derived };
}

const median = (values: number[]) => percentile(values, 50);
const tally = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

export async function benchRegions(options: RegionsOptions = REGIONS_DEFAULTS): Promise<BenchReport[]> {
  const nats = await startBenchNats();
  const db = await createBenchDatabase().catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  const login = nats.login();
  const probes: Probe[] = [];
  const logs: Record<string, number> = {};
  let recorded: InputLine[] | undefined;
  const probe = async (arm: Arm): Promise<Probe> => {
    await deleteStream(login, STREAM);
    await db.replaceChecks(checksOf(options.checks, arm === 'on' ? 2 : 1));
    const sims = await startSimWorkers({
      nats: login,
      ids: Object.keys(WORKERS),
      capacity: 100_000,
      statusOf: verdictOf,
      ...(arm === 'on' ? { regionOf: (id: string) => WORKERS[id] } : {}),
    });
    try {
      const child = await forkController({
        nats: login,
        dsn: db.dsn,
        id: 'rg-ctl',
        confirmations: CONFIRMATIONS,
        reloadIntervalMs: 60_000,
        stream: STREAM,
        retentionMs: 3_600_000,
        countResults: true,
        snapshotMs: 0,
        ...(arm === 'on' ? { quarantine: 'exclude' as const } : {}),
      });
      let result: Probe;
      try {
        await sleep(options.settleMs);
        const machineBefore = await machineCpuMs();
        const before: ChildSample = await child.sample();
        await sleep(options.windowMs);
        const after: ChildSample = await child.sample();
        const machineAfter = await machineCpuMs();
        const seconds = (after.at - before.at) / 1000;
        const acceptedCount = after.results - after.rejected - (before.results - before.rejected);
        const cpuMs = cpuMicrosMs(after.cpuMicros) - cpuMicrosMs(before.cpuMicros);
        const decisions: Record<string, number> = {};
        for (const [type, count] of Object.entries(after.decisions)) decisions[type] = count - (before.decisions[type] ?? 0);
        result = {
          arm,
          accepted: Math.round(acceptedCount / seconds),
          cpuPerResult: acceptedCount > 0 ? round1((cpuMs * 1000) / acceptedCount) : NaN,
          controllerCpu: round1(cpuMs / seconds / 10),
          machineBusy: machineBefore && machineAfter ? round1(((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * 100) : NaN,
          decisions,
          logs: after.logs,
        };
        for (const [line, count] of Object.entries(after.logs)) {
          // One line per partial outage would bury the rest: they are counted together.
          const key = `${arm}: ${line.replace(/check \d+ is partially down: .*/, 'check N is partially down (any check, any regions)')}`;
          logs[key] = (logs[key] ?? 0) + count;
        }
      } finally {
        const atStop = await child.stop();
        for (const [line, count] of Object.entries(atStop)) if (line.startsWith('stop:')) logs[`${arm}: ${line}`] = (logs[`${arm}: ${line}`] ?? 0) + count;
      }
      if (arm === 'on' && !recorded) recorded = await readLog(login, STREAM);
      probes.push(result);
      return result;
    } finally {
      await sims.stop();
    }
  };

  try {
    for (let round = 0; round < options.rounds; round++) {
      await probe('off');
      await probe('on');
    }
  } finally {
    await deleteStream(login, STREAM).catch(() => {});
    await db.drop();
    await nats.stop();
  }

  // --- the controller -------------------------------------------------------------------
  const off = probes.filter((p) => p.arm === 'off');
  const on = probes.filter((p) => p.arm === 'on');
  const offCpu = median(off.map((p) => p.cpuPerResult));
  const onCpu = median(on.map((p) => p.cpuPerResult));
  const ratio = Math.round((onCpu / offCpu) * 1000) / 1000;
  const controllerFigures: BenchFigure[] = [
    { label: `off: controller CPU per accepted result, median of ${off.length} probes (${off.map((p) => p.cpuPerResult).join(' / ')})`, value: offCpu, unit: 'µs', n: off.length },
    { label: `on: controller CPU per accepted result, median of ${on.length} probes (${on.map((p) => p.cpuPerResult).join(' / ')})`, value: onCpu, unit: 'µs', n: on.length },
    { label: 'on / off, controller CPU per accepted result', value: ratio, unit: '×', target: `≤ ${TARGET_RATIO}`, pass: ratio <= TARGET_RATIO },
    ...probes.map((p, i) => ({
      label: `probe ${i + 1} (${p.arm}): ${p.cpuPerResult} µs/result; controller ${p.controllerCpu} % of a core; machine ${p.machineBusy} % busy; decision lines: ${tally(p.decisions)}`,
      value: p.accepted,
      unit: 'accepted/s',
    })),
    ...logFigures('controller', logs),
  ];

  // --- the fold alone ---------------------------------------------------------------------
  const foldFigures: BenchFigure[] = [];
  if (recorded) {
    const asRecorded = recorded;
    const stripped = withoutRegions(recorded);
    // Warm-up: one pass each, so both arms run optimised code.
    foldOnce(stripped, 'off');
    foldOnce(asRecorded, 'exclude');
    const runs: Record<Arm, ReturnType<typeof foldOnce>[]> = { off: [], on: [] };
    for (let i = 0; i < options.foldRounds; i++) {
      runs.off.push(foldOnce(stripped, 'off'));
      runs.on.push(foldOnce(asRecorded, 'exclude'));
    }
    const perResult = (r: ReturnType<typeof foldOnce>) => Math.round(((r.ms * 1000) / r.accepted) * 100) / 100;
    const foldOff = median(runs.off.map(perResult));
    const foldOn = median(runs.on.map(perResult));
    const results = recorded.filter((l) => l.type === 'result').length;
    foldFigures.push(
      { label: `off (regions stripped, quarantine off): fold time per accepted result, median of ${options.foldRounds} (${runs.off.map(perResult).join(' / ')}); derived: ${tally(runs.off[0]!.derived)}`, value: foldOff, unit: 'µs', n: options.foldRounds },
      { label: `on (3 regions, min_regions 2, quarantine exclude): the same, median of ${options.foldRounds} (${runs.on.map(perResult).join(' / ')}); derived: ${tally(runs.on[0]!.derived)}`, value: foldOn, unit: 'µs', n: options.foldRounds },
      { label: 'on / off, fold alone (no target of its own)', value: Math.round((foldOn / foldOff) * 1000) / 1000, unit: '×' },
      { label: `log folded: lines (results ${results}; accepted off / on ${runs.off[0]!.accepted} / ${runs.on[0]!.accepted})`, value: recorded.length, unit: 'lines' },
    );
  } else {
    foldFigures.push({ label: 'failed: no log recorded by an on probe', value: NaN, unit: '', target: 'runs', pass: false });
  }

  return [
    {
      name: `regions: controller CPU per accepted result, regions + scoring on / off (${options.checks.toLocaleString('en')} checks at 1 s, 6 simulated workers)`,
      method: `Real controller in a child process, fresh controller and empty log per probe, ${options.settleMs / 1000} s settling + ${options.windowMs / 1000} s window; ${options.rounds} rounds of off, on alternated; medians.`,
      figures: controllerFigures,
    },
    {
      name: 'regions: the fold alone (ReplayFold.apply over the log of the first on probe)',
      method: `The same lines folded as recorded (quarantine exclude) and with region / minRegions stripped (quarantine off), ${options.foldRounds} passes each alternated after one warm-up pass each; wall time in this process.`,
      figures: foldFigures,
    },
  ];
}
