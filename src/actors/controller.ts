import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { unguessableId } from '../bus/message-id.ts';
import { subject } from '../bus/subjects.ts';
import { createCheckRegistry } from '../checks/registry.ts';
import { natsReplicas, probeSettings, type Config } from '../config/schema.ts';
import { createContactContext, createContactRegistry } from '../contacts/registry.ts';
import type { ContactContext } from '../contacts/types.ts';
import { startController } from '../controller/controller.ts';
import { startStandby, type Standby } from '../controller/standby.ts';
import { createSnapshotStore } from '../controller/snapshot.ts';
import { createAdminNotifier } from '../notices/admin.ts';
import type { AdminNotice } from '../notices/types.ts';
import { createHeldOutbox } from '../db/maintenance-outbox.ts';
import { createOutbox, maintenanceWindows } from '../db/outbox.ts';
import { withPooledConnection } from '../db/sql.ts';
import { occurrenceAt } from '../maintenance/windows.ts';
import type { ControllerStatus } from '../controller/status.ts';
import { createStormOutbox } from '../db/storm-outbox.ts';
import { createReminderStore } from '../db/reminders.ts';
import { createStore, type Store } from '../db/store.ts';
import { createTransitionWriter } from '../db/transition-writer.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { startDelivery, type NotifyEvent } from '../notify/delivery.ts';
import { latencyOf, type HistorySample } from '../history/buckets.ts';
import { createHistoryWriter } from '../history/writer.ts';
import type { DeliveryPolicy } from '../notify/policy.ts';

/** Where the controller role's admin notices go (default: the admin mailer, which also logs them). */
export type NoticeSink = (notice: AdminNotice) => void;

/** The maintenance windows in force now, for `bearmon status`. */
async function maintenanceNow(cluster: Store['cluster']): Promise<NonNullable<ControllerStatus['maintenance']>> {
  const now = new Date();
  const windows = await cluster.run((pool) => withPooledConnection(pool, (c) => maintenanceWindows(c, null, cluster.queryTimeoutMs)));
  return windows.flatMap((w) => {
    const occurrence = occurrenceAt(w, now);
    return occurrence ? [{ name: w.name, checkId: w.checkId, until: occurrence.until.toISOString() }] : [];
  });
}

/** Notification delivery settings from `[controller]`. */
export function deliveryPolicy(config: Config): DeliveryPolicy {
  const c = config.controller;
  return { maxAttempts: c.notifyAttempts, backoffMs: c.notifyBackoff, backoffMaxMs: c.notifyBackoffMax, attemptTimeoutMs: c.notifyTimeout };
}

export interface ControllerRoleOptions {
  view?: number;
  onNotice?: NoticeSink;
  metrics?: Metrics;
  /** The warm standby of this worker process, if it kept one (see src/controller/standby.ts). */
  standby?: Standby;
  /** Replaces parts of the contact context (tests: a local Twilio). */
  contacts?: Partial<Omit<ContactContext, 'smtp' | 'twilio' | 'log'>>;
}

/**
 * The controller role of a worker process: MySQL store, the transition writer, the
 * controller actor and the notification delivery actor, on the worker's NATS connection.
 * Returned as a role the worker process starts after connecting and stops before it drains.
 */
