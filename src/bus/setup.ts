import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { openViewBucket, VIEW_BUCKET } from '../actors/viewserver.ts';
import { ensureSnapshotStream, SNAPSHOT_STREAM } from '../controller/snapshot.ts';
import { ensureResultLog, type ResultLogOptions } from './result-log.ts';

/**
 * `bearmon setup`: everything on the NATS side that only admin may make or change (nats.conf
 * gives no other credential those rights) — the result log stream, the snapshot stream and
 * the view's KV bucket. Idempotent: what exists with the right settings is left alone.
 */
export async function setupBus(nc: NatsConnection, log: ResultLogOptions): Promise<string[]> {
  const { differences } = await ensureResultLog(nc, log);
  // Roles go on with a stream they may not fix; setup is the one that must fix it.
  if (differences.length > 0) throw new Error(`stream ${log.stream} could not be brought to the settings [nats] asks for: ${differences.join('; ')}`);
  await ensureSnapshotStream(await jetstreamManager(nc));
  await openViewBucket(nc);
  return [`stream ${log.stream} (the result log)`, `stream ${SNAPSHOT_STREAM} (log-state snapshots)`, `KV bucket ${VIEW_BUCKET} (the view)`];
}
