import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { decode, viewMessage, type ViewMessage } from '../../src/bus/messages.ts';
import { setupBus } from '../../src/bus/setup.ts';
import { subject } from '../../src/bus/subjects.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startBearmon } from '../helpers/bearmon.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { refusedPort } from '../helpers/servers.ts';

/**
 * README (The viewserver and fail-over; [viewserver] misses): a controller that is only
 * late is replaced after `misses` consecutive unanswered pings (default 3); one whose
 * process is gone ("no responders") at once. (Metrics) `bearmon_viewserver_view` and
 * `bearmon_viewserver_view_changes_total{controller="named"|"none"}`.
 *
 * `bin/bearmon viewserver` runs under its own role (viewserver) with `misses = 4` from the
 * environment; the candidates are the test's own ping answerers.
 */

let nats: NatsServerHandle;
let admin: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer();
  admin = await connect(natsOptions([nats.url]));
  await setupBus(admin, { stream: 'BEARMON', retentionMs: 3_600_000 });
});
afterAll(async () => {
  await admin?.close();
  await nats?.stop();
});

function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** A controller candidate: answers pings unless told to skip some (a busy event loop), counting what it left unanswered. */
function candidate(id: string, startedAt: string) {
  const state = { skip: 0, answered: 0, unanswered: 0 };
  const pong = JSON.stringify({ type: 'pong', worker: id, startedAt, canControl: true });
  const sub = admin.subscribe(subject.ping(id), {
    callback: (_err, msg) => {
      if (state.skip > 0) {
        state.skip -= 1;
        state.unanswered += 1;
      } else {
        state.answered += 1;
        msg.respond(pong);
      }
    },
  });
  onTestFinished(() => sub.unsubscribe());
  return Object.assign(state, { gone: () => sub.unsubscribe() });
}

describe('README: [viewserver] misses, and the viewserver metrics', () => {
  it('misses defaults to 3', () => {
    expect(loadConfig({ env: {} }).config.viewserver.misses).toBe(3);
  });

  it('misses = 4: three pings in a row unanswered keep the controller, silence replaces it after four; a vanished process is replaced at once; each view is counted by kind', async () => {
    const views: ViewMessage[] = [];
    // How many pings cand-a had answered when each view arrived. The viewserver says a view only
    // after the round whose pongs decided it, so the count taken here covers every ping before
    // the decision and (its next round being 100 ms away) nothing after it. Counted when the
    // test's poll looks instead, a busy machine adds cand-a's pings of the poll's delay.
    const answeredAtView: number[] = [];
    let answeredByA = () => 0;
    const viewSub = admin.subscribe(subject.view('current'), {
      callback: (_err, msg) => {
        const decoded = decode(viewMessage, msg.data);
        if (decoded.ok && views.at(-1)?.view !== decoded.value.view) {
          views.push(decoded.value);
          answeredAtView.push(answeredByA());
        }
      },
    });
    onTestFinished(() => viewSub.unsubscribe());
    const a = candidate('cand-a', '2026-01-01T00:00:00.000Z'); // up longest: named first
    answeredByA = () => a.answered;
    const b = candidate('cand-b', '2026-01-02T00:00:00.000Z');
    const port = await refusedPort();
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const viewserver = startBearmon(['viewserver'], {
      BEARMON_NATS_URL: nats.urlFor('viewserver'),
      BEARMON_VIEWSERVER_CONTROLLER: 'cand-a,cand-b',
      BEARMON_VIEWSERVER_HEARTBEATPERIOD: '100',
      // Generous: an answered ping must never count as a miss on a busy machine; only the skipped ones do.
      BEARMON_VIEWSERVER_HEARTBEATTIMEOUT: '1000',
      BEARMON_VIEWSERVER_MISSES: '4',
      BEARMON_DEFAULT_METRICSLISTEN: `127.0.0.1:${port}`,
    });

    await expect.poll(() => views.map((v) => v.controller), { timeout: 30_000, interval: 100 }).toEqual(['cand-a']);
    let text = await scrape();
    expect(sample(text, 'bearmon_viewserver_view')).toBe(views[0]!.view);
    expect(sample(text, 'bearmon_viewserver_view_changes_total{controller="named"}')).toBe(1);
    expect(sample(text, 'bearmon_viewserver_view_changes_total{controller="none"}')).toBeUndefined();

    // Three timeouts in a row (an event loop blocked for ~3 s), then answers again: kept.
    a.skip = 3;
    await expect.poll(() => a.skip, { timeout: 20_000, interval: 20 }).toBe(0);
    const resumed = a.answered;
    await expect.poll(() => a.answered - resumed, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(5);
    expect(views.map((v) => v.controller)).toEqual(['cand-a']);

    // Silent for good: replaced, after at least four unanswered pings.
    const before = a.unanswered;
    a.skip = Number.POSITIVE_INFINITY;
    await expect.poll(() => views.map((v) => v.controller), { timeout: 20_000, interval: 20 }).toEqual(['cand-a', 'cand-b']);
    expect(a.unanswered - before).toBeGreaterThanOrEqual(4);
    expect(views[1]!.view).toBe(views[0]!.view + 1);
    expect(viewserver.logs.find((l) => l.msg === 'candidate missed a ping' && l.worker === 'cand-a')).toMatchObject({ problem: expect.stringMatching(/timeout|timed out/i) });

    // cand-a answers again: live and up longer, yet the answering controller cand-b keeps its place.
    a.skip = 0;
    const back = a.answered;
    await expect.poll(() => a.answered - back, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(5);
    expect(views.map((v) => v.controller)).toEqual(['cand-a', 'cand-b']);

    // cand-b's process vanishes (no subscription: the server answers "no responders"): replaced
    // at once, in fewer rounds (cand-a's pings) than the four timeouts a late controller gets.
    const rounds = a.answered;
    b.gone();
    await expect.poll(() => views.map((v) => v.controller), { timeout: 20_000, interval: 20 }).toEqual(['cand-a', 'cand-b', 'cand-a']);
    expect(answeredAtView[2]! - rounds).toBeLessThan(4);
    expect(viewserver.logs.find((l) => l.msg === 'candidate missed a ping' && l.worker === 'cand-b')).toMatchObject({ problem: 'no responders' });

    // cand-a vanishes too: a view without a controller.
    a.gone();
    await expect.poll(() => views.map((v) => v.controller), { timeout: 20_000, interval: 20 }).toEqual(['cand-a', 'cand-b', 'cand-a', null]);
    text = await scrape();
    expect(sample(text, 'bearmon_viewserver_view')).toBe(views[3]!.view);
    expect(sample(text, 'bearmon_viewserver_view_changes_total{controller="named"}')).toBe(3);
    expect(sample(text, 'bearmon_viewserver_view_changes_total{controller="none"}')).toBe(1);
  }, 60_000);
});
