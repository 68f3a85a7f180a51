import { jetstream, jetstreamManager, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamClient } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { familyWildcard, LOGGED_FAMILIES } from './subjects.ts';
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
}

export async function ensureResultLog(nc: NatsConnection, options: ResultLogOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const wanted = {
    subjects: LOGGED_FAMILIES.map(familyWildcard),
    max_age: nanos(options.retentionMs),
    duplicate_window: nanos(Math.min(options.duplicateWindowMs ?? 120_000, options.retentionMs)),
  };
  try {
    const info = await jsm.streams.info(options.stream);
    await jsm.streams.update(options.stream, { ...info.config, ...wanted });
  } catch (err) {
    if (!/stream not found/i.test((err as Error).message)) throw err;
    await jsm.streams.add({ name: options.stream, retention: RetentionPolicy.Limits, storage: StorageType.File, ...wanted });
  }
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
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const lastSeq = (await jsm.streams.info(options.stream)).state.last_seq;
  if (lastSeq === 0 || (options.fromSeq ?? 0) > lastSeq) return;
  const consumer = await js.consumers.get(options.stream, startAt(options));
  const messages = await consumer.consume();
  try {
    for await (const m of messages) {
      const time = new Date(Math.floor(m.info.timestampNanos / 1e6));
      if (options.until && time > options.until) break;
      yield { text: m.string(), where: `seq ${m.seq}`, subject: m.subject, time, seq: m.seq };
      if (m.seq >= lastSeq) break;
    }
  } finally {
    await messages.close();
  }
}

function startAt(options: ReadLogOptions) {
  if (options.fromSeq !== undefined && options.fromSeq > 1) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: options.fromSeq };
  if (options.since) return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: options.since.toISOString() };
  return { deliver_policy: DeliverPolicy.All };
}
