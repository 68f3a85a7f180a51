import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config/schema.ts';

export type { NatsConnection };

/** Connects to NATS with the configured servers and credentials; retries forever on loss. */
export function connectBus(nats: Config['nats'], name: string): Promise<NatsConnection> {
  return connect({
    servers: nats.url,
    user: nats.user,
    pass: nats.password,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
}
