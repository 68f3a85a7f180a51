import { setTimeout as sleep } from 'node:timers/promises';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { decode, viewMessage, type ViewMessage } from '../bus/messages.ts';
import { subject } from '../bus/subjects.ts';
import type { Logger } from '../log.ts';
import { showValue } from '../validation.ts';
import { describeRequestError } from './ping-responder.ts';

/**
 * A worker's knowledge of the view: who the controller is, under which view number. Views
 * arrive on bearmon.view.current when the viewserver changes them; at start (and after a
 * reconnect, when a change may have been missed) the follower asks bearmon.view.get until
 * a viewserver answers. A view whose number is not above the last one seen is stale (a
 * delayed message, a forged one, or a duplicate) and is ignored, so onView sees a strictly
 * growing sequence.
 */
export interface FollowViewDeps {
  nc: NatsConnection;
  id: string;
  log: Logger;
  onView(view: ViewMessage): void;
  /** Wait between view requests while no viewserver answers (default 1000 ms). */
  retryMs?: number;
}

export interface ViewFollower {
  stop(): Promise<void>;
  /** The newest view seen, undefined before the first one. */
  current(): ViewMessage | undefined;
}

export const DEFAULT_VIEW_RETRY_MS = 1000;

export function followView(deps: FollowViewDeps): ViewFollower {
  const log = deps.log.child({ worker: deps.id });
  const retryMs = deps.retryMs ?? DEFAULT_VIEW_RETRY_MS;
  const stopping = new AbortController();
  let latest: ViewMessage | undefined;

  const accept = (view: ViewMessage, source: 'published' | 'requested') => {
    if (stopping.signal.aborted) return;
    if (latest && view.view <= latest.view) {
      // Equal is the ordinary race between a request's answer and a publish; lower is not.
      if (view.view < latest.view) log.warn({ view: view.view, controller: view.controller, current: latest.view, source }, 'ignored a view older than the current one');
      return;
    }
    latest = view;
    log.info({ view: view.view, controller: view.controller, isController: view.controller === deps.id, source }, 'new view');
    try {
      deps.onView(view);
    } catch (err) {
      log.error({ view: view.view, err: (err as Error)?.message ?? String(err) }, 'view handler failed');
    }
  };

  const onPublished = (err: Error | null, msg: Msg) => {
    if (err) return log.error({ subject: msg?.subject, err: err.message }, 'view subscription failed');
    const decoded = decode(viewMessage, msg.data);
    if (!decoded.ok) return log.warn({ subject: msg.subject, error: decoded.error, payload: showValue(msg.string(), 200) }, `dropped a bad view message: ${decoded.error}`);
    accept(decoded.value, 'published');
  };
  // Subscribed before the first request, so no change can fall between the two.
  const subscription = deps.nc.subscribe(subject.view('current'), { callback: onPublished });

  let asking: Promise<void> | undefined;
  const askSoon = () => {
    asking ??= askUntilAnswered({ ...deps, log, retryMs, signal: stopping.signal, accept }).finally(() => (asking = undefined));
  };
  askSoon();

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

interface AskDeps {
  nc: NatsConnection;
  log: Logger;
  retryMs: number;
  signal: AbortSignal;
  accept(view: ViewMessage, source: 'requested'): void;
}

/** Requests the current view until some viewserver answers with a valid one. */
async function askUntilAnswered(deps: AskDeps): Promise<void> {
  let reported = false;
  while (!deps.signal.aborted) {
    const started = Date.now();
    const problem = await askOnce(deps);
    if (problem === undefined) return;
    // One line per outage is enough: the viewserver may simply start later than workers.
    if (!reported) deps.log.info({ problem, retryMs: deps.retryMs }, 'no view from a viewserver yet; asking again every retry period');
    reported = true;
    const wait = deps.retryMs - (Date.now() - started);
    if (wait > 0) await sleep(wait, undefined, { signal: deps.signal }).catch(() => {});
  }
}

/** One view request: undefined when a view was accepted, else what went wrong. */
async function askOnce(deps: AskDeps): Promise<string | undefined> {
  let msg: Msg;
  try {
    msg = await deps.nc.request(subject.view('get'), '', { timeout: deps.retryMs });
  } catch (err) {
    return describeRequestError(err);
  }
  const decoded = decode(viewMessage, msg.data);
  if (!decoded.ok) {
    deps.log.warn({ error: decoded.error, payload: showValue(msg.string(), 200) }, `bad answer to a view request: ${decoded.error}`);
    return `bad answer: ${decoded.error}`;
  }
  deps.accept(decoded.value, 'requested');
  return undefined;
}
