import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { natsOptions } from '../../src/bus/connect.ts';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { respondToPings } from '../../src/actors/ping-responder.ts';
import { followView } from '../../src/actors/view-follower.ts';
import { LEASE_KEY, runViewserverProcess, startViewserver, upLongest, VIEW_BUCKET, VIEW_KEY, type ViewserverDeps, type ViewserverHandle } from '../../src/actors/viewserver.ts';
import { decode, viewMessage, type Heartbeat, type ViewMessage } from '../../src/bus/messages.ts';
import { subject } from '../../src/bus/subjects.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';

let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect(natsOptions([server.url]));
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});
// Every test starts without a stored view, so numbers and the stored controller are its own.
beforeEach(async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(`KV_${VIEW_BUCKET}`).catch(() => {});
});

type LogLine = Record<string, unknown> & { level: string; msg: string };

function capturedLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
  return { log, lines };
}

const prefix = () => randomBytes(3).toString('hex');
const hoursAgo = (h: number) => new Date(Date.parse('2026-03-01T12:00:00Z') - h * 3_600_000).toISOString();

/** A fake worker: only its ping responder. */
function candidate(id: string, startedAt: string, log: Logger, canControl = true) {
  const responder = respondToPings({ nc, id, startedAt, canControl, log });
  onTestFinished(() => responder.stop());
  return responder;
}

/** The heartbeat of the viewservers below: a round is a ping to every candidate, answered or timed out, every PERIOD_MS. */
const PERIOD_MS = 100;
const TIMEOUT_MS = 500;
/** The longest a heartbeat round takes, with the wait before it. */
const ROUND_MS = PERIOD_MS + TIMEOUT_MS;

async function viewserver(deps: Partial<ViewserverDeps> & { log: Logger }): Promise<ViewserverHandle> {
  const handle = await startViewserver({ nc, periodMs: PERIOD_MS, timeoutMs: TIMEOUT_MS, ...deps });
  onTestFinished(() => handle.stop());
  return handle;
}

/** Every view published on bearmon.view.current, and a way to wait for one. */
function publishedViews() {
  const seen: ViewMessage[] = [];
  const waiters: { match: (v: ViewMessage) => boolean; resolve: (v: ViewMessage) => void }[] = [];
  const sub = nc.subscribe(subject.view('current'), {
    callback: (_err, msg) => {
      const decoded = decode(viewMessage, msg.data);
      if (!decoded.ok) throw new Error(`invalid view published: ${decoded.error}`);
      seen.push(decoded.value);
      for (const w of waiters.filter((w) => w.match(decoded.value))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(decoded.value);
      }
    },
  });
  onTestFinished(() => sub.unsubscribe());
  return {
    seen,
    /** The first view (already seen or still to come) that matches. */
    waitFor: (match: (v: ViewMessage) => boolean) =>
      new Promise<ViewMessage>((resolve) => {
        const found = seen.find(match);
        if (found) return resolve(found);
        waiters.push({ match, resolve });
      }),
  };
}

/**
 * Counts the viewserver's pings to `id` without answering them. Rounds never overlap, and the
 * pings go out on the connection views are said on: a round's ping arrives after everything
 * the rounds before it decided and said. Stopped, it no longer holds a subscription, so a
 * candidate gone is "no responders" again, not a timeout.
 */
async function pingsTo(id: string): Promise<{ count(): number; stop(): void }> {
  let pings = 0;
  const sub = nc.subscribe(subject.ping(id), { callback: () => void pings++ });
  onTestFinished(() => sub.unsubscribe());
  await nc.flush();
  return { count: () => pings, stop: () => sub.unsubscribe() };
}

/** The positive control of a "nothing more" check: `rounds` more rounds begin, so the rounds before them are decided and said. */
async function moreRounds(pings: { count(): number }, rounds: number, roundMs = ROUND_MS): Promise<void> {
  const from = pings.count();
  await expect.poll(() => pings.count(), { timeout: timeoutFor(rounds * roundMs) }).toBeGreaterThanOrEqual(from + rounds);
}

const naming = (controller: string | null, above = 0) => (v: ViewMessage) => v.controller === controller && v.view > above;

