/**
 * The result log replicated: accepted (acknowledged) result-sized events per second through
 * bearmon's log publisher (src/bus/log-publisher.ts, the controller's, with its in-flight
 * bound) into a stream of three replicas and into one of one replica, on the same
 * three-server NATS cluster on loopback in the same run (the servers from
 * test/helpers/nats-cluster.ts: the repository's users and permissions plus a cluster block).
 */
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { natsOptions } from '../src/bus/connect.ts';
import { createLogPublisher } from '../src/bus/log-publisher.ts';
import { createLogger } from '../src/log.ts';
import { startNatsCluster } from '../test/helpers/nats-cluster.ts';
import type { BenchReport } from './report.ts';

/** The controller's bound on publishes awaiting their ack (src/controller/controller.ts MAX_LOG_IN_FLIGHT). */
const IN_FLIGHT = 512;

export async function benchReplicated(events = 30_000): Promise<BenchReport> {
  const cluster = await startNatsCluster(3);
  const nc = await connect({ ...natsOptions(cluster.urls), name: 'bearmon-bench-replicated' });
  try {
    const jsm = await jetstreamManager(nc);
    const rate = async (replicas: number) => {
      const name = `BENCH_R${replicas}`;
      const subjects = [`benchr${replicas}.>`];
      await jsm.streams.add({ name, subjects, retention: RetentionPolicy.Limits, storage: StorageType.File, num_replicas: replicas, duplicate_window: 120e9 });
      try {
        const js = jetstream(nc);
        let acked = 0;
        let done: () => void = () => {};
        const finished = new Promise<void>((resolve) => (done = resolve));
        const counting = {
          publish: (...args: Parameters<JetStreamClient['publish']>) =>
            js.publish(...args).then((ack) => {
              if (++acked === events) done();
              return ack;
            }),
        } as unknown as JetStreamClient;
        const publish = createLogPublisher(counting, createLogger({ level: 'error', pretty: false }), IN_FLIGHT);
        const at = new Date().toISOString();
        const began = performance.now();
        for (let i = 0; i < events; i++) {
          publish(`benchr${replicas}.result.w1.${(i % 1000) + 1}`, { type: 'result', checkId: (i % 1000) + 1, worker: 'w1', assignment: `c.${i}.x.y`, status: 'online', message: 'simulated', durationMs: 3, view: 1, at }, `r${replicas}.${i}`);
        }
        await finished;
        return Math.round(events / ((performance.now() - began) / 1000));
      } finally {
        await jsm.streams.delete(name).catch(() => false);
      }
    };
    // Warm-up, then each figure: R1 and R3 alternate so that a machine busy for a while weighs on both.
    await rate(1);
    const r1 = [await rate(1)];
    const r3 = [await rate(3)];
    r1.push(await rate(1));
    r3.push(await rate(3));
    const best = (xs: number[]) => Math.max(...xs);
    return {
      name: 'replicated',
      method: `${events.toLocaleString('en')} result-sized events published through bearmon's log publisher (${IN_FLIGHT} awaiting their ack), counted when JetStream acknowledges; one stream with 3 replicas and one with 1 on the same 3-server loopback cluster, best of two runs each, alternated. A JetStream publish-ack throughput, not the controller's (bench throughput).`,
      figures: [
        { label: 'accepted events/s, 1 replica', value: best(r1), unit: 'events/s' },
        { label: 'accepted events/s, 3 replicas', value: best(r3), unit: 'events/s' },
        { label: '3 replicas / 1 replica', value: Math.round((best(r3) / best(r1)) * 100) / 100, unit: 'ratio' },
      ],
    };
  } finally {
    await nc.close();
    await cluster.stop();
  }
}