export function controllerRole(config: Config, log: Logger, options: ControllerRoleOptions = {}) {
  const view = options.view ?? 0;
  return async (nc: NatsConnection) => {
    const registry = createCheckRegistry();
    const contactCtx = createContactContext(config, log, options.contacts);
    const notifier = options.onNotice ? undefined : createAdminNotifier({ ctx: contactCtx, log });
    const notice: NoticeSink = options.onNotice ?? ((n) => notifier!.notify(n));
    // Storm grouping ([controller] stormWindow, stormThreshold): first attempts wait the window out.
    const storm = { policy: { windowMs: config.controller.stormWindow, threshold: config.controller.stormThreshold } };
    const store = createStore({
      dsns: config.controller.database,
      owe: { groupWaitMs: storm.policy.threshold > 0 ? storm.policy.windowMs : 0 },
      log,
      registry,
      onOutboxError: (t, error) => {
        log.error({ checkId: t.checkId, key: t.key, error }, 'transition recorded, but its notifications could not be queued');
        notice({ kind: 'outbox-failed', checkId: t.checkId, transitionKey: t.key, error });
      },
    });
    const js = jetstream(nc);
    const publish = (event: NotifyEvent) => {
      const msgID = unguessableId(`notify:${event.notification}:${event.attempt}:${event.outcome}`);
      js.publish(subject.notify(config.worker.id, event.checkId), JSON.stringify({ ...event, view }), { msgID }).catch((err: Error) =>
        log.error({ checkId: event.checkId, error: err.message }, 'could not log a notification event'),
      );
    };
    const outbox = createOutbox(store.cluster);
    const delivery = startDelivery({
      outbox,
      held: createHeldOutbox(store.cluster),
      storm: { ...storm, outbox: createStormOutbox(store.cluster) },
      registry: createContactRegistry(),
      ctx: contactCtx,
      policy: deliveryPolicy(config),
      who: { view, controller: config.worker.id },
      log,
      publish,
      notice,
      metrics: options.metrics,
      reminders: createReminderStore(store.cluster),
    });
    const writer = createTransitionWriter({
      store,
      log,
      retry: { initialMs: 500, maxMs: 30_000 },
      onRecorded: (transition, outcome) => {
        if (outcome === 'written') delivery.wake();
        // Tells a successor (and standbys) that this transition needs no rewrite.
        const event = { type: 'recorded', checkId: transition.checkId, key: transition.key, transitionAt: transition.at.toISOString(), outcome, at: new Date().toISOString(), view };
        js.publish(subject.decision(config.worker.id, transition.checkId), JSON.stringify(event), { msgID: unguessableId(`recorded:${transition.key}`) }).catch((err: Error) =>
          log.warn({ checkId: transition.checkId, error: err.message }, 'could not log that a transition was recorded'),
        );
      },
    });
    const snapshots = config.controller.snapshotInterval > 0 ? createSnapshotStore(nc, config.worker.id) : undefined;
    // Uptime and latency rollups, on the controller's own database cluster (src/history/).
    const history = createHistoryWriter({ cluster: store.cluster, log, metrics: options.metrics });
    const metrics = options.metrics;
    const recordHistory = (sample: HistorySample) => {
      history.record(sample);
      const ms = latencyOf(sample);
      if (ms !== undefined && config.controller.checkDurations) metrics?.checkDuration(sample.worker, sample.checkId, ms / 1000);
    };
    // A controller that fails to start must not leave delivery claiming, the writers or the pools behind.
    const abandon = async () => {
      await history.stop().catch(() => {});
      await writer.stop().catch(() => {});
      await delivery.stop().catch(() => {});
      await store.close().catch(() => {});
    };
    const controller = await startController({
      nc,
      id: config.worker.id,
      confirmations: config.controller.confirmations,
      reloadIntervalMs: config.controller.reloadInterval * 1000,
      store,
      writer,
      registry,
      log,
      resultLog: { stream: config.nats.stream, retentionMs: config.nats.retention, maxBytes: config.nats.maxBytes, replicas: natsReplicas(config.nats) },
      view,
      onNotice: notice,
      standby: options.standby,
      snapshots,
      metrics: options.metrics,
      statusExtras: async () => ({ notifications: await outbox.summary(new Date()), maintenance: await maintenanceNow(store.cluster) }),
      history: { record: recordHistory },
      quarantine: config.controller.quarantine,
      probe: probeSettings(config.controller),
    }).catch(async (err: unknown) => {
      await abandon();
      throw err;
    });
    // Per-check series (bearmon_check_up, bearmon_check_state), read at each scrape.
    metrics?.source('checks', () => ({ perCheck: controller.status().checks.map(({ id, type, state, status, partial }) => ({ id, type, state, status, ...(partial ? { partialDown: partial.down } : {}) })) }));
    // Keeps the stored snapshot fresh: a second fold of the log, from the stream (exact by
    // sequence, which the live controller's fold is not), in the background.
    const keeper = snapshots
      ? startStandby({
          nc,
          stream: config.nats.stream,
          confirmations: config.controller.confirmations,
          log,
          snapshots,
          saveEveryMs: config.controller.snapshotInterval,
          trust: { viewless: view === 0 },
          metrics: options.metrics,
          policy: { quarantine: config.controller.quarantine, probe: probeSettings(config.controller) },
        })
      : undefined;
    return {
      stop: async () => {
        await keeper?.stop();
        metrics?.source('checks', undefined);
        await controller.stop();
        // Transitions still owed to MySQL get a last chance before the process ends.
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise((resolve) => (timer = setTimeout(resolve, 5000)));
        await Promise.race([writer.drain(), grace]).catch(() => {});
        clearTimeout(timer);
        await writer.stop();
        // Rollups still waiting: one last write (bounded by the query timeout).
        await history.stop();
        await delivery.stop();
        await store.close();
        // A notice still being mailed (e.g. the final failure of a notification) is not cut off.
        await notifier?.idle();
      },
    };
  };
}