describe('viewserver', () => {
  it('names the candidate up longest, keeps it while it answers, and fails over to the next oldest live one', async () => {
    const { log, lines } = capturedLog();
    const p = prefix();
    const [oldest, a, b, c] = [`${p}-oldest`, `${p}-a`, `${p}-b`, `${p}-c`];
    const responderA = candidate(a, hoursAgo(3), log);
    candidate(b, hoursAgo(2), log);
    candidate(c, hoursAgo(1), log);
    const views = publishedViews();
    const vs = await viewserver({ log, candidates: [oldest, a, b, c] });

    const first = await views.waitFor(naming(a));
    expect(first.view).toBe(1);
    expect(vs.view()).toEqual(first);
    // Asked (bearmon.view.get), it says the view again where only it may speak: bearmon.view.current.
    nc.publish(subject.view('get'));
    await expect.poll(() => views.seen.length, { timeout: timeoutFor() }).toBe(2);
    expect(views.seen[1]).toEqual(first);
    views.seen.splice(1);

    // An older candidate appears: the answering controller stays, round after round.
    const pingsToOldest = await pingsTo(oldest);
    const responderOldest = candidate(oldest, hoursAgo(10), log);
    await expect.poll(() => vs.candidates().find((s) => s.worker === oldest)?.alive, { timeout: timeoutFor(ROUND_MS) }).toBe(true);
    await moreRounds(pingsToOldest, 2);
    pingsToOldest.stop();
    expect(vs.view().controller).toBe(a);
    expect(views.seen.map((v) => v.controller)).toEqual([a]);

    responderA.stop();
    const second = await views.waitFor(naming(oldest, first.view));
    expect(second.view).toBe(first.view + 1);
    // Its subscription is gone, so the server answers "no responders": a miss without waiting out the timeout.
    expect(lines.find((l) => l.msg === 'candidate missed a ping' && l.worker === a)).toMatchObject({ problem: 'no responders' });

    responderOldest.stop();
    const third = await views.waitFor(naming(b, second.view));
    expect(third.view).toBe(second.view + 1);
    expect(views.seen.map((v) => [v.view, v.controller])).toEqual([
      [1, a],
      [2, oldest],
      [3, b],
    ]);
  });

  it('keeps the view number growing across a restart, and keeps an answering controller without a new view', async () => {
    const { log } = capturedLog();
    const p = prefix();
    const [a, b] = [`${p}-a`, `${p}-b`];
    const responderA = candidate(a, hoursAgo(2), log);
    candidate(b, hoursAgo(1), log);
    const views = publishedViews();
    const first = await viewserver({ log, candidates: [a, b] });
    const before = await views.waitFor(naming(a));
    await first.stop();

    const pingsToA = await pingsTo(a);
    const second = await viewserver({ log, candidates: [a, b] });
    expect(second.view()).toEqual(before);
    await expect.poll(() => second.candidates().find((s) => s.worker === a)?.alive, { timeout: timeoutFor(ROUND_MS) }).toBe(true);
    await moreRounds(pingsToA, 2);
    pingsToA.stop();
    expect(second.view()).toEqual(before);
    expect(views.seen.every((v) => v.view === before.view && v.controller === a)).toBe(true);

    responderA.stop();
    const after = await views.waitFor(naming(b, before.view));
    expect(after.view).toBe(before.view + 1);
    const kv = await new Kvm(nc).open(VIEW_BUCKET);
    expect((await kv.get(VIEW_KEY))?.json()).toEqual(after);
  });

  it('never names a worker missing from the fixed list; no live candidate means a view without controller and an error', async () => {
    const { log, lines } = capturedLog();
    const p = prefix();
    const [listed, unlisted] = [`${p}-listed`, `${p}-unlisted`];
    candidate(unlisted, hoursAgo(5), log);
    const responderListed = candidate(listed, hoursAgo(1), log);
    const views = publishedViews();
    const noCandidate: (string | null)[] = [];
    await viewserver({ log, candidates: [listed], onNoCandidate: (previous) => void noCandidate.push(previous) });

    const first = await views.waitFor(naming(listed));
    responderListed.stop();
    const empty = await views.waitFor(naming(null, first.view));
    expect(empty.view).toBe(first.view + 1);
    expect(views.seen.some((v) => v.controller === unlisted)).toBe(false);
    // Logged in the same decision that said the empty view.
    await expect.poll(() => lines.filter((l) => l.msg === 'no controller candidate alive'), { timeout: timeoutFor() }).toEqual([
      expect.objectContaining({ level: 'error', role: 'viewserver', previous: listed, view: empty.view }),
    ]);
    expect(noCandidate).toEqual([listed]);
  });

  it('a controller late for fewer than `misses` pings (busy, not dead) keeps its place; silent for `misses`, it is replaced', async () => {
    const { log } = capturedLog();
    const p = prefix();
    const [a, b] = [`${p}-a`, `${p}-b`];
    // a leaves `skip` pings unanswered: its subscription stays, so each is a timeout, not "no responders".
    let skip = 0;
    let answered = 0;
    const pong = JSON.stringify({ type: 'pong', worker: a, startedAt: hoursAgo(3), canControl: true });
    const sub = nc.subscribe(subject.ping(a), { callback: (_e, m) => void (skip > 0 ? skip-- : (answered++, m.respond(pong))) });
    onTestFinished(() => sub.unsubscribe());
    candidate(b, hoursAgo(1), log);
    const views = publishedViews();
    // The file's ping timeout (TIMEOUT_MS, 500 ms), not 100 ms: with two pings skipped on purpose,
    // one answered ping that a busy machine delivers a little late would make the third miss in a row.
    await viewserver({ log, candidates: [a, b], misses: 3 });
    await views.waitFor(naming(a));
    // Two pings in a row unanswered (an event loop blocked for ~1 s), then answers again: no new view.
    skip = 2;
    await expect.poll(() => skip, { timeout: timeoutFor() }).toBe(0);
    const resumed = answered;
    await expect.poll(() => answered - resumed, { timeout: timeoutFor() }).toBeGreaterThanOrEqual(5);
    expect(views.seen.map((v) => v.controller)).toEqual([a]);
    // Silent for good: replaced after three timeouts.
    skip = Number.POSITIVE_INFINITY;
    const second = await views.waitFor(naming(b));
    expect(second.view).toBe(2);
  });

  it('never names a candidate that cannot control', async () => {
    const { log, lines } = capturedLog();
    const p = prefix();
    const [probeOnly, able] = [`${p}-probe`, `${p}-able`];
    candidate(probeOnly, hoursAgo(9), log, false);
    const responderAble = candidate(able, hoursAgo(1), log);
    const views = publishedViews();
    const vs = await viewserver({ log, candidates: [probeOnly, able] });

    const first = await views.waitFor(naming(able));
    responderAble.stop();
    await views.waitFor(naming(null, first.view));
    expect(views.seen.map((v) => v.controller)).toEqual([able, null]);
    expect(vs.candidates().find((s) => s.worker === probeOnly)).toMatchObject({ alive: true, canControl: false });
    // Logged in the same decision that said the empty view.
    await expect.poll(() => lines.some((l) => l.msg === 'no controller candidate alive' && l.level === 'error'), { timeout: timeoutFor() }).toBe(true);
  });

  it('reports no live candidate once at start when nothing answers, and names the first that appears', async () => {
    const { log, lines } = capturedLog();
    const id = `${prefix()}-late`;
    const views = publishedViews();
    // Pings to `id` are seen here and not answered (each times out) until its responder starts.
    const pings = await pingsTo(id);
    const timeoutMs = 100;
    const vs = await viewserver({ log, candidates: [id], timeoutMs });
    await expect.poll(() => lines.filter((l) => l.msg === 'no controller candidate alive').length, { timeout: timeoutFor(timeoutMs) }).toBe(1);
    // The control: three more rounds find no candidate either; each would have reported it again.
    await moreRounds(pings, 3, PERIOD_MS + timeoutMs);
    expect(lines.filter((l) => l.msg === 'no controller candidate alive')).toHaveLength(1);
    expect(vs.view()).toMatchObject({ view: 0, controller: null });

    candidate(id, hoursAgo(1), log);
    expect(await views.waitFor(naming(id))).toMatchObject({ view: 1 });
    expect(lines.filter((l) => l.msg === 'no controller candidate alive')).toHaveLength(1);
  });

  it('counts a malformed pong as a miss, with a log line', async () => {
    const { log, lines } = capturedLog();
    const p = prefix();
    const [flaky, steady] = [`${p}-flaky`, `${p}-steady`];
    // flaky answers properly until it is switched to garbage.
    let garbage = false;
    const raw = nc.subscribe(subject.ping(flaky), {
      callback: (_err, msg) => {
        msg.respond(garbage ? `{"type":"pong","worker":"${flaky}","startedAt":"yesterday","canControl":true}` : JSON.stringify({ type: 'pong', worker: flaky, startedAt: hoursAgo(5), canControl: true }));
      },
    });
    onTestFinished(() => raw.unsubscribe());
    candidate(steady, hoursAgo(1), log);
    const views = publishedViews();
    const vs = await viewserver({ log, candidates: [flaky, steady] });

    const first = await views.waitFor(naming(flaky));
    garbage = true;
    await views.waitFor(naming(steady, first.view));
    const warning = lines.find((l) => l.msg.startsWith('bad pong counted as a miss'));
    expect(warning).toMatchObject({ level: 'warn', worker: flaky, payload: expect.stringContaining('yesterday') });
    expect(warning?.error).toContain('startedAt');
    expect(vs.candidates().find((s) => s.worker === flaky)).toMatchObject({ alive: false, lastProblem: expect.stringMatching(/^bad pong/) });
  });

  it('discovers candidates from heartbeats when no list is configured', async () => {
    const { log } = capturedLog();
    const p = prefix();
    const [silent, older, younger] = [`${p}-silent`, `${p}-older`, `${p}-younger`];
    candidate(silent, hoursAgo(20), log); // answers pings but never announces itself
    const responderOlder = candidate(older, hoursAgo(4), log);
    candidate(younger, hoursAgo(2), log);
    const beat = (worker: string, startedAt: string) => {
      const message: Heartbeat = { type: 'heartbeat', worker, capacity: 1, running: 0, startedAt, at: new Date().toISOString() };
      nc.publish(subject.worker(worker), JSON.stringify(message));
    };
    const views = publishedViews();
    const vs = await viewserver({ log, discoveryGraceMs: 300, discoveryTtlMs: 60_000 });
    // Two heartbeats each: the younger is heard first, the older wins anyway.
    beat(younger, hoursAgo(2));
    beat(older, hoursAgo(4));
    nc.publish(subject.worker(`${p}-forged`), JSON.stringify({ type: 'heartbeat', worker: silent }));

    const first = await views.waitFor(naming(older));
    responderOlder.stop();
    await views.waitFor(naming(younger, first.view));
    expect(views.seen.some((v) => v.controller === silent)).toBe(false);
    expect(vs.candidates().map((s) => s.worker).sort()).toEqual([older, younger].sort());
  });

  it('adopts a view another viewserver stored instead of overwriting it', async () => {
    const { log, lines } = capturedLog();
    const p = prefix();
    const [a, b, c] = [`${p}-a`, `${p}-b`, `${p}-c`];
    const responderA = candidate(a, hoursAgo(3), log);
    const responderB = candidate(b, hoursAgo(2), log);
    candidate(c, hoursAgo(1), log);
    const views = publishedViews();
    const vs = await viewserver({ log, candidates: [a, b, c] });
    const first = await views.waitFor(naming(a));

    // The other viewserver moved on to b; ours still believes in a and its revision.
    const theirs: ViewMessage = { type: 'view', view: first.view + 1, controller: b, at: new Date().toISOString() };
    const kv = await new Kvm(nc).open(VIEW_BUCKET);
    await kv.put(VIEW_KEY, JSON.stringify(theirs));
    responderA.stop();
    // The next round finds a gone, fails to store b over their revision and adopts theirs.
    await expect.poll(() => vs.view(), { timeout: timeoutFor(ROUND_MS) }).toEqual(theirs);
    expect(lines.find((l) => l.msg === 'another viewserver changed the view; adopting it')).toMatchObject({ level: 'warn', view: theirs.view, wanted: b });

    responderB.stop();
    const next = await views.waitFor(naming(c));
    expect(next.view).toBe(theirs.view + 1);
    expect(views.seen.map((v) => v.view)).toEqual([first.view, next.view]);
  });
});

