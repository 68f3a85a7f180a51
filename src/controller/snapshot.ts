import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { ReplayFold } from '../replay/fold.ts';
import { describeIssues } from '../validation.ts';
import { RecentResults, type LogState } from './log-state.ts';

/**
 * Stored snapshots of the log state, so that a process starting cold (a restart of
 * `bearmon worker --controller`, a whole cluster restarting) folds only the records after
 * the snapshot instead of the whole retained log. Kept in a JetStream object store next to
 * the log; one object per result-log stream, tied to that stream's creation time.
 */
export const SNAPSHOT_BUCKET = 'bearmon_snapshots';
const VERSION = 1;

export interface SnapshotStore {
  /** The stored state for this stream, or null (none, another stream, other confirmations, unreadable: said why). */
  load(stream: { name: string; created: string; confirmations: number }): Promise<{ state: LogState | null; reason: string }>;
  /** Stores the state; `seq` is the position the stored snapshot holds (the state may move on meanwhile). */
  save(stream: { name: string; created: string }, state: LogState): Promise<{ bytes: number; seq: number }>;
  /** Sequence of the stored snapshot, without reading it (null: none). */
  storedSeq(stream: { name: string; created: string }): Promise<number | null>;
}

const status = z.enum(['online', 'offline']);
const context = z.object({
  checkId: z.number().int().positive(),
  status,
  turn: z.array(z.string()),
  rounds: z.number().int().min(0),
  delay: z.number().int().min(0),
  interval: z.number().positive(),
  confirmations: z.number().int().min(1),
  pendingSince: z.number(),
  evidence: z.array(z.object({ worker: z.string(), status, at: z.number(), message: z.string() })),
});
const image = z.object({
  version: z.literal(VERSION),
  stream: z.string(),
  created: z.string(),
  confirmations: z.number().int().min(1),
  seq: z.number().int().min(0),
  records: z.number().int().min(0),
  checks: z.array(z.object({ context, outstanding: z.array(z.tuple([z.string(), z.string()])).optional() })),
  owed: z.array(
    z.object({
      checkId: z.number().int().positive(),
      to: status,
      at: z.string(),
      key: z.string().min(1),
      message: z.string().optional(),
      workers: z.array(z.string()).optional(),
    }),
  ),
});

const objectName = (stream: string) => `log-state.${stream}`;
const gzipAsync = promisify(gzip);

export function createSnapshotStore(nc: NatsConnection): SnapshotStore {
  let bucket: Promise<ObjectStore> | undefined;
  // Created on first use; a failure is not cached, so the next call tries again.
  const open = () =>
    (bucket ??= new Objm(nc).create(SNAPSHOT_BUCKET, { description: 'bearmon log-state snapshots' }).catch((err: unknown) => {
      bucket = undefined;
      throw err;
    }));

  return {
    async load(stream) {
      const os = await open();
      const blob = await os.getBlob(objectName(stream.name));
      if (!blob) return { state: null, reason: 'no snapshot stored' };
      let json: unknown;
      try {
        json = JSON.parse(gunzipSync(blob).toString('utf8'));
      } catch (err) {
        return { state: null, reason: `snapshot unreadable: ${(err as Error).message}` };
      }
      const parsed = image.safeParse(json);
      if (!parsed.success) return { state: null, reason: `snapshot invalid: ${describeIssues(parsed.error)}` };
      const stored = parsed.data;
      if (stored.created !== stream.created) return { state: null, reason: 'snapshot is of an earlier stream of that name' };
      if (stored.confirmations !== stream.confirmations) return { state: null, reason: `snapshot was folded with confirmations ${stored.confirmations}, not ${stream.confirmations}` };
      const fold = ReplayFold.fromImage({ confirmations: stream.confirmations }, stored.checks);
      const owed = new Map(stored.owed.map((t) => [t.key, { ...t, at: new Date(t.at) }]));
      return { state: { fold, seq: stored.seq, owed, recent: new RecentResults(), records: stored.records, created: stored.created }, reason: `snapshot at seq ${stored.seq}` };
    },
    async save(stream, state) {
      const os = await open();
      const seq = state.seq;
      // Serialised in one synchronous step, so the fold cannot change under it (~30 ms for
      // 100,000 checks); compressed off the event loop (another ~30 ms there).
      const data = await gzipAsync(
        JSON.stringify({
          version: VERSION,
          stream: stream.name,
          created: stream.created,
          confirmations: confirmationsOf(state),
          seq,
          records: state.records,
          checks: state.fold.exportImage(),
          owed: [...state.owed.values()].map((t) => ({ ...t, at: t.at.toISOString() })),
        }),
      );
      await os.putBlob({ name: objectName(stream.name), metadata: { seq: String(seq), created: stream.created } }, data);
      return { bytes: data.length, seq };
    },
    async storedSeq(stream) {
      const info = await (await open()).info(objectName(stream.name));
      if (!info || info.deleted || info.metadata?.created !== stream.created) return null;
      const seq = Number(info.metadata?.seq);
      return Number.isInteger(seq) ? seq : null;
    },
  };
}

function confirmationsOf(state: LogState): number {
  return state.fold.options.confirmations;
}
