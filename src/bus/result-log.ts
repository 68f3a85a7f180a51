import { jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { decode, viewMessage, type ViewMessage } from './messages.ts';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { familyWildcard, LOGGED_FAMILIES, subject } from './subjects.ts';
import { StreamReader } from './stream-reader.ts';
import type { LogRecord } from '../replay/run.ts';

/**
 * The result log: a JetStream stream holding every result, check configuration,
 * derived fact and notification outcome under `bearmon.`. Publishing with a message id
 * makes a re-sent event (a retry after a lost ack, a controller fail-over) a no-op within
 * the duplicate window.
 */
export interface ResultLogOptions {
  stream: string;
  retentionMs: number;
  /** Window in which a repeated message id is dropped by the server. */
  duplicateWindowMs?: number;
  /** Storage reserved for the log; when full, its oldest events go (0 or absent: no limit). */
  maxBytes?: number;
  /** Copies the stream is made with on a cluster ([nats] replicas; default 1). */
  replicas?: number;
}

/** The largest record the log stores (a run's result is at most ~5 KB, a transition's evidence a few); larger ones are refused by the server. */
export const MAX_RECORD_BYTES = 64 * 1024;

/** The subjects the log keeps: every logged family and the views (so a fold knows which controller was in force). */
export const RESULT_LOG_SUBJECTS = [...LOGGED_FAMILIES.map(familyWildcard), subject.view('current')];

/** The stream's settings bearmon needs (the rest is left as found). */
export function resultLogConfig(options: ResultLogOptions): Pick<StreamConfig, 'subjects' | 'max_age' | 'duplicate_window' | 'max_msg_size' | 'max_consumers'> & { max_bytes?: number } {
  return {
    subjects: RESULT_LOG_SUBJECTS,
    max_age: nanos(options.retentionMs),
    duplicate_window: nanos(Math.min(options.duplicateWindowMs ?? 120_000, options.retentionMs)),
    max_msg_size: MAX_RECORD_BYTES,
    // Unset: whatever the stream has (an operator's own limit is not taken away).
    ...(options.maxBytes === undefined ? {} : { max_bytes: options.maxBytes === 0 ? -1 : options.maxBytes }),
    // Readers make ephemeral consumers; a bound keeps one credential from making thousands.
    max_consumers: MAX_CONSUMERS,
  };
}

/** Consumers the log allows at once: a standby per worker, take-overs, operators' reads. */
export const MAX_CONSUMERS = 256;

export class ResultLogSetupError extends Error {}

/**
 * Makes sure the stream exists with bearmon's settings. Only `admin` may create or change
 * streams (nats.conf): a role without those rights fails on a missing stream (saying to run
 * `bearmon setup` with the admin credentials), and on a stream with other settings goes on
 * with it — monitoring must not stop over a retention setting — returning what differs,
 * for the caller to log.
 */
export async function ensureResultLog(nc: NatsConnection, options: ResultLogOptions): Promise<{ differences: string[] }> {
  const jsm = await jetstreamManager(nc);
  const wanted = resultLogConfig(options);
  let info;
  try {
    info = await jsm.streams.info(options.stream);
  } catch (err) {
    if (!/stream not found/i.test((err as Error).message)) throw err;
    await jsm.streams
      .add({ name: options.stream, retention: RetentionPolicy.Limits, storage: StorageType.File, num_replicas: options.replicas ?? 1, ...wanted })
      .catch((e: Error) => rethrowSetup(e, `stream ${options.stream} does not exist`));
    return { differences: [] };
  }
  const differences = differingSettings(info.config, wanted);
  if (differences.length === 0) return { differences };
  try {
    // The server refuses to change max_consumers on an existing stream: it stays as made.
    const { max_consumers: _fixed, ...changeable } = wanted;
    await jsm.streams.update(options.stream, { ...info.config, ...changeable });
    return { differences: [] };
  } catch (err) {
    // Not ours to change (a role's credential) or not changeable: monitoring goes on with it.
    return { differences: [...differences, `not updated: ${(err as Error).message}`] };
  }
}

function differingSettings(config: StreamConfig, wanted: ReturnType<typeof resultLogConfig>): string[] {
  const differences: string[] = [];
  const missing = wanted.subjects!.filter((s) => !config.subjects.includes(s));
  if (missing.length > 0) differences.push(`subjects lack ${missing.join(', ')}`);
  if (config.max_age !== wanted.max_age) differences.push(`max_age ${config.max_age / 1e9}s, not ${wanted.max_age! / 1e9}s`);
  if (config.duplicate_window !== wanted.duplicate_window) differences.push(`duplicate_window ${config.duplicate_window / 1e9}s, not ${wanted.duplicate_window! / 1e9}s`);
  if (config.max_msg_size !== wanted.max_msg_size) differences.push(`max_msg_size ${config.max_msg_size}, not ${wanted.max_msg_size}`);
  if (wanted.max_bytes !== undefined && config.max_bytes !== wanted.max_bytes) differences.push(`max_bytes ${config.max_bytes}, not ${wanted.max_bytes}`);

  return differences;
}

const isPermissionError = (err: Error) => /permissions violation|authorization/i.test(err.message) || err.name === 'PermissionViolationError';

function rethrowSetup(err: Error, what: string): never {
  // One server holds one bearmon log: another stream already takes these subjects.
  if (/subjects overlap/i.test(err.message)) {
    throw new ResultLogSetupError(`${what} and cannot be made: another stream on this server already keeps bearmon's subjects (${RESULT_LOG_SUBJECTS.join(', ')}); use that stream's name in [nats] stream, or delete it (${err.message})`);
  }
  if (isPermissionError(err)) {
    throw new ResultLogSetupError(`${what}, and this credential may not change streams: run \`bearmon setup\` with the admin credentials (${err.message})`);
  }
  throw err;
}

/** The newest view record the log holds (undefined: none, or the stream cannot be read). */
export async function lastLoggedView(jsm: JetStreamManager, stream: string): Promise<ViewMessage | undefined> {
  const stored = await jsm.streams.getMessage(stream, { last_by_subj: subject.view('current') }).catch(() => null);
  const decoded = stored ? decode(viewMessage, stored.data) : undefined;
  return decoded?.ok ? decoded.value : undefined;
}

/** Publishes one log event; resolves once the stream has stored it (or knew the id). */
export async function publishLogged(js: JetStreamClient, subject: string, event: object, msgID: string): Promise<void> {
  await js.publish(subject, JSON.stringify(event), { msgID });
}

export interface ReadLogOptions {
  stream: string;
  since?: Date;
  until?: Date;
  /** Start at this stream sequence (a standby's position + 1). */
  fromSeq?: number;
}

/**
 * Reads the stream from `since` (or the start) up to what it held when reading began,
 * or `until`, in order. Each record's `where` is its stream sequence.
 */
export async function* readLog(nc: NatsConnection, options: ReadLogOptions): AsyncGenerator<LogRecord & { subject: string; time: Date; seq: number }> {
  const jsm = await jetstreamManager(nc);
  const lastSeq = (await jsm.streams.info(options.stream)).state.last_seq;
  if (lastSeq === 0 || (options.fromSeq ?? 0) > lastSeq) return;
  const reader = new StreamReader(nc, options.stream, options.fromSeq !== undefined && options.fromSeq > 1 ? { seq: options.fromSeq } : { since: options.since });
  try {
    for await (const m of reader.records()) {
      const time = new Date(Math.floor(m.info.timestampNanos / 1e6));
      if (options.until && time > options.until) break;
      yield { text: m.string(), where: `seq ${m.seq}`, subject: m.subject, time, seq: m.seq };
      if (m.seq >= lastSeq) break;
    }
  } finally {
    await reader.close();
  }
}
