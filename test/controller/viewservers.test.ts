import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subject } from '../../src/bus/subjects.ts';
import { startBearmon, type BearmonProcess } from '../helpers/bearmon.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { startRoleCluster } from '../helpers/role-cluster.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

const took = (p: BearmonProcess, after = 0) => p.logs.slice(after).some((l) => l.msg === 'took the viewserver lease');
const standing = (p: BearmonProcess, after = 0) => p.logs.slice(after).some((l) => l.msg === 'standing by: another viewserver holds the lease');

describe('several viewservers (real processes): one active, chosen by a lease in KV', () => {
  it('kill -9 of the active one: another takes over and replaces a killed controller; a partitioned one steps down on healing; no view number ever names two controllers', async () => {
    const { admin, views, workers, viewserver: first, env, firstView } = await startRoleCluster(nats, { stream: 'BEARMON_VIEWSERVERS', rows: [] });
    // Every view said, with whoever said it (a standby answering bearmon.view.get included).
    const said: { view: number; controller: string | null }[] = [];
    admin.subscribe(subject.view('current'), { callback: (_e, m) => void (m.subject === subject.view('current') && said.push(m.json())) });
    await admin.flush();
    const start = await firstView();
    expect(took(first)).toBe(true);

    // A second viewserver, its NATS connection through a proxy the test can cut.
    const port = Number(new URL(nats.urlFor('viewserver')).port);
    const proxy = await startTcpProxy({ host: '127.0.0.1', port });
    const viaProxy = new URL(nats.urlFor('viewserver'));
    viaProxy.port = String(proxy.port);
    const second = startBearmon(['viewserver'], { ...env, BEARMON_NATS_URL: viaProxy.toString() });
    await expect.poll(() => standing(second), { timeout: 30_000 }).toBe(true);

    // kill -9 of the active viewserver: the standby takes the lease and reads the stored view.
    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    await expect.poll(() => took(second), { timeout: 20_000 }).toBe(true);
    console.log(`viewserver takeover after kill -9: ${Date.now() - killedAt} ms (log-observed)`);
    await expect.poll(() => second.logs.find((l) => l.msg === 'viewserver active'), { timeout: 20_000 }).toMatchObject({ view: start.view, controller: start.controller });

    // kill -9 of the controller: the new active viewserver names a live worker in a newer view.
    workers.get(start.controller)!.child.kill('SIGKILL');
    await expect.poll(() => views.at(-1)!.view, { timeout: 20_000 }).toBeGreaterThan(start.view);
    const next = views.at(-1)!;
    expect(next.controller).not.toBeNull();
    expect(next.controller).not.toBe(start.controller);

    // A third viewserver (direct); then the active one (second) is cut off from NATS.
    const third = startBearmon(['viewserver'], { ...env, BEARMON_NATS_URL: nats.urlFor('viewserver') });
    await expect.poll(() => standing(third), { timeout: 30_000 }).toBe(true);
    const secondBefore = second.logs.length;
    proxy.cut();
    await expect.poll(() => took(third), { timeout: 20_000 }).toBe(true);
    // Cut off, it stopped acting on its own: its lease was not renewed in time (or, if a renewal got through, was refused).
    await expect
      .poll(() => second.logs.slice(secondBefore).some((l) => /^(viewserver lease not renewed in time|another viewserver holds the lease); standing by$/.test(String(l.msg))), { timeout: 20_000 })
      .toBe(true);
    // While the partition lasts, the controller dies: only the third can name its successor.
    workers.get(next.controller!)!.child.kill('SIGKILL');
    await expect.poll(() => views.at(-1)!.view, { timeout: 20_000 }).toBeGreaterThan(next.view);
    const last = views.at(-1)!;
    expect(last.controller).not.toBeNull();
    expect([start.controller, next.controller]).not.toContain(last.controller);

    // The partition heals: the second one reconnects and stands by behind the third.
    proxy.restore();
    await expect.poll(() => second.logs.slice(secondBefore).some((l) => l.msg === 'reconnected to NATS'), { timeout: 30_000 }).toBe(true);
    await expect.poll(() => standing(second, secondBefore), { timeout: 20_000 }).toBe(true);
    expect(second.logs.slice(secondBefore).some((l) => l.msg === 'new view')).toBe(false);
    // Standbys and the active one answer a request for the view with the stored one.
    const before = said.length;
    admin.publish(subject.view('get'));
    await expect.poll(() => said.slice(before).some((v) => v.view === last.view), { timeout: 20_000 }).toBe(true);

    // The fence: no view number said with two controllers; the numbers said by the active ones only grow.
    const byNumber = new Map<number, string | null>();
    for (const v of said) {
      if (byNumber.has(v.view)) expect({ view: v.view, controller: v.controller }).toEqual({ view: v.view, controller: byNumber.get(v.view) });
      byNumber.set(v.view, v.controller);
    }
    const numbers = views.map((v) => v.view);
    expect(Math.max(...numbers)).toBe(last.view);
    expect([...new Set(numbers)]).toEqual([...new Set(numbers)].sort((a, b) => a - b));
  }, 180_000);
});