describe('several viewservers: the lease', () => {
  // Short lease times so the test is quick; the defaults are 500 / 2000 / 250 ms.
  const lease = { renewMs: 150, leaseMs: 600, leasePollMs: 100 };
  it('one is active; a standby answers view requests with the stored view; a lease taken from under the active one steps it down; a stopped one releases it', async () => {
    const one = capturedLog();
    const two = capturedLog();
    const a = `${prefix()}-a`;
    candidate(a, hoursAgo(1), one.log);
    const views = publishedViews();
    const vs1 = await viewserver({ log: one.log, candidates: [a], id: 'vs1', ...lease });
    const first = await views.waitFor(naming(a));
    expect(vs1.active()).toBe(true);
    const vs2 = await viewserver({ log: two.log, candidates: [a], id: 'vs2', ...lease });
    await expect.poll(() => two.lines.some((l) => l.msg === 'standing by: another viewserver holds the lease' && l.holder === 'vs1'), { timeout: timeoutFor(lease.leasePollMs) }).toBe(true);
    expect(vs2.active()).toBe(false);

    // Asked while vs1 is active: both say the stored view, and only that.
    const before = views.seen.length;
    nc.publish(subject.view('get'));
    await expect.poll(() => views.seen.length, { timeout: timeoutFor() }).toBeGreaterThan(before);

    // Someone else writes the lease: vs1's next renewal is refused and it stands by; the
    // thief never renews, so after leaseMs one of the two takes it (a conditional write: one
    // wins) and reads the stored view.
    const kv = await new Kvm(nc).open(VIEW_BUCKET);
    await kv.put(LEASE_KEY, JSON.stringify({ holder: 'thief' }));
    await expect.poll(() => one.lines.some((l) => l.msg === 'another viewserver holds the lease; standing by'), { timeout: timeoutFor(lease.renewMs) }).toBe(true);
    await expect.poll(() => [vs1.active(), vs2.active()].filter(Boolean).length, { timeout: timeoutFor(lease.leaseMs + lease.leasePollMs) }).toBe(1);
    const [winner, winnerLog, other, otherLog] = vs1.active() ? [vs1, one, vs2, two] : [vs2, two, vs1, one];
    // Said once the stored view is read, just after the lease is taken.
    await expect.poll(() => winnerLog.lines.filter((l) => l.msg === 'viewserver active' && l.id === (winner === vs1 ? 'vs1' : 'vs2')).length, { timeout: timeoutFor() }).toBeGreaterThan(winner === vs1 ? 1 : 0);
    expect(winnerLog.lines.filter((l) => l.msg === 'viewserver active').at(-1)).toMatchObject({ view: first.view, controller: a });

    // The winner stops: it releases the lease and the other takes it without waiting the lease out.
    const taken = otherLog.lines.filter((l) => l.msg === 'took the viewserver lease').length;
    const expired = otherLog.lines.filter((l) => l.msg === 'viewserver lease expired; taking it').length;
    await winner.stop();
    await expect.poll(() => otherLog.lines.filter((l) => l.msg === 'took the viewserver lease').length, { timeout: timeoutFor(lease.leasePollMs) }).toBe(taken + 1);
    expect(otherLog.lines.filter((l) => l.msg === 'viewserver lease expired; taking it').length).toBe(expired);
    expect(other.active()).toBe(true);
    // One view all along: the controller answered throughout.
    expect(views.seen.every((v) => v.view === first.view && v.controller === a)).toBe(true);
  });
});

