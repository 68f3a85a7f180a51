/**
 * Take-over time against the size of the result log: how long a newly named controller
 * needs before it runs (rebuild from the log + reload from MySQL), cold (folding the whole
 * log, as before the standby existed, and as `--controller` or a fresh process still does),
 * from a stored snapshot (tail only), and warm (a standby that followed the log hands over
 * its fold). Measured at two sizes of the log (it is filled, measured, filled on to 4× and
 * measured again), so "flat in log size" is a comparison, not a single point. The log holds
 * synthetic events for CHECKS checks (assignments and their results), as a busy cluster
 * writes them.
 */
import { Writable } from 'node:stream';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { ensureResultLog } from '../src/bus/result-log.ts';
import { subject } from '../src/bus/subjects.ts';
import { createCheckRegistry } from '../src/checks/registry.ts';
import { startController } from '../src/controller/controller.ts';
import { startStandby } from '../src/controller/standby.ts';
import { createSnapshotStore, type SnapshotStore } from '../src/controller/snapshot.ts';
import { createStore } from '../src/db/store.ts';
import { createTransitionWriter } from '../src/db/transition-writer.ts';
import { createLogger } from '../src/log.ts';
import { createBenchDatabase } from './database.ts';
import { startBenchNats } from './nats.ts';
import type { BenchFigure, BenchReport } from './report.ts';
import { round1 } from './stats.ts';

const CHECKS = 1_000;
/** Log sizes (events) at which take-over is measured; the second is 4× the first. */
export const TAKEOVER_SIZES = [100_000, 400_000];
export const TAKEOVER_QUICK_SIZES = [20_000, 80_000];
const STREAM = 'BEARMON_TAKEOVER';
const WORKERS = ['w1', 'w2', 'w3'];
const WARM_TARGET_MS = 1_000;

interface AtSize {
  events: number;
  cold: number;
  coldWithSnapshot: number;
  warm: number;
  catchUpRate: number;
  fromSnapshotMs: number;
  snapshotBytes: number;
}

