/**
 * The controller benchmarks of issue 4, against a private nats-server (the repository's
 * nats.conf, free loopback port, temporary JetStream store) and a throw-away MariaDB
 * database (bearmon_bench_<random>), both removed at the end:
 *
 * 1. detection latency with real workers (bench/controller-latency.ts);
 * 2. scale: 100,000 checks at 60 s on simulated workers (bench/controller-scale.ts);
 * 3. sustained accepted results per second with the result log on (bench/controller-throughput.ts).
 *
 * Each phase starts from an empty result log (the stream is deleted between phases).
 * About 3 minutes in all; a phase that fails is reported as such and the others still run.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { measureDetection } from './controller-latency.ts';
import { measureScale, SCALE_DEFAULTS, type ScaleOptions } from './controller-scale.ts';
import { measureThroughput, THROUGHPUT_DEFAULTS, type ThroughputOptions } from './controller-throughput.ts';
import { createBenchDatabase } from './database.ts';
import { startBenchNats, type NatsLogin } from './nats.ts';
import type { BenchFigure, BenchReport } from './report.ts';

const STREAM = 'BEARMON_BENCH';
const PHASES = ['latency', 'scale', 'throughput'] as const;

export interface ControllerBenchOptions {
  /** Which phases to run (all by default). */
  phases?: readonly (typeof PHASES)[number][];
  outages?: number;
  scale?: Partial<ScaleOptions>;
  throughput?: Partial<ThroughputOptions>;
}

async function deleteStream(login: NatsLogin): Promise<void> {
  const nc = await connect(login);
  try {
    await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => false);
  } finally {
    await nc.close();
  }
}

export async function benchController(options: ControllerBenchOptions = {}): Promise<BenchReport> {
  const phases = new Set(options.phases ?? PHASES);
  const nats = await startBenchNats();
  const db = await createBenchDatabase().catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  const env = { nats: nats.login(), natsLogin: nats.login, natsPid: nats.pid, db, stream: STREAM };
  const figures: BenchFigure[] = [];
  const phase = async (name: (typeof PHASES)[number], run: () => Promise<BenchFigure[]>) => {
    if (!phases.has(name)) return;
    await deleteStream(env.nats);
    const began = performance.now();
    try {
      for (const f of await run()) figures.push({ ...f, label: `${name}: ${f.label}` });
    } catch (err) {
      figures.push({ label: `${name}: failed: ${(err as Error).message}`, value: NaN, unit: '', target: 'runs', pass: false });
    }
    figures.push({ label: `${name}: phase wall time`, value: Math.round((performance.now() - began) / 1000), unit: 's' });
  };
  try {
    await phase('latency', () => measureDetection(env, options.outages));
    await phase('scale', () => measureScale(env, { ...SCALE_DEFAULTS, ...options.scale }));
    await phase('throughput', () => measureThroughput(env, { ...THROUGHPUT_DEFAULTS, ...options.throughput }));
  } finally {
    await deleteStream(env.nats).catch(() => {});
    await db.drop();
    await nats.stop();
  }
  return { name: 'controller: detection latency (C=3, 3 workers), 100,000 checks at 60 s, accepted results/s', figures };
}