describe('several viewservers: the view record is the fence', () => {
  it('two viewservers that both believe they hold the lease never say two controllers for one view number', async () => {
    const one = capturedLog();
    const two = capturedLog();
    const p = prefix();
    const [a, b, c] = [`${p}-a`, `${p}-b`, `${p}-c`];
    const responderA = candidate(a, hoursAgo(3), one.log);
    candidate(b, hoursAgo(2), one.log);
    candidate(c, hoursAgo(1), one.log);
    const views = publishedViews();
    // vs1 renews only every 10 s and so believes itself active for 10 s after taking the lease;
    // vs2 takes the unrenewed lease after 300 ms: both believe they are active (as in a partition).
    const vs1 = await viewserver({ log: one.log, candidates: [a, b], id: 'vs1', renewMs: 10_000, leaseMs: 20_000, leasePollMs: 50 });
    const first = await views.waitFor(naming(a));
    const vs2 = await viewserver({ log: two.log, candidates: [a, c], id: 'vs2', renewMs: 100, leaseMs: 300, leasePollMs: 50 });
    await expect.poll(() => vs2.active(), { timeout: timeoutFor(300 + 50) }).toBe(true);
    expect(vs1.active()).toBe(true);

    // The controller goes: vs1 wants b, vs2 wants c, for the same next number; only one write can succeed.
    responderA.stop();
    const adopted = () => [...one.lines, ...two.lines].some((l) => l.msg === 'another viewserver changed the view; adopting it');
    await expect.poll(adopted, { timeout: timeoutFor(ROUND_MS * 4) }).toBe(true);
    await vs1.stop();
    await vs2.stop();
    const byNumber = new Map<number, string | null>();
    for (const v of views.seen) {
      if (byNumber.has(v.view)) expect({ view: v.view, controller: v.controller }).toEqual({ view: v.view, controller: byNumber.get(v.view) });
      byNumber.set(v.view, v.controller);
    }
    expect(Math.max(...byNumber.keys())).toBeGreaterThan(first.view);
  });
});

