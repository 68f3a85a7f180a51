// The liveness thread of a worker process (plain JavaScript: it runs in a worker_thread,
// outside the TypeScript loader). It answers the viewserver's pings on a NATS connection of
// its own, so a main event loop that is busy (a big reload, a burst of results, a long GC)
// does not look like a dead process; each pong says how long the main loop has not ticked
// (loopLagMs), read from memory the main thread updates. A killed process takes this thread
// with it: the server then answers the viewserver "no responders" at once.
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '@nats-io/transport-node';

const { connection, id, startedAt, canControl, progress } = workerData;
// [0]: when the main loop last ticked; [1]: since when the main NATS connection is down (0: up).
const shared = new Float64Array(progress);
const pingSubject = `bearmon.ping.${id}`;
const pongPrefix = `bearmon.pong.${id}.`;

const nc = await connect({ ...connection, name: `bearmon-liveness-${id}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
nc.subscribe(pingSubject, {
  callback: (err, msg) => {
    if (err || typeof msg.reply !== 'string' || !msg.reply.startsWith(pongPrefix)) return;
    // The process's own connection is down: it cannot control, whatever this thread can do.
    if (shared[1] > 0) return;
    const loopLagMs = Math.max(0, Date.now() - shared[0]);
    msg.respond(JSON.stringify({ type: 'pong', worker: id, startedAt, canControl, loopLagMs }));
  },
});
await nc.flush();
parentPort.postMessage({ ready: true });
parentPort.on('message', async (message) => {
  if (message?.stop) {
    await nc.close().catch(() => {});
    parentPort.postMessage({ stopped: true });
  }
});
