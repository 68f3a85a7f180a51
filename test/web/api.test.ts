import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { EU, login, PASSWORD, startWebFixture } from './fixture.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

/** An SSE stream of the API, read in the background: `opened` settles on its first event. */
function openEvents(url: string, cookie: string) {
  const controller = new AbortController();
  const events: { event: string; data: any }[] = [];
  const waiters: { until: (events: { event: string; data: any }[]) => boolean; resolve: () => void }[] = [];
  const wake = () => {
    for (const w of [...waiters]) if (w.until(events)) waiters.splice(waiters.indexOf(w), 1), w.resolve();
  };
  const done = (async () => {
    const res = await fetch(`${url}/api/events`, { headers: { Cookie: cookie }, signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
      wake();
    }
  })().catch(() => {});
  const until = (predicate: (events: { event: string; data: any }[]) => boolean) =>
    new Promise<void>((resolve) => {
      waiters.push({ until: predicate, resolve });
      wake();
    });
  return {
    events,
    /** Settles when the server ends the stream (or it is closed). */
    ended: done,
    opened: until((e) => e.length > 0),
    until,
    close: async () => {
      controller.abort();
      await done;
    },
  };
}

describe('bearmon web: the JSON API on a real cluster', () => {
  it('refuses requests without a session, validates input, streams a partial outage beginning and ending and a check going offline live, explains the incident, pauses through the CLI code', async () => {
    const { url, target, cluster } = await startWebFixture(nats);

    // No session: the API says 401 naming the session, the dashboard sends to the login page.
    for (const path of ['/api/checks', '/api/checks/1', '/api/incidents', '/api/workers', '/api/outbox', '/api/events']) {
      const res = await fetch(`${url}${path}`);
      expect(res.status, path).toBe(401);
      expect(await res.json()).toEqual({ error: 'session: missing or expired; log in at /login' });
    }
    const home = await fetch(`${url}/`, { redirect: 'manual' });
    expect(home.status).toBe(303);
    expect(home.headers.get('location')).toBe('/login');
    // A forged cookie is no session either.
    expect((await fetch(`${url}/api/checks`, { headers: { Cookie: `bearmon_session=${'A'.repeat(43)}` } })).status).toBe(401);

    // Wrong password: 401 for JSON, no cookie.
    const wrong = await fetch(`${url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: url }, body: JSON.stringify({ user: 'admin', password: 'nope' }) });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();

    const cookie = await login(url);
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`, { headers: { Cookie: cookie } });
      return { status: res.status, body: await res.json() };
    };
    const res = await fetch(`${url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: url }, body: JSON.stringify({ user: 'admin', password: PASSWORD }) });
    expect(res.headers.get('set-cookie')).toMatch(/^bearmon_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);

    // Input errors name the field and the value.
    expect(await get('/api/checks?state=bogus')).toEqual({ status: 400, body: { error: 'state: expected one of online, offline, pending, misconfigured, got "bogus"' } });
    expect(await get('/api/checks/abc')).toEqual({ status: 400, body: { error: 'id: expected a positive integer id, got "abc"' } });
    expect(await get('/api/checks?colour=red')).toEqual({ status: 400, body: { error: 'colour: unknown query parameter (expected name, state), got "red"' } });
    expect(await get('/api/checks/1/history?range=1y')).toEqual({ status: 400, body: { error: 'range: expected 24h or 7d, got "1y"' } });
    expect(await get('/api/incidents?limit=0')).toEqual({ status: 400, body: { error: 'limit: expected an integer from 1 to 500, got "0"' } });
    expect(await get('/api/checks/999')).toMatchObject({ status: 404, body: { error: expect.stringContaining('id: no check 999') } });

    // Both checks online, each with results from both workers, uptimes from the history.
    await expect
      .poll(async () => (await get('/api/checks')).body.checks.map((c: any) => [c.name, c.state, c.lastResults.length]), { timeout: 20_000, interval: 200 })
      .toEqual([
        ['shop', 'online', 2],
        ['secret-admin', 'online', 2],
      ]);
    const list = (await get('/api/checks')).body;
    expect(list.controller).toMatchObject({ reachable: true, controller: 'ctl0', confirmations: 2, quorum: true });
    expect(list.checks[0]).toMatchObject({ id: 1, name: 'shop', type: 'http', uptime: { '24h': 0.995, '7d': 0.98, '30d': 0.97, '90d': null } });
    expect(list.checks[0].lastResults.map((r: any) => r.worker).sort()).toEqual(['w1', 'w2']);
    expect(list.checks[0].lastResults[0]).toMatchObject({ status: 'online', latencyMs: expect.any(Number), at: expect.any(String) });
    const one = (await get('/api/checks/1')).body.check;
    expect(one.lastResults[0]).toMatchObject({ ageMs: expect.any(Number) });
    expect(one.nextRunInMs).toEqual(expect.any(Number));
    // No partial outage: both regions reach the target.
    expect(one).toMatchObject({ minRegions: 2, partial: null });
    expect((await get('/api/checks?name=SHOP')).body.checks.map((c: any) => c.id)).toEqual([1]);
    expect((await get('/api/checks?state=offline')).body.checks).toEqual([]);

    const history = (await get('/api/checks/1/history?range=7d')).body;
    expect(history.latency).toHaveLength(48);
    expect(history.daily).toHaveLength(90);
    const workers = (await get('/api/workers')).body;
    expect(workers.workers.map((w: any) => [w.id, w.alive, w.disagreements24h])).toEqual([
      ['w1', true, 2],
      ['w2', true, 0],
    ]);

    // A partial outage: the target refuses eu's worker, us's still reaches it. shop needs two
    // regions to flip, so it stays online, partially down from eu (the stream says so as it
    // begins, the API while it lasts); it ends when eu reaches the target again.
    const regional = openEvents(url, cookie);
    await regional.opened;
    const shop = () => regional.events.filter((e) => e.event === 'checks').flatMap((e) => e.data.changed.filter((c: any) => c.id === 1));
    target.refuse.add(EU.address);
    await regional.until(() => shop().some((c) => c.partial && c.state === 'online'));
    const began = shop().find((c) => c.partial && c.state === 'online');
    expect(began).toMatchObject({ status: 'online', minRegions: 2, partial: { down: ['eu'], up: ['us'], since: expect.any(String) } });
    expect(Date.parse(began.partial.since)).not.toBeNaN();
    const during = (await get('/api/checks/1')).body.check;
    expect(during).toMatchObject({ status: 'online', partial: began.partial });
    expect(['online', 'pending']).toContain(during.state);
    target.refuse.delete(EU.address);
    const ended = (changes: any[]) => changes.slice(changes.findIndex((c) => c.partial) + 1).find((c) => c.partial === null && c.state === 'online');
    await regional.until(() => ended(shop()) !== undefined);
    await regional.close();
    // It only ever was partial: shop never went offline, nothing was recorded.
    expect(shop().every((c) => c.status === 'online')).toBe(true);
    expect((await get('/api/checks/1')).body.check).toMatchObject({ partial: null, status: 'online' });
    expect(await cluster.checkEvents(1)).toEqual([]);

    // The target dies: the stream shows shop pending with the agreeing workers, then offline.
    const stream = openEvents(url, cookie);
    await stream.opened;
    target.up = false;
    await stream.until((events) => events.some((e) => e.event === 'checks' && e.data.changed.some((c: any) => c.id === 1 && c.state === 'offline')));
    await stream.close();
    const events = stream.events;
    const states = events.filter((e) => e.event === 'checks').flatMap((e) => e.data.changed.filter((c: any) => c.id === 1));
    expect(states.map((c: any) => c.state)).toContain('pending');
    // Round 1 completes at once (the confirmation runs as soon as a worker disagrees); rounds 2 and 3 wait an interval each.
    const pending = states.find((c: any) => c.state === 'pending' && c.pending.lastRound);
    expect(pending.pending).toMatchObject({ suspected: 'offline', of: 2, round: pending.pending.lastRound.round + 1, rounds: 3, lastRound: { of: 3 } });
    expect(pending.pending.lastRound.workers.sort()).toEqual(['w1', 'w2']);
    expect(states.at(-1)).toMatchObject({ state: 'offline', pending: null });
    expect(events.some((e) => e.event === 'bus' && e.data.family === 'transition' && e.data.checkId === 1 && e.data.to === 'offline')).toBe(true);

    // The incident: from check_events, explained like `replay --explain`, with its notification.
    await expect.poll(async () => (await get('/api/incidents?check=1')).body.incidents.length, { timeout: 10_000 }).toBe(1);
    const [incident] = (await get('/api/incidents?check=1')).body.incidents;
    expect(incident).toMatchObject({ checkId: 1, check: 'shop', to: 'offline' });
    expect(incident.evidence).toMatchObject({ from: 'online', rounds: 3, delay: 2, confirmations: 2 });
    expect(incident.evidence.explanation).toMatch(/^check 1 \(shop\) went offline at .* \(was online\): 3 round\(s\) of 2 distinct worker\(s\) disagreed, delay 2/);
    expect(incident.evidence.explanation).toMatch(/w1 +eu +offline/);
    expect(incident.evidence.explanation).toMatch(/w2 +us +offline/);
    expect(incident.notifications).toEqual([expect.objectContaining({ contactId: 1, contactType: 'webhook', contact: 'http://127.0.0.1:9', status: 'offline' })]);
    expect(JSON.stringify(incident)).not.toContain('s3cr3t');
    const detail = (await get('/api/checks/1')).body;
    expect(detail.check.state).toBe('offline');
    expect(detail.incidents.map((i: any) => i.id)).toEqual([incident.id]);
    const outbox = (await get('/api/outbox')).body;
    expect(outbox.notifications.map((n: any) => [n.checkName, n.state])).toEqual([['shop', expect.stringMatching(/pending|sending/)]]);
    // The states of maintenance windows are states the outbox view knows.
    expect(await get('/api/outbox?state=held')).toMatchObject({ status: 200, body: { notifications: [] } });
    expect((await get('/api/outbox?state=later')).body).toEqual({ error: 'state: expected one of pending, sending, delivered, failed, unconfirmed, held, skipped, got "later"' });

    // Actions refuse cross-site requests; from the site they run the CLI's writer.
    const post = (path: string, headers: Record<string, string>) => fetch(`${url}${path}`, { method: 'POST', headers: { Cookie: cookie, ...headers } });
    const noOrigin = await post('/api/checks/2/pause', {});
    expect(noOrigin.status).toBe(403);
    expect(await noOrigin.json()).toEqual({ error: 'origin: missing (a request that changes something must say where it comes from)' });
    const evil = await post('/api/checks/2/pause', { Origin: 'http://evil.example' });
    expect(evil.status).toBe(403);
    expect((await evil.json()).error).toBe(`origin: expected ${url}, got "http://evil.example" (cross-site requests are refused)`);
    expect(await cluster.query('SELECT enabled FROM checks WHERE id = 2', [])).toEqual([{ enabled: 1 }]);
    expect((await post('/api/checks/2/pause', { Origin: url })).status).toBe(200);
    expect(await cluster.query('SELECT enabled FROM checks WHERE id = 2', [])).toEqual([{ enabled: 0 }]);
    await expect.poll(async () => (await get('/api/checks')).body.checks.map((c: any) => c.id), { timeout: 10_000 }).toEqual([1]);
    expect((await get('/api/checks')).body.paused).toEqual([{ id: 2, name: 'secret-admin', type: 'http' }]);
    const resumed = await post('/api/checks/2/resume', { Origin: url });
    expect(await resumed.json()).toMatchObject({ id: 2, name: 'secret-admin', enabled: true, controller: expect.stringMatching(/^the controller reloaded: 2 checks monitored$/) });
    await expect.poll(async () => (await get('/api/checks')).body.checks.map((c: any) => c.id), { timeout: 10_000 }).toEqual([1, 2]);
    expect((await post('/api/checks/99/pause', { Origin: url })).status).toBe(404);
    expect((await post('/api/notifications/999/retry', { Origin: url })).status).toBe(404);
    const notRetried = await post(`/api/notifications/${outbox.notifications[0].id}/retry`, { Origin: url });
    expect(notRetried.status).toBe(409);
    expect((await notRetried.json()).error).toMatch(/^id: notification \d+ is (pending|sending), not retried/);

    // Logging out ends the session and its live stream.
    const live = openEvents(url, cookie);
    await live.opened;
    const out = await fetch(`${url}/logout`, { method: 'POST', headers: { Cookie: cookie, Origin: url }, redirect: 'manual' });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(/^bearmon_session=; /);
    await live.ended;
    expect((await get('/api/checks')).status).toBe(401);
  });

  it('the public status page, status.json and badges show only public checks, never check data', async () => {
    const { url, web } = await startWebFixture(nats);
    await web.live.ready;
    const page = await fetch(`${url}/status`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('data-check="shop"');
    expect(html).not.toContain('secret-admin');
    expect(html).not.toContain('127.0.0.1');
    expect(html.match(/class="bar /g)).toHaveLength(90);
    const json = await (await fetch(`${url}/status.json`)).json();
    expect(json.checks.map((c: any) => c.name)).toEqual(['shop']);
    expect(json.checks[0]).toMatchObject({ uptime: { '24h': 0.995, '90d': null } });
    expect(json.checks[0].days).toHaveLength(90);
    expect(JSON.stringify(json)).not.toMatch(/127\.0\.0\.1|token|hunter2|secret/);
    const badge = await fetch(`${url}/badge/shop/uptime-24h.svg`);
    expect(badge.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    expect(await badge.text()).toContain('>99.50%</text>');
    expect((await fetch(`${url}/badge/shop/status.svg`)).status).toBe(200);
    expect(await (await fetch(`${url}/badge/secret-admin/status.svg`)).json()).toEqual({ error: 'check: no public check "secret-admin"' });
    expect(await (await fetch(`${url}/badge/2/status.svg`)).json()).toEqual({ error: 'check: no public check "2"' });
    expect(await (await fetch(`${url}/badge/shop/size.svg`)).json()).toEqual({ error: 'kind: expected status.svg, uptime.svg or uptime-24h|7d|30d|90d.svg, got "size.svg"' });
  });

  it('repeated logins from one address are refused with 429 and Retry-After', async () => {
    const { url } = await startWebFixture(nats, { loginLimit: { max: 3, windowMs: 60_000 } });
    const attempt = () => fetch(`${url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: url }, body: JSON.stringify({ user: 'admin', password: 'guess' }) });
    for (let i = 0; i < 3; i++) expect((await attempt()).status).toBe(401);
    const limited = await attempt();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await limited.json()).error).toMatch(/^login: too many attempts from this address; try again in /);
    // Even the right password waits its turn.
    const right = await fetch(`${url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: url }, body: JSON.stringify({ user: 'admin', password: PASSWORD }) });
    expect(right.status).toBe(429);
    // A login form posted from another site is refused before the password is looked at.
    const csrf = await fetch(`${url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: 'http://evil.example' }, body: '{}' });
    expect(csrf.status).toBe(403);
  });
});
