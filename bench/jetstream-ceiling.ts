/**
 * How many JetStream publishes per second this machine's nats-server acknowledges from one
 * Node process when nothing else runs: the ceiling under any "results per second with the
 * result log on" figure, since every accepted result costs two logged messages (the
 * controller's assignment and the worker's result). A throw-away stream on its own subject.
 */
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsLogin } from './nats.ts';

const STREAM = 'BEARMON_BENCH_CEILING';
const SUBJECT = 'benchceiling.x';
/** Publishes awaiting their acknowledgement at once: enough to keep the server busy. */
const WINDOW = 1_000;

export async function jetStreamCeiling(login: NatsLogin, ms = 3_000): Promise<number> {
  const nc = await connect({ ...login, name: 'bearmon-bench-ceiling' });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: [SUBJECT], retention: RetentionPolicy.Limits, storage: StorageType.File });
  try {
    const js = jetstream(nc);
    const payload = JSON.stringify({ type: 'result', checkId: 1, worker: 'w1', assignment: 'c.0.x.y', status: 'online', message: 'simulated', durationMs: 0, view: 0, at: new Date().toISOString() });
    let acked = 0;
    let sequence = 0;
    const began = performance.now();
    const end = began + ms;
    const loop = async () => {
      while (performance.now() < end) {
        await js.publish(SUBJECT, payload, { msgID: `ceiling.${sequence++}` });
        acked++;
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, loop));
    return Math.round(acked / ((performance.now() - began) / 1000));
  } finally {
    await jsm.streams.delete(STREAM).catch(() => false);
    await nc.close();
  }
}
