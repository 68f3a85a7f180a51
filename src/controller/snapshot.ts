import { createHash, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';
import { headers as natsHeaders, nanos, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager, type MsgRequest, type StoredMsg } from '@nats-io/jetstream';
import { z } from 'zod';
import { decode, viewMessage } from '../bus/messages.ts';
import { lastLoggedView } from '../bus/result-log.ts';
import { PREFIX, subject as subjects, workerToken } from '../bus/subjects.ts';
import { StreamTrust, type TrustOptions, type ViewInForce } from '../bus/trust.ts';
import { ReplayFold } from '../replay/fold.ts';
import { describeIssues } from '../validation.ts';
import { RecentResults, type FoldPolicy, type LogState } from './log-state.ts';

/**
 * Stored snapshots of the log state, so that a process starting cold (a restart of
 * `bearmon worker --controller`, a whole cluster restarting) folds only the records after
 * the snapshot instead of the whole retained log.
 *
 * They live in the stream BEARMON_SNAPSHOTS under subjects that name their writer
 * (SPEC §8): bearmon.snapshot.<writer>.<log stream>.meta, and the gzipped image in parts
 * on bearmon.snapshot.<writer>.<log stream>.<slot>.<part>; each subject keeps its last
 * message, and a writer alternates two slots so that a reader never meets a half-written
 * image. Writing is a plain publish under one's own name: no credential but admin may
 * purge or delete anything. A snapshot is taken only if its writer was the controller of
 * the view in force at the position it holds — checked against the view records in the
 * result log — so a stolen worker credential can at worst store a snapshot nobody reads.
 */
export const SNAPSHOT_STREAM = 'BEARMON_SNAPSHOTS';
export const SNAPSHOT_SUBJECTS = `${PREFIX}.snapshot.>`;
export const SNAPSHOT_MAX_BYTES = 256 * 1024 ** 2;
/** Parts stay under the server's max_payload. */
const PART_BYTES = 60 * 1024;
const VERSION = 2;

export interface SnapshotStore {
  /** The stored state for this stream, or null (none, another stream, other confirmations, unreadable, untrusted writer: said why). */
  load(stream: { name: string; created: string; confirmations: number; trust: TrustOptions; policy?: FoldPolicy }): Promise<{ state: LogState | null; reason: string }>;
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
  // Images from before regions lack these: gobearmon's rule.
  turnRegions: z.array(z.string()).default([]),
  minRegions: z.number().int().min(1).default(1),
  rounds: z.number().int().min(0),
  delay: z.number().int().min(0),
  interval: z.number().positive(),
  confirmations: z.number().int().min(1),
  pendingSince: z.number(),
  evidence: z.array(z.object({ worker: z.string(), status, at: z.number(), message: z.string(), region: z.string().optional() })),
});
const viewInForce = z.object({ view: z.number().int().min(0), controller: z.string().nullable(), seq: z.number().int().min(0) });
const image = z.object({
  version: z.literal(VERSION),
  /** The view in force at `seq`: whose snapshot this may be. */
  view: viewInForce.nullable(),
  stream: z.string(),
  created: z.string(),
  confirmations: z.number().int().min(1),
  seq: z.number().int().min(0),
  records: z.number().int().min(0),
  checks: z.array(
    z.object({
      context,
      // The fifth element (an audit run, the region it was handed out for) is absent in older images.
      outstanding: z.array(z.tuple([z.string(), z.string(), z.number().nullish(), z.number().nullish(), z.object({ audit: z.boolean().optional(), region: z.string().optional() }).nullish()])).optional(),
      views: z.array(z.tuple([z.string(), z.string(), status, z.number(), z.number().int().min(0), z.number()])).optional(),
      partial: z.object({ since: z.number(), down: z.array(z.string()), up: z.array(z.string()) }).optional(),
      overruled: z.array(z.tuple([z.string(), z.number(), status, z.string(), z.string().nullish()])).optional(),
    }),
  ),
  // Faulty-probe windows (quarantine on): a cold take-over keeps every worker's score and flag.
  probes: z
    .array(
      z.object({
        worker: z.string(),
        index: z.array(z.number().nullable()),
        samples: z.array(z.number().int().min(0)),
        contradictions: z.array(z.number().int().min(0)),
        downSamples: z.array(z.number().int().min(0)).optional(),
        downContradictions: z.array(z.number().int().min(0)).optional(),
        newest: z.number().nullable(),
        flaggedSince: z.number().optional(),
      }),
    )
    .optional(),
  probeWindowMs: z.number().positive().optional(),
  owed: z.array(
    z.object({
      checkId: z.number().int().positive(),
      to: status,
      at: z.string(),
      key: z.string().min(1),
      message: z.string().optional(),
      workers: z.array(z.string()).optional(),
      // A partial outage owed (no status change): without it the record would be written as a transition.
      partial: z.object({ phase: z.enum(['began', 'ended']), down: z.array(z.string()), up: z.array(z.string()) }).optional(),
    }),
  ),
});


