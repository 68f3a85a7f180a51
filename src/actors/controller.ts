import type { NatsConnection } from '@nats-io/transport-node';
import { createCheckRegistry } from '../checks/registry.ts';
import type { Config } from '../config/schema.ts';
import { startController, type AdminNotice } from '../controller/controller.ts';
import { createStore } from '../db/store.ts';
import { createTransitionWriter } from '../db/transition-writer.ts';
import type { Logger } from '../log.ts';

/**
 * The controller role of a worker process: MySQL store, the transition writer and the
 * controller actor, on the worker's NATS connection. Returned as a role the worker process
 * starts after connecting and stops before it drains.
 */
export function controllerRole(config: Config, log: Logger, view = 0, onNotice?: (notice: AdminNotice) => void) {
  return async (nc: NatsConnection) => {
    const registry = createCheckRegistry();
    const store = createStore({ dsns: config.controller.database, log, registry });
    const writer = createTransitionWriter({ store, log, retry: { initialMs: 500, maxMs: 30_000 } });
    const controller = await startController({
      nc,
      id: config.worker.id,
      confirmations: config.controller.confirmations,
      reloadIntervalMs: config.controller.reloadInterval * 1000,
      store,
      writer,
      registry,
      log,
      resultLog: { stream: config.nats.stream, retentionMs: config.nats.retention },
      view,
      onNotice,
    });
    return {
      stop: async () => {
        await controller.stop();
        // Transitions still owed to MySQL get a last chance before the process ends.
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise((resolve) => (timer = setTimeout(resolve, 5000)));
        await Promise.race([writer.drain(), grace]).catch(() => {});
        clearTimeout(timer);
        await writer.stop();
        await store.close();
      },
    };
  };
}
