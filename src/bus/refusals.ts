import type { errors, NatsConnection } from '@nats-io/transport-node';
import { PREFIX } from './subjects.ts';

export type PermissionViolation = InstanceType<typeof errors.PermissionViolationError>;

/**
 * Whether a subject is one that only the credential of worker `id` may use: every family
 * names its worker in the token after the family (bearmon.result.<id>.<check>,
 * bearmon.worker.<id>, bearmon.pong.<id>.<nonce>, bearmon.run.<id>.<controller>,
 * bearmon.ping.<id>), and nats.conf grants those to that worker's user alone.
 */
export function isOwnSubject(subject: string, id: string): boolean {
  const tokens = subject.split('.');
  return tokens[0] === PREFIX && tokens[2] === id;
}

export interface RefusalWatch {
  /** Resolves with the first refusal seen on one of the worker's own subjects; never rejects. */
  first: Promise<PermissionViolation>;
  /** The first refusal, once it arrived. */
  seen(): PermissionViolation | undefined;
  /**
   * Resolves once every refusal of what was sent before the call has been seen: nats-server
   * answers a publish or subscription it refuses (-ERR) before the PING that flush() sends.
   */
  settled(): Promise<void>;
  stop(): void;
}

/**
 * Watches the connection for nats-server refusing this worker its own subjects: then its
 * `[worker] id` is not the id its NATS user was made for, and it can neither announce itself
 * nor publish a result. Refused publishes surface only on the status stream (a core publish
 * has no answer), so they are read from there.
 */
export function watchOwnRefusals(nc: NatsConnection, id: string): RefusalWatch {
  let first: PermissionViolation | undefined;
  let resolve!: (err: PermissionViolation) => void;
  const firstPromise = new Promise<PermissionViolation>((r) => (resolve = r));
  const statuses = nc.status();
  void (async () => {
    for await (const status of statuses) {
      // By name, as src/cli/exit-codes.ts does: a second copy of the client would defeat instanceof.
      if (status.type !== 'error' || status.error.name !== 'PermissionViolationError') continue;
      const refusal = status.error as PermissionViolation;
      if (first || !isOwnSubject(refusal.subject, id)) continue;
      first = refusal;
      resolve(first);
    }
  })();
  return {
    first: firstPromise,
    seen: () => first,
    settled: async () => {
      await nc.flush();
      // The status iterator hands the -ERR on through promise jobs, all of which have run
      // before the next turn of the event loop: after it, `seen()` is up to date.
      await new Promise<void>((r) => setImmediate(r));
    },
    // The client's status iterators have stop() (QueuedIterator), which its typings hide.
    stop: () => (statuses as AsyncIterable<unknown> & { stop?: () => void }).stop?.(),
  };
}

/** The one-line explanation of a refusal, naming the worker id, the NATS user and the subject refused. */
export function refusalProblem(id: string, user: string | undefined, refusal: PermissionViolation): string {
  const who = user === undefined ? 'no NATS user ([nats] user is unset and the URL names none)' : `NATS user ${JSON.stringify(user)}`;
  const verb = refusal.operation === 'subscription' ? 'subscribe to' : 'publish to';
  return (
    `[worker] id = ${JSON.stringify(id)}: nats-server does not let ${who} ${verb} ${JSON.stringify(refusal.subject)}, ` +
    `so this worker can neither announce itself nor publish its results (bearmon.result.${id}.*): ` +
    `each worker logs in with the NATS user made for its id (bearmon nats-conf); set [worker] id to that user's worker id, or [nats] user and password to this worker's`
  );
}
