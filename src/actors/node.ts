import type { NatsConnection } from '@nats-io/transport-node';
import type { ViewMessage } from '../bus/messages.ts';
import { probeSettings, type Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { startStandby, type Standby } from '../controller/standby.ts';
import { createSnapshotStore } from '../controller/snapshot.ts';
import { controllerRole } from './controller.ts';
import { busOptions } from '../bus/connect.ts';
import { startLivenessThread } from './ping-responder.ts';
import { followView } from './view-follower.ts';
import type { ExtraRole, WorkerHandle } from './worker.ts';

type Running = { view: number; stop(): Promise<void> };

/**
 * A worker process under a viewserver: answers its pings, follows the view, and acts as
 * controller exactly while the newest view names it — starting (rebuilding from the log)
 * when named, stepping down the moment a newer view names another. Role changes run one
 * at a time, in view order.
 */
export function viewRole(config: Config, log: Logger, metrics?: Metrics): ExtraRole {
  return async (nc: NatsConnection, worker: WorkerHandle) => {
    const id = config.worker.id;
    // Pings are answered by a thread of their own: a busy main loop is late, not dead.
    const pings = await startLivenessThread({ nc, id, startedAt: new Date().toISOString(), canControl: true, log, connection: busOptions(config.nats) });
    let running: Running | undefined;
    let chain = Promise.resolve();
    const snapshots = config.controller.snapshotInterval > 0 ? createSnapshotStore(nc, id) : undefined;
    // Under a viewserver a controller's lines count only after the view naming it (never viewless).
    const newStandby = () => startStandby({
        nc,
        stream: config.nats.stream,
        confirmations: config.controller.confirmations,
        log,
        snapshots,
        trust: { viewless: false },
        metrics,
        policy: { quarantine: config.controller.quarantine, probe: probeSettings(config.controller) },
      });
    // Folds the result log while another worker controls, so taking over reads only its tail.
    let standby: Standby | undefined = newStandby();
    const apply = async (view: ViewMessage) => {
      const named = view.controller === id;
      if (running && (!named || running.view !== view.view)) {
        log.info({ worker: id, view: view.view, controller: view.controller }, 'stepping down as controller: a newer view');
        await running.stop();
        running = undefined;
        // The fold went to the controller that stopped: follow the log afresh.
        standby = newStandby();
      }
      if (named && !running) {
        log.info({ worker: id, view: view.view }, 'named controller by the view');
        const handed = standby;
        standby = undefined;
        try {
          running = { view: view.view, ...(await controllerRole(config, log, { view: view.view, standby: handed, metrics })(nc)) };
        } catch (err) {
          // The hand-over may not have happened: that standby must not keep running beside a new one.
          await handed?.stop().catch(() => {});
          standby = newStandby();
          throw err;
        }
      }
    };
    const follower = followView({
      nc,
      id,
      log,
      onView: (view) => {
        // At once, not behind a role change in progress: the new controller's requests may follow right away.
        worker.observeView(view);
        chain = chain.then(() => apply(view)).catch((err: Error) => log.error({ err: err.message, view: view.view }, 'could not change role'));
      },
    });
    return {
      stop: async () => {
        await follower.stop();
        await pings.stop();
        await chain;
        await standby?.stop();
        await running?.stop();
      },
    };
  };
}