const meta = z.object({
  version: z.literal(VERSION),
  id: z.string().min(1).max(64),
  stream: z.string(),
  created: z.string(),
  seq: z.number().int().min(0),
  slot: z.enum(['a', 'b']),
  parts: z.number().int().min(1).max(100_000),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  view: viewInForce.nullable(),
});
type Meta = z.output<typeof meta>;

const gzipAsync = promisify(gzip);
const streamToken = (stream: string) => workerToken(stream);
const metaSubject = (writer: string, stream: string) => `${PREFIX}.snapshot.${workerToken(writer)}.${streamToken(stream)}.meta`;
const partSubject = (writer: string, stream: string, slot: string, part: number) => `${PREFIX}.snapshot.${workerToken(writer)}.${streamToken(stream)}.${slot}.${part}`;
/** Writer of a meta subject, or undefined when it is not one. */
const writerOf = (name: string, stream: string) => {
  const parts = name.split('.');
  return parts.length === 5 && parts[0] === PREFIX && parts[1] === 'snapshot' && parts[3] === stream && parts[4] === 'meta' ? parts[2] : undefined;
};

/**
 * Creates the snapshot stream if this credential may (admin, `bearmon setup`); other roles
 * find it there. Each subject keeps only its newest message.
 */
export async function ensureSnapshotStream(jsm: JetStreamManager, replicas = 1): Promise<void> {
  try {
    await jsm.streams.info(SNAPSHOT_STREAM);
  } catch (err) {
    if (!/stream not found/i.test((err as Error).message)) throw err;
    await jsm.streams.add({
      name: SNAPSHOT_STREAM,
      subjects: [SNAPSHOT_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_msgs_per_subject: 1,
      num_replicas: replicas,
      max_msg_size: PART_BYTES + 4096,
      max_age: nanos(30 * 86_400_000),
      // Reserved: a flood into the result log cannot take the snapshots' room, nor they the log's.
      max_bytes: SNAPSHOT_MAX_BYTES,
      max_consumers: 16,
    });
  }
}

/** `writer`: this process's worker id, the name its snapshots are stored under. */
export function createSnapshotStore(nc: NatsConnection, writer: string, resultLogStream?: string): SnapshotStore {
  const js = jetstream(nc);
  let ready: Promise<JetStreamManager> | undefined;
  // Made on first use; a failure is not cached, so the next call tries again.
  const open = () =>
    (ready ??= jetstreamManager(nc)
      .then(async (jsm) => {
        await ensureSnapshotStream(jsm);
        return jsm;
      })
      .catch((err: unknown) => {
        ready = undefined;
        throw err;
      }));
  const lastMeta = async (jsm: JetStreamManager, filter: string) => jsm.streams.getMessage(SNAPSHOT_STREAM, { last_by_subj: filter }).catch(() => null);
  const ownMeta = async (jsm: JetStreamManager, stream: string) => {
    const stored = await lastMeta(jsm, metaSubject(writer, stream));
    const parsed = stored ? meta.safeParse(stored.json()) : undefined;
    return parsed?.success ? parsed.data : undefined;
  };

  return {
    async load(stream) {
      const jsm = await open();
      const logStream = resultLogStream ?? stream.name;
      // The newest snapshot by anyone, else the newest of the controller the log names last.
      const candidates: StoredMsg[] = [];
      const newest = await lastMeta(jsm, `${PREFIX}.snapshot.*.${streamToken(stream.name)}.meta`);
      if (newest) candidates.push(newest);
      const lastView = await lastLoggedView(jsm, logStream);
      if (lastView?.controller && lastView.controller !== writerOf(newest?.subject ?? '', stream.name)) {
        const theirs = await lastMeta(jsm, metaSubject(lastView.controller, stream.name));
        if (theirs) candidates.push(theirs);
      }
      if (candidates.length === 0) return { state: null, reason: 'no snapshot stored' };
      const reasons: string[] = [];
      for (const candidate of candidates) {
        const loaded = await loadOne(jsm, candidate, stream, logStream);
        if (loaded.state) return loaded;
        reasons.push(loaded.reason);
      }
      return { state: null, reason: reasons.join('; ') };
    },
    async save(stream, state) {
      const jsm = await open();
      const seq = state.seq;
      const view = state.trust.view() ?? null;
      // Serialised in one synchronous step, so the fold cannot change under it (~30 ms for
      // 100,000 checks); compressed off the event loop (another ~30 ms there).
      const data = await gzipAsync(
        JSON.stringify({
          version: VERSION,
          view,
          stream: stream.name,
          created: stream.created,
          confirmations: confirmationsOf(state),
          seq,
          records: state.records,
          checks: state.fold.exportImage(),
          ...state.fold.exportExtras(),
          owed: [...state.owed.values()].map((t) => ({ ...t, at: t.at.toISOString() })),
        }),
      );
      const previous = await ownMeta(jsm, stream.name);
      const slot = previous?.slot === 'a' ? 'b' : 'a';
      const id = randomUUID().replaceAll('-', '');
      const parts = Math.max(1, Math.ceil(data.length / PART_BYTES));
      for (let part = 0; part < parts; part++) {
        const h = natsHeaders();
        h.set('Bearmon-Snapshot', id);
        await js.publish(partSubject(writer, stream.name, slot, part), data.subarray(part * PART_BYTES, (part + 1) * PART_BYTES), { headers: h });
      }
      const record: Meta = { version: VERSION, id, stream: stream.name, created: stream.created, seq, slot, parts, bytes: data.length, sha256: sha256(data), view };
      await js.publish(metaSubject(writer, stream.name), JSON.stringify(record));
      return { bytes: data.length, seq };
    },
    async storedSeq(stream) {
      const stored = await ownMeta(await open(), stream.name);
      return stored && stored.created === stream.created ? stored.seq : null;
    },
  };
}

async function loadOne(jsm: JetStreamManager, stored: StoredMsg, stream: { name: string; created: string; confirmations: number; trust: TrustOptions; policy?: FoldPolicy }, logStream: string) {
  const writer = writerOf(stored.subject, stream.name);
  const parsedMeta = meta.safeParse(safeJson(stored.data));
  if (!writer || !parsedMeta.success) return { state: null, reason: `snapshot index on ${stored.subject} unreadable` };
  const m = parsedMeta.data;
  if (m.created !== stream.created) return { state: null, reason: 'snapshot is of an earlier stream of that name' };
  const untrusted = await writerRefusal(jsm, logStream, writer, m, stream.trust);
  if (untrusted) return { state: null, reason: `snapshot by ${writer} not taken: ${untrusted}` };
  const chunks: Uint8Array[] = [];
  for (let part = 0; part < m.parts; part++) {
    const chunk = await jsm.streams.getMessage(SNAPSHOT_STREAM, { last_by_subj: partSubject(writer, stream.name, m.slot, part) }).catch(() => null);
    if (!chunk || chunk.header?.get('Bearmon-Snapshot') !== m.id) return { state: null, reason: `snapshot by ${writer}: part ${part} missing or overwritten` };
    chunks.push(chunk.data);
  }
  const blob = Buffer.concat(chunks);
  if (blob.length !== m.bytes || sha256(blob) !== m.sha256) return { state: null, reason: `snapshot by ${writer}: digest mismatch` };
  return restore(blob, stream, m);
}

/** Why `writer` may not have written a snapshot holding the log up to `m.seq` (undefined: it may). */
async function writerRefusal(jsm: JetStreamManager, logStream: string, writer: string, m: Meta, trust: TrustOptions): Promise<string | undefined> {
  const firstView = await nextViewRecord(jsm, logStream, 1);
  if (!m.view || m.view.view === 0) {
    if (!trust.viewless) return 'it holds no view, and this cluster has a viewserver';
    return firstView && firstView.seq <= m.seq ? `the log holds view ${firstView.view.view} before seq ${m.seq}` : undefined;
  }
  if (m.view.controller !== writer) return `view ${m.view.view} names ${m.view.controller ?? 'no controller'}`;
  const named = await jsm.streams.getMessage(logStream, { seq: m.view.seq }).catch(() => null);
  const decoded = named && named.subject === subjects.view('current') ? decode(viewMessage, named.data) : undefined;
  if (!decoded?.ok || decoded.value.view !== m.view.view || decoded.value.controller !== writer) return `the log holds no view ${m.view.view} naming it at seq ${m.view.seq}`;
  const later = await nextViewRecord(jsm, logStream, m.view.seq + 1);
  if (later && later.seq <= m.seq && later.view.view > m.view.view) return `view ${later.view.view} was in force at seq ${m.seq}`;
  return undefined;
}

async function nextViewRecord(jsm: JetStreamManager, logStream: string, fromSeq: number): Promise<{ seq: number; view: { view: number; controller: string | null } } | undefined> {
  // next_by_subj (the first record on the subject at or after seq) is in the server's API but not in the client's types.
  const request = { seq: fromSeq, next_by_subj: subjects.view('current') } as unknown as MsgRequest;
  const stored = await jsm.streams.getMessage(logStream, request).catch(() => null);
  const decoded = stored ? decode(viewMessage, stored.data) : undefined;
  return stored && decoded?.ok ? { seq: stored.seq, view: decoded.value } : undefined;
}

function restore(blob: Uint8Array, stream: { name: string; created: string; confirmations: number; trust: TrustOptions; policy?: FoldPolicy }, m: Meta): { state: LogState | null; reason: string } {
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
  // The writer was checked against the index's position and view: the image must hold exactly those.
  if (stored.seq !== m.seq || JSON.stringify(stored.view) !== JSON.stringify(m.view)) {
    return { state: null, reason: `snapshot image (seq ${stored.seq}) does not match its index (seq ${m.seq})` };
  }
  const view: ViewInForce | null = m.view;
  const fold = ReplayFold.fromImage({ confirmations: stream.confirmations, ...stream.policy }, stored.checks, { probes: stored.probes, probeWindowMs: stored.probeWindowMs });
  const owed = new Map(stored.owed.map((t) => [t.key, { ...t, at: new Date(t.at) }]));
  const trust = new StreamTrust(stream.trust, view ?? undefined);
  return { state: { fold, seq: stored.seq, owed, recent: new RecentResults(), records: stored.records, created: stored.created, trust }, reason: `snapshot at seq ${stored.seq}` };
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}

function confirmationsOf(state: LogState): number {
  return state.fold.options.confirmations;
}
