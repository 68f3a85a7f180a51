import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerConfig, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';

/**
 * Reads a stream in order, without gaps, with nothing but read rights.
 *
 * The library's ordered consumer names its consumers, and a credential allowed to create
 * named consumers may create durable ones too. This reader creates each consumer through
 * the legacy ephemeral API (`$JS.API.CONSUMER.CREATE.<stream>`, no name), where the server
 * refuses a durable name, so nats.conf can grant readers exactly that subject (SPEC §8).
 * Ephemeral consumers vanish after `inactive_threshold`; with no acks a lost delivery is
 * seen as a jump in the consumer's delivery sequence, and the reader starts a fresh
 * consumer after the last record it yielded (what the ordered consumer does).
 */
export interface StreamStart {
  /** First stream sequence wanted (default: the stream's first). */
  seq?: number;
  /** Or: the first record stored at or after this time. */
  since?: Date;
}

const INACTIVE_MS = 30_000;

export class StreamReader {
  private messages: ConsumerMessages | undefined;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    private readonly start: StreamStart = {},
  ) {}

  /** The records in stream order. Ends when closed; throws when the stream or consumer is gone. */
  async *records(): AsyncGenerator<JsMsg> {
    let next = this.start.seq !== undefined && this.start.seq > 1 ? this.start.seq : undefined;
    while (!this.closed) {
      const consumer = await this.consumer(next === undefined ? deliverFrom(this.start) : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next });
      // Closed while the consumer was being made: nothing more.
      if (this.closed) return;
      this.messages = await consumer.consume({ max_messages: 1024, abort_on_missing_resource: true });
      let expected = 1;
      let gap = false;
      for await (const m of this.messages) {
        if (m.info.deliverySequence !== expected) {
          gap = true;
          break;
        }
        expected += 1;
        next = m.seq + 1;
        yield m;
      }
      await this.messages.close().catch(() => {});
      if (this.closed) return;
      if (!gap) throw new Error(`stream ${this.stream}: the consumer stopped delivering (stream or consumer gone)`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.messages?.close().catch(() => {});
  }

  private async consumer(from: Partial<ConsumerConfig>) {
    const jsm = await jetstreamManager(this.nc);
    // No name, no durable_name: the server takes this as an ephemeral consumer on the legacy subject.
    const info = await jsm.consumers.add(this.stream, {
      ack_policy: AckPolicy.None,
      inactive_threshold: nanos(INACTIVE_MS),
      mem_storage: true,
      num_replicas: 1,
      ...from,
    });
    return jetstream(this.nc).consumers.get(this.stream, info.name);
  }
}

function deliverFrom(start: StreamStart): Partial<ConsumerConfig> {
  if (start.since) return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.since.toISOString() };
  return { deliver_policy: DeliverPolicy.All };
}
