import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { EU, PASSWORD, startWebFixture, USER } from './fixture.ts';

/** BEARMON_SCREENSHOTS=1 (npm run screenshots) writes docs/dashboard.png and docs/status-page.png; otherwise a temporary directory. */
const SHOTS = process.env.BEARMON_SCREENSHOTS === '1' ? new URL('../../docs/', import.meta.url).pathname : mkdtempSync(join(tmpdir(), 'bearmon-shots-'));

let nats: NatsServerHandle;
let browser: Browser;
beforeAll(async () => {
  [nats, browser] = await Promise.all([startNatsServer(), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await nats?.stop();
});

describe('the dashboard and the status page in Chromium', () => {
  it('logs in, shows the checks, follows a partial outage (one region refused) and a check going offline live with its confirming workers, explains the incident; the status page hides a non-public check', async () => {
    const { url, target } = await startWebFixture(nats, { loginLimit: { max: 5, windowMs: 60_000 } });
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const failures: string[] = [];
    page.on('pageerror', (err) => failures.push(err.message));
    page.on('requestfailed', (r) => failures.push(`${r.url()} ${r.failure()?.errorText}`));

    // Without a session the dashboard sends to the login page.
    await page.goto(`${url}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('input[name=user]', USER);
    await page.fill('input[name=password]', PASSWORD);
    await Promise.all([page.waitForURL(`${url}/`), page.click('button[type=submit]')]);
    await page.waitForSelector('body[data-ready=true]');

    // Every check with its name, type and state; last results of both workers.
    await page.waitForSelector('tr[data-check-id="1"][data-state="online"] .result:nth-of-type(2)');
    await page.waitForSelector('tr[data-check-id="2"][data-state="online"] .result:nth-of-type(2)');
    const rows = await page.$$eval('#checks tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(1, 4).map((td) => td.textContent!.trim())));
    expect(rows).toEqual([
      ['shop', 'http', 'online'],
      ['secret-admin', 'http', 'online'],
    ]);
    expect(await page.textContent('tr[data-check-id="1"] td:nth-child(7)')).toBe('99.50%');
    await page.waitForSelector('#workers tr[data-worker="w1"] .disagreements');
    expect(await page.$$eval('#workers tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-worker')))).toEqual(['w1', 'w2']);
    // Filter by name.
    await page.fill('#filter-name', 'secret');
    expect(await page.$$eval('#checks tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-check-id')))).toEqual(['2']);
    await page.fill('#filter-name', '');

    // From here on, every change shows without a reload.
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
    // A partial outage: the target refuses eu's worker, us's still reaches it. shop (two regions
    // needed to flip) stays online with a "partial: eu" badge, gone when eu reaches it again.
    target.refuse.add(EU.address);
    const badge = await page.waitForSelector('tr[data-check-id="1"] .state-partial');
    expect(await badge.textContent()).toBe('partial: eu');
    expect(await badge.getAttribute('title')).toMatch(/^partially down since \S+: offline from eu, online from us$/);
    expect(await page.textContent('tr[data-check-id="1"] .state:not(.state-partial)')).toMatch(/^(online|pending)$/);
    target.refuse.delete(EU.address);
    await page.waitForSelector('tr[data-check-id="1"] .state-partial', { state: 'detached' });
    await page.waitForSelector('tr[data-check-id="1"][data-state="online"]');

    // The target goes down: without a reload the row turns pending with the agreeing
    // workers, then offline.
    target.up = false;
    // Round 1 is completed by both workers at once (the second runs as soon as the first
    // disagrees); rounds 2 and 3 wait an interval each, so the row shows the last round's workers meanwhile.
    const pending = await page.waitForSelector('tr[data-check-id="1"][data-state="pending"] [data-confirmed*="w1"][data-confirmed*="w2"]');
    expect(await pending.evaluate((el) => el.closest('td')!.textContent)).toMatch(/^offline\? round [23]\/3: [01]\/2 agree \((w1|w2|–)\); round [12] confirmed by (w1, w2|w2, w1)$/);
    await page.waitForSelector('tr[data-check-id="1"][data-state="offline"]');
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);

    // The incident with its evidence (as `replay --explain` words it) and what was notified.
    await page.waitForSelector('#incidents [data-incident] pre.evidence', { state: 'attached' });
    await page.click('tr[data-check-id="1"] td.name');
    const evidence = await page.waitForSelector('#detail [data-incident] details[open] pre.evidence');
    const text = (await evidence.textContent())!;
    expect(text).toMatch(/^check 1 \(shop\) went offline at .* \(was online\): 3 round\(s\) of 2 distinct worker\(s\) disagreed, delay 2/);
    expect(text).toMatch(/w1 +eu +offline/);
    expect(text).toMatch(/w2 +us +offline/);
    expect(await page.textContent('#detail [data-incident] .notified')).toMatch(/^webhook http:\/\/127\.0\.0\.1:9: (pending|sending)/);
    await page.waitForSelector('#chart .uplot');
    await page.screenshot({ path: join(SHOTS, 'dashboard.png'), fullPage: true });

    // The public status page: uptime bars for shop, nothing of secret-admin.
    const status = await context.newPage();
    await status.goto(`${url}/status`);
    expect(await status.$$eval('.check', (els) => els.map((e) => e.getAttribute('data-check')))).toEqual(['shop']);
    expect(await status.$$eval('.check[data-check="shop"] .bar', (bars) => bars.length)).toBe(90);
    expect(await status.content()).not.toContain('secret-admin');
    expect(await status.textContent('.check[data-check="shop"] .state')).toBe('offline');
    await status.screenshot({ path: join(SHOTS, 'status-page.png'), fullPage: true });
    expect(failures).toEqual([]);

    // Another browser without a session: the API refuses, bad logins are rate-limited.
    const stranger = await browser.newContext();
    const api = await stranger.request.get(`${url}/api/checks`);
    expect(api.status()).toBe(401);
    expect(await api.json()).toEqual({ error: 'session: missing or expired; log in at /login' });
    const login = await stranger.newPage();
    await login.goto(`${url}/login`);
    let last = 0;
    let retryAfter: string | undefined;
    for (let i = 0; i < 5 && last !== 429; i++) {
      await login.fill('input[name=user]', USER);
      await login.fill('input[name=password]', 'wrong password');
      const [response] = await Promise.all([login.waitForResponse((r) => r.url() === `${url}/login` && r.request().method() === 'POST'), login.click('button[type=submit]')]);
      last = response.status();
      retryAfter = response.headers()['retry-after'];
      if (last !== 429) await login.waitForSelector('p.error[role=alert]');
    }
    // One good login and four bad ones used the five attempts: the fifth bad one is refused.
    expect(last).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    await stranger.close();
    await context.close();
  }, 90_000);
});