export async function benchTakeover(sizes = TAKEOVER_SIZES): Promise<BenchReport> {
  const nats = await startBenchNats();
  const db = await createBenchDatabase();
  const login = nats.login();
  const nc = await connect({ servers: login.servers, user: login.user, pass: login.pass });
  const log = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, done) => done() }) });
  const registry = createCheckRegistry();
  try {
    await db.replaceChecks(Array.from({ length: CHECKS }, (_, i) => ({ name: `c${i}`, type: 'tcp', data: JSON.stringify({ address: '127.0.0.1:9' }), interval: 60, delay: 1 })));
    await ensureResultLog(nc, { stream: STREAM, retentionMs: 86_400_000 });

    const takeOver = async (standby?: ReturnType<typeof startStandby>, snapshots?: SnapshotStore) => {
      const store = createStore({ dsns: [db.dsn], log, registry });
      const writer = createTransitionWriter({ store, log, retry: { initialMs: 100, maxMs: 1000 } });
      const began = performance.now();
      const controller = await startController({
        nc, id: 'bench', confirmations: 2, reloadIntervalMs: 3_600_000, store, writer, registry, log,
        resultLog: { stream: STREAM, retentionMs: 86_400_000 }, standby, snapshots,
      });
      const ms = performance.now() - began;
      await controller.stop();
      await writer.stop();
      await store.close();
      return ms;
    };
    const waitCaughtUp = async (standby: ReturnType<typeof startStandby>) => {
      const last = (await (await jetstreamManager(nc)).streams.info(STREAM)).state.last_seq;
      while (standby.progress().seq < last) await new Promise((resolve) => setTimeout(resolve, 20));
    };

    const measured: AtSize[] = [];
    let filled = 0;
    let fillMs = 0;
    for (const size of sizes) {
      fillMs += await fillLog(nc, filled, size);
      filled = size;
      const events = (await (await jetstreamManager(nc)).streams.info(STREAM)).state.messages;
      const cold = await takeOver();

      const followBegan = performance.now();
      const first = startStandby({ nc, stream: STREAM, confirmations: 2, log, retryMs: 100, trust: VIEWLESS });
      await waitCaughtUp(first);
      const caughtUpMs = performance.now() - followBegan;

      // A snapshot of everything so far, as the controller process's keeper stores it.
      const snapshots = createSnapshotStore(nc, CONTROLLER);
      const created = (await (await jetstreamManager(nc)).streams.info(STREAM)).created;
      const { bytes } = await snapshots.save({ name: STREAM, created }, await first.handOver());
      const coldWithSnapshot = await takeOver(undefined, snapshots);

      const restartBegan = performance.now();
      const second = startStandby({ nc, stream: STREAM, confirmations: 2, log, retryMs: 100, snapshots, trust: VIEWLESS });
      await waitCaughtUp(second);
      const fromSnapshotMs = performance.now() - restartBegan;
      const warm = await takeOver(second);
      measured.push({ events, cold, coldWithSnapshot, warm, catchUpRate: Math.round(events / (caughtUpMs / 1000)), fromSnapshotMs, snapshotBytes: bytes });
    }

    const figures: BenchFigure[] = [{ label: 'filling the log (JetStream publishes acknowledged)', value: Math.round(filled / (fillMs / 1000)), unit: 'events/s' }];
    for (const m of measured) {
      const at = `${m.events.toLocaleString('en')} events`;
      figures.push(
        { label: `${at}: cold take-over (fold the whole log, then reload)`, value: round1(m.cold), unit: 'ms' },
        { label: `${at}: cold take-over from a stored snapshot (tail only)`, value: round1(m.coldWithSnapshot), unit: 'ms' },
        { label: `${at}: warm take-over (standby hands over, tail only)`, value: round1(m.warm), unit: 'ms', target: `≤ ${WARM_TARGET_MS}`, pass: m.warm <= WARM_TARGET_MS },
        { label: `${at}: standby catching up from the start (in the background)`, value: m.catchUpRate, unit: 'events/s' },
        { label: `${at}: standby started from the snapshot, caught up`, value: round1(m.fromSnapshotMs), unit: 'ms' },
        { label: `${at}: snapshot size (gzip JSON)`, value: m.snapshotBytes, unit: 'bytes' },
      );
    }
    if (measured.length >= 2) {
      const [small, large] = [measured[0]!, measured[measured.length - 1]!];
      const coldGrowth = large.cold - small.cold;
      const warmGrowth = large.warm - small.warm;
      // "Flat": the warm take-over grows by less than a tenth of what folding the whole log grows by.
      const flat = warmGrowth <= 0.1 * Math.max(coldGrowth, 0);
      figures.push(
        { label: `growth from ${small.events.toLocaleString('en')} to ${large.events.toLocaleString('en')} events: cold take-over`, value: round1(coldGrowth), unit: 'ms' },
        { label: 'growth over the same: warm take-over (flat = under a tenth of the cold growth)', value: round1(warmGrowth), unit: 'ms', target: 'flat in log size (own goal)', pass: flat },
      );
    }
    return {
      name: `controller take-over against the size of the result log (${CHECKS} checks; ${sizes.map((n) => n.toLocaleString('en')).join(' and ')} synthetic events)`,
      method: 'startController timed from the call to ready (rebuild + reload from MySQL), in the bench process, against a private nats-server; the log is filled with assign + result pairs round-robin over the checks and 3 workers.',
      figures,
    };
  } finally {
    await nc.close();
    await nats.stop();
    await db.drop();
  }
}

/** The log is written as a single controller without a viewserver (view 0) writes it. */
const CONTROLLER = 'bench';
const VIEWLESS = { viewless: true };

/** Assignments and their results round-robin over the checks and workers, events `from` to `to` (check lines first); returns ms taken. */
async function fillLog(nc: Awaited<ReturnType<typeof connect>>, from: number, to: number): Promise<number> {
  const js = jetstream(nc);
  const began = performance.now();
  const start = Date.parse('2026-01-01T00:00:00Z');
  const pending = new Set<Promise<unknown>>();
  if (from === 0) {
    for (let checkId = 1; checkId <= CHECKS; checkId++) {
      await js.publish(subject.check(CONTROLLER, checkId), JSON.stringify({ type: 'check', checkId, interval: 60, delay: 1, status: 'online', at: new Date(start).toISOString() }));
    }
  }
  for (let i = Math.ceil(from / 2); i < to / 2; i++) {
    const checkId = (i % CHECKS) + 1;
    const worker = WORKERS[i % WORKERS.length]!;
    const at = new Date(start + i * 10).toISOString();
    const assignment = `bench.0.${i.toString(36)}`;
    const events: [string, object][] = [
      [subject.assign(CONTROLLER, checkId), { type: 'assign', checkId, worker, assignment, at }],
      [subject.result(worker, checkId), { type: 'result', checkId, worker, status: 'online', at, message: 'ok', assignment }],
    ];
    for (const [name, event] of events) {
      const ack = js.publish(name, JSON.stringify(event));
      pending.add(ack);
      void ack.finally(() => pending.delete(ack));
      if (pending.size >= 2_000) await Promise.race(pending);
    }
  }
  await Promise.all(pending);
  return performance.now() - began;
}
