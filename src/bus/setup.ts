import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { openViewBucket, VIEW_BUCKET } from '../actors/viewserver.ts';
import { ensureSnapshotStream, SNAPSHOT_STREAM } from '../controller/snapshot.ts';
import { ensureResultLog, type ResultLogOptions } from './result-log.ts';

/**
 * `bearmon setup`: everything on the NATS side that only admin may make or change (nats.conf
 * gives no other credential those rights) — the result log stream, the snapshot stream and
 * the view's KV bucket, each with `log.replicas` copies ([nats] replicas) on a cluster.
 * Idempotent: what exists with the right settings is left alone.
 */
export async function setupBus(nc: NatsConnection, log: ResultLogOptions): Promise<string[]> {
  const replicas = log.replicas ?? 1;
  const { differences } = await ensureResultLog(nc, log);
  // Roles go on with a stream they may not fix; setup is the one that must fix it.
  if (differences.length > 0) throw new Error(`stream ${log.stream} could not be brought to the settings [nats] asks for: ${differences.join('; ')}`);
  await ensureSnapshotStream(await jetstreamManager(nc), replicas);
  await ensureViewBucket(nc, replicas);
  await openViewBucket(nc);
  const copies = replicas > 1 ? `, ${replicas} replicas` : '';
  return [`stream ${log.stream} (the result log${copies})`, `stream ${SNAPSHOT_STREAM} (log-state snapshots${copies})`, `KV bucket ${VIEW_BUCKET} (the view${copies})`];
}

/** Makes the view's bucket with its replicas when missing (the same settings openViewBucket would give it). */
async function ensureViewBucket(nc: NatsConnection, replicas: number): Promise<void> {
  const kvm = new Kvm(nc);
  try {
    await (await kvm.open(VIEW_BUCKET)).status();
    return;
  } catch (err) {
    if (!/stream not found|bucket not found|not found/i.test((err as Error).message)) throw err;
  }
  await kvm.create(VIEW_BUCKET, { history: 1, max_bytes: 1024 * 1024, replicas });
}
