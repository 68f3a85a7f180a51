/**
 * The controller benchmarks of issue 4, against a private nats-server (the repository's
 * nats.conf, free loopback port, temporary JetStream store) and a throw-away MariaDB
 * database (bearmon_bench_<random>), both removed at the end:
 *
 * 1. detection latency with real workers (bench/controller-latency.ts);
 * 2. scale: 100,000 checks at 60 s on simulated workers (bench/controller-scale.ts);
 * 3. accepted results per second with the result log on, by capacity search (bench/controller-throughput.ts).
 *
 * Each phase starts from an empty result log (the stream is deleted between phases) and
 * gives its own report. About 4-5 minutes in all; a phase that fails is reported as such
 * and the others still run.
 */
import { measureDetection } from './controller-latency.ts';
import { measureScale, SCALE_DEFAULTS, SCALE_QUICK, type ScaleOptions } from './controller-scale.ts';
import { measureThroughput, THROUGHPUT_DEFAULTS, THROUGHPUT_QUICK, type ThroughputOptions } from './controller-throughput.ts';
import { createBenchDatabase } from './database.ts';
import { deleteStream, startBenchNats } from './nats.ts';
import type { BenchFigure, BenchReport } from './report.ts';

const STREAM = 'BEARMON_BENCH';
export const CONTROLLER_PHASES = ['latency', 'scale', 'throughput'] as const;
export type ControllerPhase = (typeof CONTROLLER_PHASES)[number];

export interface ControllerBenchOptions {
  /** Which phases to run (all by default). */
  phases?: readonly ControllerPhase[];
  /** Smaller sizes, for checking that the benches run (not for figures). */
  quick?: boolean;
  outages?: number;
  scale?: Partial<ScaleOptions>;
  throughput?: Partial<ThroughputOptions>;
}

export async function benchController(options: ControllerBenchOptions = {}): Promise<BenchReport[]> {
  const phases = new Set(options.phases ?? CONTROLLER_PHASES);
  const scale = { ...(options.quick ? SCALE_QUICK : SCALE_DEFAULTS), ...options.scale };
  const throughput = { ...(options.quick ? THROUGHPUT_QUICK : THROUGHPUT_DEFAULTS), ...options.throughput };
  const outages = options.outages ?? (options.quick ? 3 : 10);
  const nats = await startBenchNats();
  const db = await createBenchDatabase().catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  const env = { nats: nats.login(), natsLogin: nats.login, natsPid: nats.pid, db, stream: STREAM };
  const reports: BenchReport[] = [];
  const phase = async (name: ControllerPhase, title: string, method: string, run: () => Promise<BenchFigure[]>) => {
    if (!phases.has(name)) return;
    await deleteStream(env.nats, STREAM);
    const began = performance.now();
    const figures: BenchFigure[] = [];
    try {
      figures.push(...(await run()));
    } catch (err) {
      figures.push({ label: `failed: ${(err as Error).message}`, value: NaN, unit: '', target: 'runs', pass: false });
    }
    figures.push({ label: 'phase wall time', value: Math.round((performance.now() - began) / 1000), unit: 's' });
    reports.push({ name: `controller ${name}: ${title}`, method, figures });
  };
  try {
    await phase(
      'latency',
      `detection latency, C=3, 3 workers, interval 1 s, delay 1, ${outages} outages`,
      'A real controller and 3 real workers in the bench process, one http check of a loopback target switched to 503 and back; the transition committed to MySQL is timed against its deciding result and the rule floor.',
      () => measureDetection(env, outages),
    );
    await phase(
      'scale',
      `${scale.checks.toLocaleString('en')} checks at ${scale.intervalS} s, 4 simulated workers, controller in its own process`,
      `Lateness against the due time the controller logs in each assign line, over a ${scale.windowMs / 1000} s window after the controller is ready.`,
      () => measureScale(env, scale),
    );
    await phase(
      'throughput',
      'accepted results/s with the result log on (capacity search)',
      `Checks at 1 s answered at once by 4 simulated workers; each probe a fresh controller and empty log, ${throughput.settleMs / 1000} s settling + ${throughput.windowMs / 1000} s window; doubling then bisection to within ${throughput.tolerance * 100} %.`,
      () => measureThroughput(env, throughput),
    );
  } finally {
    await deleteStream(env.nats, STREAM).catch(() => {});
    await db.drop();
    await nats.stop();
  }
  return reports;
}
