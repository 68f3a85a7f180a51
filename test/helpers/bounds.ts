/**
 * How long a test waits (`expect.poll`, `vi.waitFor`) for something the code promises.
 *
 * Every wait is derived from the bound of the behaviour waited for: a timer of the code (a
 * start-up grace, a heartbeat period, a retry delay) or none at all (a message on loopback,
 * a local connection). The wait is that bound times SLACK plus HEADROOM_MS, the scheduling
 * and I/O no bound covers on a busy shared machine (two test files at a time on two cores,
 * with nats-server and MariaDB alongside). Wrong code misses it; slow right code does not.
 * HEADROOM_MS is 10 s: a poll returns as soon as its condition holds, so the headroom costs
 * nothing when the code is right, and 5 s proved too little for a loaded CI machine where a
 * NATS round trip or a child process start can stall for seconds.
 *
 * Call sites name the bound: `{ timeout: timeoutFor(WORKER_TIMEOUT_MS + TICK_MS) }`, or
 * `timeoutFor()` when no timer is involved.
 */
export const SLACK = 2;
export const HEADROOM_MS = 10_000;

/** The poll timeout for a behaviour due within `boundMs` (default 0: no timer, only loopback I/O and the event loop). */
export function timeoutFor(boundMs = 0): number {
  return boundMs * SLACK + HEADROOM_MS;
}
