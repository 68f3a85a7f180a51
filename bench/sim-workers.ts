/**
 * Simulated workers for the controller benches: one NATS connection per worker id that
 * heartbeats like a real worker and answers every run request at once with an `online`
 * result, published into the result log exactly as a worker publishes it (JetStream,
 * same subject, same message id). No check is run: what is measured is the controller.
 */
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { buildResult, resultMessageId } from '../src/actors/worker.ts';
import { decode, runRequest, type Heartbeat, type RunRequest } from '../src/bus/messages.ts';
import { subject, wildcard } from '../src/bus/subjects.ts';
import type { NatsLogin } from './nats.ts';

export interface SimWorkerOptions {
  nats: NatsLogin;
  ids: string[];
  /** Announced free capacity: high, so the controller never holds a run back for lack of slots. */
  capacity: number;
  heartbeatMs?: number;
  /** The region a worker announces in its heartbeats and results (undefined: none, the default region). */
  regionOf?: (id: string) => string | undefined;
  /** The verdict a worker gives for a run (default: always online). */
  statusOf?: (id: string, request: RunRequest, now: number) => 'online' | 'offline';
  /** Sees each run request as it arrives (receivedAt: Date.now()). */
  onRequest?: (request: RunRequest, receivedAt: number) => void;
}

export interface SimWorkerStats {
  requests: number;
  malformed: number;
  /** Results the stream acknowledged. */
  published: number;
  publishFailed: number;
  /** Most results waiting for their acknowledgement at one time. */
  maxUnacked: number;
}

export interface SimWorkers {
  stats(): SimWorkerStats;
  stop(): Promise<void>;
}

export async function startSimWorkers(options: SimWorkerOptions): Promise<SimWorkers> {
  const stats: SimWorkerStats = { requests: 0, malformed: 0, published: 0, publishFailed: 0, maxUnacked: 0 };
  let unacked = 0;
  const connections: NatsConnection[] = [];
  const timers: NodeJS.Timeout[] = [];
  for (const id of options.ids) {
    const nc = await connect({ ...options.nats, name: `bearmon-bench-sim-${id}` });
    connections.push(nc);
    const js = jetstream(nc);
    const region = options.regionOf?.(id);
    const place = region !== undefined ? { region } : undefined;
    const answer = (request: RunRequest) => {
      const at = Date.now();
      const status = options.statusOf?.(id, request, at) ?? 'online';
      const result = buildResult(id, request, { status, message: 'simulated', durationMs: 0 }, at, place);
      unacked++;
      stats.maxUnacked = Math.max(stats.maxUnacked, unacked);
      js.publish(subject.result(id, request.checkId), JSON.stringify(result), { msgID: resultMessageId(id, request.assignment) }).then(
        () => void stats.published++,
        () => void stats.publishFailed++,
      ).finally(() => void unacked--);
    };
    nc.subscribe(wildcard.runsFor(id), {
      callback: (_err, msg) => {
        const receivedAt = Date.now();
        const decoded = decode(runRequest, msg.data);
        if (!decoded.ok) return void stats.malformed++;
        stats.requests++;
        options.onRequest?.(decoded.value, receivedAt);
        answer(decoded.value);
      },
    });
    const startedAt = new Date().toISOString();
    const beat = () => {
      const message: Heartbeat = { type: 'heartbeat', worker: id, capacity: options.capacity, running: 0, startedAt, at: new Date().toISOString(), ...place };
      nc.publish(subject.worker(id), JSON.stringify(message));
    };
    beat();
    timers.push(setInterval(beat, options.heartbeatMs ?? 1000));
  }
  await Promise.all(connections.map((nc) => nc.flush()));
  return {
    stats: () => ({ ...stats }),
    stop: async () => {
      for (const timer of timers) clearInterval(timer);
      await Promise.all(connections.map((nc) => nc.drain().catch(() => nc.close())));
    },
  };
}