describe('followView', () => {
  it('passes on only views newer than the last one seen', async () => {
    const { log, lines } = capturedLog();
    const id = `${prefix()}-follower`;
    const got: ViewMessage[] = [];
    const follower = followView({ nc, id, log, onView: (v) => void got.push(v), retryMs: 100 });
    onTestFinished(() => follower.stop());
    const view = (n: number, controller: string): ViewMessage => ({ type: 'view', view: n, controller, at: new Date().toISOString() });
    const publish = (v: ViewMessage) => nc.publish(subject.view('current'), JSON.stringify(v));

    publish(view(5, 'ctl-five'));
    publish(view(3, 'ctl-forged')); // older: ignored
    publish(view(5, 'ctl-dup')); // same number: ignored
    nc.publish(subject.view('current'), '{"type":"view","view":-1}'); // malformed: dropped
    publish(view(6, 'ctl-six'));
    await expect.poll(() => got.map((v) => v.view), { timeout: timeoutFor() }).toEqual([5, 6]);
    expect(got.map((v) => v.controller)).toEqual(['ctl-five', 'ctl-six']);
    expect(follower.current()).toEqual(got[1]);
    expect(lines.find((l) => l.msg === 'ignored a view older than the current one')).toMatchObject({ level: 'warn', view: 3, current: 5, worker: id });
    expect(lines.some((l) => l.msg.startsWith('dropped a bad view message'))).toBe(true);
  });

  it('asks for the current view until a viewserver answers', async () => {
    const { log, lines } = capturedLog();
    const p = prefix();
    const a = `${p}-a`;
    candidate(a, hoursAgo(1), log);
    const views = publishedViews();
    const earlier = await viewserver({ log, candidates: [a] });
    const stored = await views.waitFor(naming(a));
    await earlier.stop();

    const got: ViewMessage[] = [];
    const follower = followView({ nc, id: `${p}-follower`, log, onView: (v) => void got.push(v), retryMs: 100 });
    onTestFinished(() => follower.stop());
    // Said when the first request went unanswered for retryMs.
    await expect.poll(() => lines.some((l) => l.msg.startsWith('no view from a viewserver yet')), { timeout: timeoutFor(100) }).toBe(true);
    expect(got).toEqual([]);

    // The new viewserver keeps the answering controller: no new view, the stored one said again.
    const pingsToA = await pingsTo(a);
    await viewserver({ log, candidates: [a] });
    await expect.poll(() => got, { timeout: timeoutFor() }).toEqual([stored]);
    await moreRounds(pingsToA, 2);
    expect(got).toEqual([stored]);
    expect(views.seen.every((v) => v.view === stored.view && v.controller === a)).toBe(true);
  });
});

