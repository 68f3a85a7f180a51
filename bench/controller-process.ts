/**
 * The real controller in a process of its own, forked by bench/controller-child.ts, so its
 * CPU time and memory are measured apart from the simulated workers that feed it. It
 * takes its settings as one JSON argument, answers samples over IPC (CPU, RSS, event-loop
 * delay, and optionally how many results reached its connection and how many it
 * rejected), and stops cleanly on request or when the parent goes away.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { z } from 'zod';
import { createCheckRegistry } from '../src/checks/registry.ts';
import { startController } from '../src/controller/controller.ts';
import { createSnapshotStore } from '../src/controller/snapshot.ts';
import { startStandby } from '../src/controller/standby.ts';
import { createStore } from '../src/db/store.ts';
import { createTransitionWriter } from '../src/db/transition-writer.ts';
import { PREFIX } from '../src/bus/subjects.ts';
import type { ChildRequest, ChildReply, ChildSettings } from './controller-child.ts';
import { tallyLogs } from './log-tally.ts';
import { within } from './stats.ts';

const settings = JSON.parse(process.argv[2] ?? '{}') as ChildSettings;
const send = (reply: ChildReply) => process.send?.(reply);

const tally = tallyLogs();
// A rejection nobody handles would end this process (Node's default) and lose the figures:
// it is counted and reported with the log lines instead, as the finding it is.
const unhandled = new Map<string, number>();
process.on('unhandledRejection', (reason) => {
  const key = `unhandled rejection: ${(reason as Error)?.name ?? 'value'}: ${(reason as Error)?.message ?? String(reason)}`;
  unhandled.set(key, (unhandled.get(key) ?? 0) + 1);
});
// The options a real controller connects with (src/bus/connect.ts connectBus): without
// noAsyncTraces every JetStream publish builds an Error with a stack, ~20 % of the
// controller's CPU, which production does not pay — the bench would measure another program.
const nc = await connect({ ...settings.nats, name: `bearmon-bench-controller-${settings.id}`, noAsyncTraces: true });
const registry = createCheckRegistry();
const store = createStore({ dsns: [settings.dsn], log: tally.log, registry });
const writer = createTransitionWriter({ store, log: tally.log, retry: { initialMs: 500, maxMs: 30_000 } });

const decisionType = z.object({ type: z.string() });
const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

// Counting subscriptions sit on the controller's own connection: the server sends it one copy
// per matching subscription, back to back, and the client dispatches them in order to
// synchronous callbacks, so this count follows what the controller's handler was given
// (to within one socket read) — not merely what the workers sent.
const counters = { results: 0, rejected: 0, decisions: {} as Record<string, number> };
if (settings.countResults) {
  nc.subscribe(`${PREFIX}.result.>`, { callback: () => void counters.results++ });
  nc.subscribe(`${PREFIX}.decision.>`, {
    callback: (_err, msg) => {
      const type = decisionType.safeParse(safeJson(msg.string())).data?.type;
      if (type === 'rejected') counters.rejected++;
      if (type !== undefined) counters.decisions[type] = (counters.decisions[type] ?? 0) + 1;
    },
  });
}

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const began = performance.now();
const controller = await startController({
  nc,
  id: settings.id,
  confirmations: settings.confirmations,
  reloadIntervalMs: settings.reloadIntervalMs,
  store,
  writer,
  registry,
  log: tally.log,
  resultLog: { stream: settings.stream, retentionMs: settings.retentionMs },
  ...(settings.quarantine ? { quarantine: settings.quarantine } : {}),
  ...(settings.probe ? { probe: settings.probe } : {}),
});
send({ type: 'ready', startupMs: performance.now() - began });
// As the controller role runs it: a second fold of the stream that stores snapshots.
const snapshotMs = settings.snapshotMs ?? 60_000;
const keeper = snapshotMs > 0
  ? startStandby({ nc, stream: settings.stream, confirmations: settings.confirmations, log: tally.log, snapshots: createSnapshotStore(nc, 'bench'), saveEveryMs: snapshotMs, trust: { viewless: true } })
  : undefined;

const sample = (gc: boolean): ChildReply => {
  if (gc) (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  const reply: ChildReply = {
    type: 'sample',
    at: performance.now(),
    cpuMicros: process.cpuUsage(),
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    ...counters,
    decisions: { ...counters.decisions },
    logs: { ...tally.counts(), ...Object.fromEntries(unhandled) },
    loopDelayMs: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
  };
  loopDelay.reset();
  return reply;
};

/** Each step of a stop is bounded, so a stuck one is named in the reply instead of hanging the bench. */
const STOP_STEP_MS = 10_000;
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  const steps: Record<string, number | string> = {};
  const step = async (name: string, work: () => Promise<unknown>) => {
    const began = performance.now();
    try {
      await within(work(), STOP_STEP_MS, name);
      steps[name] = Math.round(performance.now() - began);
    } catch (err) {
      steps[name] = (err as Error).message;
    }
  };
  await step('keeper.stop', async () => keeper?.stop());
  await step('controller.stop', () => controller.stop());
  await step('writer.stop', () => writer.stop());
  await step('store.close', () => store.close());
  await step('nats drain', () => nc.drain());
  // Disconnect only once the reply is written: the parent waits for it.
  process.send?.({ type: 'stopped', logs: { ...tally.counts(), ...Object.fromEntries(unhandled) }, steps } satisfies ChildReply, () => process.disconnect?.());
};

process.on('message', (request: ChildRequest) => {
  if (request.type === 'sample') send(sample(request.gc === true));
  else if (request.type === 'stop') void stop();
});
// The parent went away without asking: do not linger as an orphan.
process.on('disconnect', () => void stop().finally(() => process.exit(0)));
