import { readFileSync } from 'node:fs';
import net from 'node:net';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { DEVELOPMENT_CLUSTER, developmentClusterConf, developmentNatsConf, inboxPrefix } from '../../src/bus/permissions.ts';
import { readLog } from '../../src/bus/result-log.ts';
import { setupBus } from '../../src/bus/setup.ts';
import { subject } from '../../src/bus/subjects.ts';
import { VIEW_BUCKET } from '../../src/actors/viewserver.ts';
import { SNAPSHOT_STREAM } from '../../src/controller/snapshot.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';

/**
 * nats.conf's roles against a real nats-server: each attack of issue #10 by a stolen worker
 * credential (w1) and by the read-only operator, each refused by the server; and the same
 * operations allowed to admin (the positive control: the test can fail).
 */
const STREAM = 'BEARMON';
let server: NatsServerHandle;
let admin: NatsConnection;
beforeAll(async () => {
  server = await startNatsServer();
  admin = await connect(natsOptions([server.url]));
  await setupBus(admin, { stream: STREAM, retentionMs: 3_600_000 });
});
afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

async function as(user: string): Promise<{ nc: NatsConnection; violations: string[] }> {
  const nc = await connect({ ...natsOptions([server.urlFor(user)]), inboxPrefix: inboxPrefix(user) });
  onTestFinished(() => nc.close());
  const violations: string[] = [];
  void (async () => {
    for await (const status of nc.status()) if (status.type === 'error') violations.push(String((status as { error?: Error }).error?.message));
  })();
  return { nc, violations };
}

const result = (worker: string, checkId: number) =>
  JSON.stringify({ type: 'result', checkId, worker, assignment: 'a.1', status: 'offline', message: '', durationMs: 1, at: new Date().toISOString() });

/** What `admin` sees on a subject while `act` runs (the server's deliveries, in order). */
async function seenOn(pattern: string, act: () => Promise<void>, settle: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const sub = admin.subscribe(pattern, { callback: (_e, m) => void seen.push(m.subject) });
  onTestFinished(() => sub.unsubscribe());
  await admin.flush();
  await act();
  await settle();
  await admin.flush();
  return seen;
}

