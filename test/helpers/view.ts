import { headers, type NatsConnection } from '@nats-io/transport-node';
import { ensureResultLog } from '../../src/bus/result-log.ts';
import { subject } from '../../src/bus/subjects.ts';
import type { WorkerHandle } from '../../src/actors/worker.ts';

/**
 * What the viewserver does when it names a controller, for tests that run actors in
 * process: the view goes on bearmon.view.current (so the result log holds it, and readers
 * of the log take that controller's lines), and in-process workers learn it at once.
 * Needs a connection that may publish the view (admin or viewserver).
 */
export async function announceView(
  nc: NatsConnection,
  options: { stream: string; view: number; controller: string | null; workers?: Iterable<WorkerHandle> },
): Promise<void> {
  await ensureResultLog(nc, { stream: options.stream, retentionMs: 3_600_000 });
  const h = headers();
  h.set('Nats-Msg-Id', `view-${options.view}`);
  nc.publish(subject.view('current'), JSON.stringify({ type: 'view', view: options.view, controller: options.controller, at: new Date().toISOString() }), { headers: h });
  await nc.flush();
  for (const worker of options.workers ?? []) worker.observeView({ view: options.view, controller: options.controller });
}
