import { setTimeout as sleep } from 'node:timers/promises';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { decode, viewMessage, type ViewMessage } from '../bus/messages.ts';
import { subject } from '../bus/subjects.ts';
import type { Logger } from '../log.ts';
import { showValue } from '../validation.ts';

/**
 * A worker's knowledge of the view: who the controller is, under which view number. Views
 * come only on bearmon.view.current, which nats.conf lets nobody but the viewserver
 * publish (SPEC §8): a reply to a request could come from anyone who learned the inbox, so
 * at start (and after a reconnect, when a change may have been missed) the follower only
 * *asks* on bearmon.view.get, and the viewserver says the view again on
 * bearmon.view.current. A view whose number is not above the last one seen is stale (a
 * delayed message or a repeat) and is ignored, so onView sees a strictly growing sequence.
 */
export interface FollowViewDeps {
  nc: NatsConnection;
  id: string;
  log: Logger;
  onView(view: ViewMessage): void;
  /** Wait between view requests while no view has arrived (default 1000 ms). */
  retryMs?: number;
}

export interface ViewFollower {
  stop(): Promise<void>;
  /** The newest view seen, undefined before the first one. */
  current(): ViewMessage | undefined;
}

export const DEFAULT_VIEW_RETRY_MS = 1000;
/** A view is three short fields; anything larger is not one. */
const MAX_VIEW_BYTES = 1024;
const VIEW_SUBJECT = subject.view('current');

export function followView(deps: FollowViewDeps): ViewFollower {
  const log = deps.log.child({ worker: deps.id });
  const retryMs = deps.retryMs ?? DEFAULT_VIEW_RETRY_MS;
  const stopping = new AbortController();
  let latest: ViewMessage | undefined;
  let arrived: (() => void) | undefined;

  const accept = (view: ViewMessage) => {
    if (stopping.signal.aborted) return;
    arrived?.();
    if (latest && view.view <= latest.view) {
      // Equal is the viewserver saying the view again; lower is a delayed message.
      if (view.view < latest.view) log.warn({ view: view.view, controller: view.controller, current: latest.view }, 'ignored a view older than the current one');
      return;
    }
    latest = view;
    log.info({ view: view.view, controller: view.controller, isController: view.controller === deps.id }, 'new view');
    try {
      deps.onView(view);
    } catch (err) {
      log.error({ view: view.view, err: (err as Error)?.message ?? String(err) }, 'view handler failed');
    }
  };

  const onPublished = (err: Error | null, msg: Msg) => {
    if (err) return log.error({ subject: msg?.subject, err: err.message }, 'view subscription failed');
    // A JetStream consumer can deliver stored messages here, but they keep their own subject.
    if (msg.subject !== VIEW_SUBJECT) return log.warn({ subject: msg.subject }, 'dropped a message delivered on the view subject but published elsewhere');
    if (msg.data.length > MAX_VIEW_BYTES) return log.warn({ subject: msg.subject, bytes: msg.data.length }, 'dropped an oversized view message');
    const decoded = decode(viewMessage, msg.data);
    if (!decoded.ok) return log.warn({ subject: msg.subject, error: decoded.error, payload: showValue(msg.string(), 200) }, `dropped a bad view message: ${decoded.error}`);
    accept(decoded.value);
  };
  // Subscribed before the first request, so no answer can fall before it.
  const subscription = deps.nc.subscribe(subject.view('current'), { callback: onPublished });

  /** Asks every retryMs until some view arrives (the viewserver may start after the workers). */
  let asking: Promise<void> | undefined;
  const askSoon = () => {
    asking ??= (async () => {
      let reported = false;
      let answered = false;
      while (!stopping.signal.aborted && !answered) {
        const wait = new Promise<void>((resolve) => (arrived = resolve));
        try {
          deps.nc.publish(subject.view('get'));
        } catch (err) {
          log.debug({ err: (err as Error).message }, 'could not ask for the view');
        }
        answered = await Promise.race([wait.then(() => true), sleep(retryMs, false, { signal: stopping.signal }).catch(() => false)]);
        // One line per outage is enough: the viewserver may simply start later than workers.
        if (!answered && !reported && !stopping.signal.aborted) log.info({ retryMs }, 'no view from a viewserver yet; asking again every retry period');
        reported = true;
      }
      arrived = undefined;
    })().finally(() => (asking = undefined));
  };
  void subscribed(deps.nc).then(askSoon);

  const statuses = deps.nc.status();
  void (async () => {
    for await (const status of statuses) if (status.type === 'reconnect') askSoon();
  })().catch(() => {});

  return {
    stop: async () => {
      stopping.abort();
      subscription.unsubscribe();
      (statuses as Partial<{ stop(): void }>).stop?.();
    },
    current: () => latest,
  };
}

/** The subscription reaches the server before the first question (a flush), so the answer cannot overtake it. */
async function subscribed(nc: NatsConnection): Promise<void> {
  await nc.flush().catch(() => {});
}
