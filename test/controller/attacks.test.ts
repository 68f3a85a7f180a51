import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { inboxPrefix } from '../../src/bus/permissions.ts';
import { subject } from '../../src/bus/subjects.ts';
import { SNAPSHOT_STREAM } from '../../src/controller/snapshot.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { startRoleCluster } from '../helpers/role-cluster.ts';
import { startWebhookReceiver } from '../helpers/webhook.ts';
import { switchableTarget } from './harness.ts';

/**
 * Issue #10's attacks, end to end: a viewserver and three workers as real processes, each
 * under its own credential from nats.conf (C=2, D=1, interval 1 s). An attacker holds one
 * worker's credential (a worker the view does not name controller) and the operator's.
 */
let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

async function connectAs(user: string): Promise<NatsConnection> {
  const nc = await connect({ ...natsOptions([nats.urlFor(user)]), inboxPrefix: inboxPrefix(user) });
  onTestFinished(() => nc.close());
  return nc;
}

describe('a stolen worker credential and the operator against a running cluster', () => {
  it('forged votes, a 2037 vote, a forged run request, a flood and operator pongs: no false transition, no view change, fail-over on time, the real outage recorded and notified', async () => {
    const target = await switchableTarget();
    const hook = await startWebhookReceiver();
    const { conn, admin, views, workers, firstView } = await startRoleCluster(nats, {
      stream: 'BEARMON_ATTACKS',
      rows: [
        [`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('shop', 'http', ?, 1, 1)`, [JSON.stringify({ url: target.url, expect_status: 200 })]],
        [`INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', ?)`, [hook.url]],
        [`INSERT INTO alerts (check_id, contact_id, type) VALUES (1, 1, 'both')`],
      ],
    });
    const viewsSince = (from: number) => new Set(views.filter((v) => v.view >= from).map((v) => v.view)).size;
    const first = await firstView();
    const controller = first.controller!;
    const [victim, thief] = ['w1', 'w2', 'w3'].filter((w) => w !== controller) as [string, string];
    await expect.poll(() => target.hits.size, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    const statusOf = async () => ((await conn.query<RowDataPacket[]>('SELECT status FROM checks WHERE id = 1'))[0][0] as { status: string }).status;
    const events = async () => (await conn.query<RowDataPacket[]>('SELECT type, UNIX_TIMESTAMP(time) AS at FROM check_events ORDER BY id'))[0].map((r) => ({ type: r.type, at: Number(r.at) }));

    const stolen = await connectAs(thief);
    // 1 + 2: votes "from" every worker, dated 2037, where the thief may publish (its own controller subject), and its own vote.
    const forged = (worker: string, n: number) =>
      JSON.stringify({ type: 'result', checkId: 1, worker, status: 'offline', at: '2037-12-31T00:00:00Z', message: 'forged', assignment: `${first.controller}.${first.view}.x.${n}`, view: first.view });
    ['w1', 'w2', 'w3'].forEach((w, n) => stolen.publish(subject.decision(thief, 1), forged(w, n)));
    stolen.publish(subject.result(thief, 1), forged(thief, 9));
    // 3: a run request "from" the thief to the victim, with the highest view there is.
    stolen.publish(
      subject.run(victim, thief),
      JSON.stringify({ type: 'run', assignment: 'forged.run', checkId: 1, checkType: 'http', data: '{"url":"http://127.0.0.1:9/"}', view: Number.MAX_SAFE_INTEGER, at: new Date().toISOString() }),
    );
    // 4: a forged view "answered" on bearmon.view.current by echoing its own heartbeat, and the same view
    // stored under its snapshot subject and delivered there by a push consumer it made.
    const forgedView = JSON.stringify({ type: 'view', view: Number.MAX_SAFE_INTEGER, controller: null, at: new Date().toISOString() });
    stolen.subscribe(subject.worker(thief), { callback: (err, m) => void (err || m.respond(forgedView)) });
    stolen.publish(subject.worker(thief), '{}', { reply: subject.view('current') });
    await jetstream(stolen).publish(`bearmon.snapshot.${thief}.EVIL.meta`, forgedView);
    await (await jetstreamManager(stolen, { checkAPI: false })).consumers.add(SNAPSHOT_STREAM, {
      deliver_subject: subject.view('current'),
      ack_policy: AckPolicy.None,
      filter_subject: `bearmon.snapshot.${thief}.EVIL.meta`,
    });
    // 3 (the log): the next view's message id in the old, guessable form, published first.
    const squat = headers();
    squat.set('Nats-Msg-Id', `view-${first.view + 1}`);
    stolen.publish(subject.result(thief, 1), '{}', { headers: squat });
    // 6: a bounded flood of hostile messages on every subject the thief may publish.
    const bodies = ['{"type":"result",', 'x'.repeat(100 * 1024), JSON.stringify({ type: 'heartbeat', worker: thief, capacity: 1e15, running: 0, startedAt: '1970-01-01T00:00:00Z', at: new Date().toISOString() })];
    for (let i = 0; i < 1800; i++) {
      const body = bodies[i % bodies.length]!;
      stolen.publish([subject.result(thief, 1), subject.worker(thief), subject.view('get'), subject.decision(thief, 1), subject.pong(thief, 'n')][i % 5]!, body);
    }
    await stolen.flush();
    // The victim's real work goes on, and nothing moved: same view, no transition. Bounded wait with a positive control:
    // fresh results from every worker arrive after the flood (the cluster kept working through it).
    const resultsAfter = new Set<string>();
    const sub = admin.subscribe('bearmon.result.*.1', { callback: (_e, m) => void resultsAfter.add(m.subject.split('.')[2]!) });
    onTestFinished(() => sub.unsubscribe());
    await expect.poll(() => resultsAfter.size, { timeout: 15_000 }).toBe(3);
    // The flood was counted, and its log lines bounded (10 per reason and minute).
    expect(workers.get(controller)!.logs.filter((l) => /^skipped a (result|heartbeat)/.test(String(l.msg))).length).toBeLessThanOrEqual(40);
    expect(viewsSince(first.view)).toBe(1);
    expect(await events()).toEqual([]);
    expect(workers.get(victim)!.logs.some((l) => l.msg === 'dropped a run request from a worker the view does not name controller')).toBe(true);
    // No worker took the forged view: each saw it delivered on the view subject and dropped it.
    await expect.poll(() => [...workers.values()].every((w) => w.logs.some((l) => /delivered on the view subject but published elsewhere/.test(String(l.msg)))), { timeout: timeoutFor() }).toBe(true);
    for (const w of workers.values()) expect(w.logs.filter((l) => l.msg === 'new view' && Number(l.view) > first.view)).toEqual([]);

    // 5: the operator answers pings for the controller it is about to lose; kill -9 the controller.
    const operator = await connectAs('operator');
    const pong = (m: { subject: string; respond(data: string): boolean }) =>
      m.respond(JSON.stringify({ type: 'pong', worker: m.subject.split('.')[2], startedAt: '2000-01-01T00:00:00Z', canControl: true }));
    operator.subscribe('bearmon.>', { callback: (err, m) => void (err || (m.subject.startsWith('bearmon.ping.') && pong(m))) });
    operator.subscribe('bearmon.ping.>', { callback: (err, m) => void (err || pong(m)) });
    await operator.flush();
    workers.get(controller)!.child.kill('SIGKILL');
    await expect.poll(() => views.at(-1)!.view, { timeout: 20_000 }).toBeGreaterThan(first.view);
    const second = views.at(-1)!;
    expect(second.controller).not.toBe(controller);
    await expect.poll(() => workers.get(second.controller!)!.logs.some((l) => l.msg === 'controller started' && l.view === second.view), { timeout: 20_000 }).toBe(true);
    // Its view is in the log despite the squatted id: the successor did not wait in vain, and its lines count.
    expect(workers.get(second.controller!)!.logs.some((l) => /does not hold the view that named this controller/.test(String(l.msg)))).toBe(false);
    // The successor folded the log, forged lines included: none counted.
    const skipped = workers.get(second.controller!)!.logs.filter((l) => l.msg === 'skipped a log record: not the controller of the view in force');
    expect(skipped.length).toBeGreaterThanOrEqual(1);
    expect(await statusOf()).toBe('online');
    expect(await events()).toEqual([]);

    // The real outage is still detected, recorded (not dated in the future) and notified once.
    target.up = false;
    await expect.poll(statusOf, { timeout: 30_000, interval: 250 }).toBe('offline');
    const [down] = await events();
    expect(down).toMatchObject({ type: 'offline' });
    expect(down!.at * 1000).toBeLessThanOrEqual(Date.now());
    await expect.poll(() => hook.posts.map((p) => p.fields.status), { timeout: 20_000 }).toEqual(['offline']);
    target.up = true;
    await expect.poll(statusOf, { timeout: 30_000, interval: 250 }).toBe('online');
    await expect.poll(() => hook.posts.map((p) => p.fields.status), { timeout: 20_000 }).toEqual(['offline', 'online']);
  }, 150_000);
});
