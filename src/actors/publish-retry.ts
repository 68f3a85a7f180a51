import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../log.ts';

/**
 * Publishing into the result log can fail for a while (the stream is not created yet, the
 * NATS server restarts). A result is worth a few retries, but not an unbounded backlog:
 * after `attempts` tries it is dropped with an error line, and the controller, seeing no
 * result for its assignment, runs the check again elsewhere.
 */
export interface RetryPolicy {
  attempts: number;
  /** Wait before the second attempt; doubles each time, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 4000 };

export interface LoggedPublish {
  subject: string;
  payload: string;
  /** JetStream message id: a retry after a lost ack is stored once. */
  msgID: string;
  /** Fields for the log lines about this publish (checkId, assignment, ...). */
  context: Record<string, unknown>;
}

/**
 * Publishes with bounded retries. Never rejects: resolves true when the stream stored the
 * message (or already had it), false when it gave up or `signal` (shutdown) cut a wait short.
 */
export async function publishWithRetry(js: JetStreamClient, publish: LoggedPublish, policy: RetryPolicy, log: Logger, signal: AbortSignal): Promise<boolean> {
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    try {
      await js.publish(publish.subject, publish.payload, { msgID: publish.msgID });
      return true;
    } catch (err) {
      const last = attempt === policy.attempts;
      log.error(
        { ...publish.context, subject: publish.subject, attempt, attempts: policy.attempts, err: (err as Error).message },
        last ? 'publishing the result failed; giving up, the result is lost' : 'publishing the result failed; will retry',
      );
      if (last) return false;
      const delay = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      if (!(await sleep(delay, signal))) {
        log.warn({ ...publish.context, subject: publish.subject }, 'worker stopping: result not published');
        return false;
      }
    }
  }
  return false;
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
