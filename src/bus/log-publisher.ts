import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../log.ts';
import { unguessableId } from './message-id.ts';

/**
 * Publishes events to the result log with a bounded number awaiting JetStream's
 * acknowledgement: a start-up with 100,000 checks would otherwise fire 100,000 publishes
 * at once and time them all out. A publish the stream could not take for a while — no
 * stream leader during a NATS cluster's election after a server died, a reconnect — is
 * tried again under the same message id (the stream drops a copy it already has) for up to
 * RETRY_FOR_MS, well inside the duplicate window; then, or on a refusal (permissions, size),
 * it is logged and dropped (the message id makes a later re-send by a successor harmless).
 * A retried event can land after later ones.
 */
export const RETRY_FOR_MS = 60_000;

const refused = (err: Error) => /permission|authorization|maximum payload|message size|exceeds/i.test(err.message) || err.name === 'PermissionViolationError';
const closed = (err: Error) => /connection closed|CONNECTION_CLOSED|closed/i.test(err.message) && !/timeout/i.test(err.message);

export function createLogPublisher(js: JetStreamClient, log: Logger, maxInFlight = 512, retryForMs = RETRY_FOR_MS): (subject: string, event: object, msgID: string) => void {
  const queue: [string, string, string][] = [];
  let head = 0;
  let inFlight = 0;
  const publish = async (name: string, data: string, msgID: string) => {
    const id = unguessableId(msgID);
    const giveUpAt = Date.now() + retryForMs;
    for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
      try {
        await js.publish(name, data, { msgID: id });
        return;
      } catch (err) {
        const e = err as Error;
        if (refused(e) || closed(e) || Date.now() + wait > giveUpAt) throw e;
        log.warn({ err: e.message, subject: name }, 'the result log did not take an event; trying again under its message id');
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  };
  const pump = () => {
    while (inFlight < maxInFlight && head < queue.length) {
      const [name, data, msgID] = queue[head++]!;
      inFlight += 1;
      publish(name, data, msgID)
        .catch((err: Error) => log.error({ err: err.message, subject: name }, 'could not write to the result log'))
        .finally(() => {
          inFlight -= 1;
          pump();
        });
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
  };
  return (subject, event, msgID) => {
    queue.push([subject, JSON.stringify(event), msgID]);
    pump();
  };
}
