import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../log.ts';
import { unguessableId } from './message-id.ts';

/**
 * Publishes events to the result log with a bounded number awaiting JetStream's
 * acknowledgement: a start-up with 100,000 checks would otherwise fire 100,000 publishes
 * at once and time them all out. Order is kept; a failed publish is logged, not retried
 * (the message id makes a later re-send by a successor harmless).
 */
export function createLogPublisher(js: JetStreamClient, log: Logger, maxInFlight = 512): (subject: string, event: object, msgID: string) => void {
  const queue: [string, string, string][] = [];
  let head = 0;
  let inFlight = 0;
  const pump = () => {
    while (inFlight < maxInFlight && head < queue.length) {
      const [name, data, msgID] = queue[head++]!;
      inFlight += 1;
      js.publish(name, data, { msgID: unguessableId(msgID) })
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
