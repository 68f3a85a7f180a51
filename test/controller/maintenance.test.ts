/**
 * A maintenance window end to end (real processes: viewserver, workers, controller, MariaDB,
 * NATS): an outage inside a window is recorded but its notification held; `bearmon status`
 * marks the check, and `bearmon replay --explain` says why nobody was told.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBearmon } from '../helpers/bearmon.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { startRoleCluster } from '../helpers/role-cluster.ts';
import { startWebhookReceiver } from '../helpers/webhook.ts';
import { switchableTarget } from './harness.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

describe('maintenance windows end to end (real processes)', () => {
  it('an outage inside a window notifies nobody; status marks the check; replay --explain shows the hold', async () => {
    const target = await switchableTarget();
    const hook = await startWebhookReceiver();
    const window = { start: new Date(Date.now() - 3_600_000).toISOString(), end: new Date(Date.now() + 3_600_000).toISOString() };
    const { conn, env, firstView } = await startRoleCluster(nats, {
      stream: 'BEARMON_MAINT',
      rows: [
        [`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('shop', 'http', ?, 1, 1)`, [JSON.stringify({ url: target.url, expect_status: 200 })]],
        [`INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', ?)`, [hook.url]],
        [`INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (1, 1, 'both', 1)`],
        [`INSERT INTO bearmon_maintenance (name, check_id, kind, spec, time_zone) VALUES ('upgrade', 1, 'once', ?, 'UTC')`, [JSON.stringify(window)]],
      ],
    });
    await firstView();
    await expect.poll(() => target.hits.size, { timeout: 20_000 }).toBeGreaterThanOrEqual(1);

    target.up = false;
    const rows = async () => (await conn.query<RowDataPacket[]>('SELECT status, state, held_by, outcome FROM bearmon_notifications ORDER BY id'))[0].map((r) => ({ ...r }));
    const until = new Date(window.end).toISOString();
    // Held, and its hold told to the log (the outcome is written when it is).
    await expect.poll(rows, { timeout: 30_000, interval: 200 }).toEqual([{ status: 'offline', state: 'held', held_by: 'upgrade', outcome: `held: maintenance upgrade until ${until}` }]);
    expect(hook.posts).toEqual([]);

    const operator = { ...env, BEARMON_NATS_URL: nats.urlFor('operator') };
    const status = await runBearmon(['status'], operator);
    expect(status.stdout).toMatch(new RegExp(`^\\s*1 +shop +http +offline \\(maintenance\\) .*in maintenance upgrade until ${until.replace(/\./g, '\\.')}`, 'm'));
    expect(JSON.parse((await runBearmon(['status', '--json'], operator)).stdout).notifications).toMatchObject({ pending: 0, sending: 0, held: 1 });

    await expect
      .poll(async () => (await runBearmon(['replay', '--explain'], operator)).stdout, { timeout: 20_000, interval: 1000 })
      .toMatch(new RegExp(`notify check 1 \\(shop\\) contact 1 \\(webhook\\): held: maintenance upgrade until ${until.replace(/\./g, '\\.')}`));
    expect(hook.posts).toEqual([]);
  }, 120_000);
});