describe('runViewserverProcess', () => {
  it('runs with the [viewserver] configuration and stops on the shutdown signal', async () => {
    const { log, lines } = capturedLog();
    const id = `${prefix()}-a`;
    candidate(id, hoursAgo(1), log);
    const views = publishedViews();
    const { config } = loadConfig({
      text: `[nats]\nurl = ${server.url}\n[viewserver]\ncontroller = ${id}\nheartbeatPeriod = 100\nheartbeatTimeout = 200\nmisses = 2\n`,
    });
    const shutdown = new AbortController();
    const running = runViewserverProcess(config, log, shutdown.signal);
    onTestFinished(() => shutdown.abort());
    expect(await views.waitFor(naming(id))).toMatchObject({ view: 1 });
    shutdown.abort();
    await running;
    expect(lines.some((l) => l.msg === 'viewserver stopped')).toBe(true);
  });
});

describe('upLongest', () => {
  it('prefers the earliest start, then the smaller id', () => {
    const pong = (startedAt: string) => ({ type: 'pong' as const, worker: 'x', startedAt, canControl: true });
    expect(upLongest([{ id: 'b', pong: pong(hoursAgo(1)) }, { id: 'c', pong: pong(hoursAgo(2)) }])).toBe('c');
    expect(upLongest([{ id: 'b', pong: pong(hoursAgo(1)) }, { id: 'a', pong: pong(hoursAgo(1)) }])).toBe('a');
    expect(upLongest([])).toBeUndefined();
  });
});