describe('roles and permissions from nats.conf', () => {
  it('the repository nats.conf is the one src/bus/permissions.ts generates', () => {
    expect(readFileSync(new URL('../../nats.conf', import.meta.url), 'utf8')).toBe(developmentNatsConf());
    // The loopback cluster of the README and docs/CLUSTER.md: the same users, each member routing to the other two.
    for (const member of DEVELOPMENT_CLUSTER) expect(readFileSync(new URL(`../../nats-cluster/${member}.conf`, import.meta.url), 'utf8')).toBe(developmentClusterConf(member));
  });

  it('a worker publishes results, heartbeats, pongs and controller lines only under its own name', async () => {
    const w1 = await as('w1');
    const forged = [
      subject.result('w2', 1), // voting as w2
      subject.worker('w2'), // a heartbeat as w2
      subject.pong('w2', 'n1'), // answering w2's ping
      subject.decision('w2', 1), // a controller line as w2
      subject.assign('w2', 1),
      subject.run('w2', 'w3'), // a run request "from" w3
      subject.view('current'), // a view
      '_INBOX.anything', // someone else's reply
    ];
    const seen = await seenOn(
      'bearmon.>',
      async () => {
        for (const name of forged) w1.nc.publish(name, result('w2', 1));
        w1.nc.publish(subject.result('w1', 1), result('w1', 1)); // its own: the control
        await w1.nc.flush();
      },
      () => expect.poll(() => w1.violations.length, { timeout: timeoutFor() }).toBe(forged.length),
    );
    expect(seen).toEqual([subject.result('w1', 1)]);
    for (const name of forged) expect(w1.violations).toContainEqual(expect.stringContaining(`Publish to "${name}"`));
  });

  it("a worker cannot listen to another worker's run requests or pings, nor to others' inboxes", async () => {
    const w1 = await as('w1');
    for (const name of [subject.run('w2', 'w3'), subject.ping('w2'), '_INBOX.>', '_INBOX_w2.>', 'bearmon.pong.>']) w1.nc.subscribe(name);
    await w1.nc.flush().catch(() => {});
    await expect.poll(() => w1.violations.length, { timeout: timeoutFor() }).toBe(5);
    expect(w1.violations.every((v) => /Permissions Violation for Subscription/.test(v))).toBe(true);
  });

  for (const user of ['w1', 'operator']) {
    it(`${user} cannot purge, delete or remake the result log, the snapshots or the view's bucket (attack 4)`, async () => {
      const { nc } = await as(user);
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      const refused = async (what: Promise<unknown>) => expect(what).rejects.toThrow(/permission/i);
      await refused(jsm.streams.purge(STREAM));
      await refused(jsm.streams.delete(STREAM));
      await refused(jsm.streams.deleteMessage(STREAM, 1));
      await refused(jsm.streams.purge(`KV_${VIEW_BUCKET}`));
      await refused(jsm.streams.purge(SNAPSHOT_STREAM));
      // A stream whose republish would put a forged view on bearmon.view.current.
      await refused(
        jsm.streams.add({
          name: 'EVIL',
          subjects: ['evil.>'],
          retention: RetentionPolicy.Limits,
          storage: StorageType.Memory,
          republish: { src: 'evil.>', dest: 'bearmon.view.current' },
        }),
      );
      const info = await jsm.streams.info(STREAM);
      await refused(jsm.streams.update(STREAM, { ...info.config, subjects: ['bearmon.>'] }));
      // Durable consumers: neither by the named API nor by the legacy one.
      await refused(jsm.consumers.add(STREAM, { durable_name: 'evil', ack_policy: AckPolicy.None }));
      const legacy = await nc.request(`$JS.API.CONSUMER.CREATE.${STREAM}`, JSON.stringify({ stream_name: STREAM, config: { durable_name: 'evil2', ack_policy: 'none' } }));
      expect(legacy.string()).toMatch(/durable name was set/);
      // The view's KV key: no writes.
      const kv = await new Kvm(nc).open(VIEW_BUCKET);
      await refused(kv.put('current', JSON.stringify({ type: 'view', view: Number.MAX_SAFE_INTEGER, controller: null, at: new Date().toISOString() })));
      // Admin may (the control).
      const adminJsm = await jetstreamManager(admin);
      await adminJsm.streams.add({ name: `OK_${user.replace(/\W/g, '')}`, subjects: [`ok.${user}.>`], storage: StorageType.Memory });
      await adminJsm.streams.delete(`OK_${user.replace(/\W/g, '')}`);
    });
  }

  it('the operator reads the log (replay, export) but can neither vote, answer a ping, nor speak for the viewserver', async () => {
    await jetstream(admin).publish(subject.result('w1', 1), result('w1', 1), { msgID: 'perm-op-1' });
    const operator = await as('operator');
    const records = [];
    for await (const record of readLog(operator.nc, { stream: STREAM })) records.push(record.text);
    expect(records.length).toBeGreaterThanOrEqual(1);
    const forged = [subject.result('w1', 1), subject.pong('w1', 'n1'), subject.view('current'), '_INBOX.x', '_INBOX_viewserver.x'];
    for (const name of forged) operator.nc.publish(name, '{}');
    await operator.nc.flush();
    await expect.poll(() => operator.violations.length, { timeout: timeoutFor() }).toBe(forged.length);
    // It may ask the controller for status (no violation for that); a forbidden publish after it is the marker that the server has answered both.
    operator.nc.publish(subject.control('status'));
    operator.nc.publish(subject.result('w1', 2), '{}');
    await operator.nc.flush();
    await expect.poll(() => operator.violations.length, { timeout: timeoutFor() }).toBe(forged.length + 1);
    expect(operator.violations.at(-1)).toContain('Publish to "bearmon.result.w1.2"');
  });

  it("the operator cannot answer the viewserver's pings of a dead worker (attack 5)", async () => {
    const operator = await as('operator');
    // Reading bearmon.>, it never receives a ping (not delivered to it); asking for them outright is refused.
    const heard: string[] = [];
    const answer = (err: Error | null, m: { subject: string; respond(data: string): boolean } | undefined) => {
      if (err || !m) return;
      heard.push(m.subject);
      m.respond(JSON.stringify({ type: 'pong', worker: 'w2', startedAt: new Date().toISOString(), canControl: true }));
    };
    operator.nc.subscribe('bearmon.>', { callback: answer });
    operator.nc.subscribe(subject.ping('w2'), { callback: answer });
    await operator.nc.flush().catch(() => {});
    await expect.poll(() => operator.violations, { timeout: timeoutFor() }).toEqual([expect.stringContaining('Subscription to "bearmon.ping.w2"')]);
    const viewserver = await as('viewserver');
    const { createPinger, respondToPings } = await import('../../src/actors/ping-responder.ts');
    const { createLogger } = await import('../../src/log.ts');
    const pinger = await createPinger(viewserver.nc, createLogger({ level: 'fatal' }));
    onTestFinished(() => pinger.stop());
    // w2 is dead: the server says so at once; the operator heard nothing to answer.
    expect(await pinger.ping('w2', 2000)).toEqual({ ok: false, reason: 'no responders' });
    expect(heard.filter((s) => s.startsWith('bearmon.ping.'))).toEqual([]);
    // The real w2 answers (the control).
    const w2 = await as('w2');
    const responder = respondToPings({ nc: w2.nc, id: 'w2', startedAt: new Date().toISOString(), canControl: true, log: createLogger({ level: 'fatal' }) });
    onTestFinished(() => responder.stop());
    await w2.nc.flush();
    expect(await pinger.ping('w2', 2000)).toMatchObject({ ok: true, pong: { worker: 'w2' } });
  });

  it('the server refuses a message above max_payload before any bearmon process reads it', async () => {
    // A raw client (the library would refuse it locally first): the server itself says no.
    const socket = net.connect(server.port, '127.0.0.1');
    onTestFinished(() => void socket.destroy());
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    await expect.poll(() => text, { timeout: timeoutFor() }).toMatch(/^INFO .*"max_payload":131072/);
    socket.write(`CONNECT {"user":"w1","pass":"bearmon-dev-w1","verbose":false}\r\nPUB bearmon.result.w1.1 ${200 * 1024}\r\n${'x'.repeat(200 * 1024)}\r\n`);
    await expect.poll(() => text, { timeout: timeoutFor() }).toMatch(/-ERR 'Maximum Payload Violation'/);
  });

  it('no credential may answer on another subject through a reply: a worker echoing its own heartbeat cannot publish a view', async () => {
    const w1 = await as('w1');
    // w1 receives its own heartbeat (it subscribes bearmon.worker.*) and tries to "answer" it on bearmon.view.current.
    w1.nc.subscribe(subject.worker('w1'), { callback: (_e, m) => void m.respond(JSON.stringify({ type: 'view', view: Number.MAX_SAFE_INTEGER, controller: null, at: new Date().toISOString() })) });
    await w1.nc.flush();
    const seen = await seenOn(
      subject.view('current'),
      async () => {
        w1.nc.publish(subject.worker('w1'), '{}', { reply: subject.view('current') });
        await w1.nc.flush();
      },
      () => expect.poll(() => w1.violations, { timeout: timeoutFor() }).toEqual([expect.stringContaining('Publish to "bearmon.view.current"')]),
    );
    expect(seen).toEqual([]);
  });

  it("a consumer can deliver stored messages on the view subject, but a follower takes views only published there", async () => {
    const w1 = await as('w1');
    const w2 = await as('w2');
    const { followView } = await import('../../src/actors/view-follower.ts');
    const { captureLogs } = await import('../helpers/logs.ts');
    const logs = captureLogs();
    const got: number[] = [];
    const follower = followView({ nc: w2.nc, id: 'w2', log: logs.log, onView: (v) => void got.push(v.view), retryMs: 60_000 });
    onTestFinished(() => follower.stop());
    await w2.nc.flush();
    // w1 stores a forged view under its own snapshot subject, then has the server deliver that stream onto
    // bearmon.view.current (the result log itself refuses: its subjects would form a cycle).
    const forged = JSON.stringify({ type: 'view', view: Number.MAX_SAFE_INTEGER, controller: null, at: new Date().toISOString() });
    await jetstream(w1.nc).publish('bearmon.snapshot.w1.EVIL.meta', forged);
    const jsm = await jetstreamManager(w1.nc, { checkAPI: false });
    await jsm.consumers.add(SNAPSHOT_STREAM, { deliver_subject: subject.view('current'), ack_policy: AckPolicy.None, filter_subject: 'bearmon.snapshot.w1.EVIL.meta' });
    await expect.poll(() => logs.matching(/delivered on the view subject but published elsewhere/).length, { timeout: timeoutFor() }).toBeGreaterThanOrEqual(1);
    // The real view, published there by the viewserver (the control), is taken.
    const viewserver = await as('viewserver');
    viewserver.nc.publish(subject.view('current'), JSON.stringify({ type: 'view', view: 3, controller: 'w1', at: new Date().toISOString() }));
    await expect.poll(() => got, { timeout: timeoutFor() }).toEqual([3]);
  });

  it("a pinger's answer comes only on its own pong subject: no responders is seen even while an operator reads bearmon.>", async () => {
    const operator = await as('operator');
    operator.nc.subscribe('bearmon.>');
    await operator.nc.flush();
    const viewserver = await as('viewserver');
    const { createPinger } = await import('../../src/actors/ping-responder.ts');
    const { createLogger } = await import('../../src/log.ts');
    const pinger = await createPinger(viewserver.nc, createLogger({ level: 'fatal' }));
    onTestFinished(() => pinger.stop());
    // Nobody runs w3: the server says so at once, though the operator's bearmon.> matches the ping's subject.
    expect(await pinger.ping('w3', 5000)).toEqual({ ok: false, reason: 'no responders' });
    expect(operator.violations).toEqual([]);
  });

  it('a connection without credentials is refused', async () => {
    await expect(connect({ servers: `127.0.0.1:${server.port}`, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/i);
  });

  it('the view is stored by the viewserver with a message id: said again, it is kept once per duplicate window', async () => {
    const viewserver = await as('viewserver');
    const h = headers();
    h.set('Nats-Msg-Id', 'view-999');
    const before = (await (await jetstreamManager(admin)).streams.info(STREAM)).state.messages;
    for (let i = 0; i < 3; i++) viewserver.nc.publish(subject.view('current'), JSON.stringify({ type: 'view', view: 999, controller: 'w1', at: new Date().toISOString() }), { headers: h });
    await viewserver.nc.flush();
    await expect.poll(async () => (await (await jetstreamManager(admin)).streams.info(STREAM)).state.messages, { timeout: timeoutFor() }).toBe(before + 1);
    expect(viewserver.violations).toEqual([]);
  });
});
