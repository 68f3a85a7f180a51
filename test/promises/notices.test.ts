import { connect, type NatsConnection } from '@nats-io/transport-node';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { inboxPrefix } from '../../src/bus/permissions.ts';
import { setupBus } from '../../src/bus/setup.ts';
import { subject } from '../../src/bus/subjects.ts';
import { migrate } from '../../src/db/migrate.ts';
import { runBearmon, startBearmon } from '../helpers/bearmon.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { refusedPort } from '../helpers/servers.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';
import { startWebhookReceiver } from '../helpers/webhook.ts';

/**
 * README (Admin notices), end to end through `bearmon worker --controller` under its own
 * role (w1), a real MariaDB and a real SMTP server:
 *  - "notifications not queued: a transition was recorded but the notifications it owes
 *    could not be written to the outbox";
 *  - "configuration reload failed (every 10th failure in a row)";
 * and (Command line) `bearmon reload`, as the operator: it reloads now, prints the counts,
 * and exits 1 with the controller's error when the reload failed.
 */

const STREAM = 'BEARMON';
let nats: NatsServerHandle;
let admin: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer();
  // Replies come back under the asker's own inbox prefix: a worker role may answer only _INBOX_operator/_INBOX_admin.
  admin = await connect({ ...natsOptions([nats.url]), inboxPrefix: inboxPrefix('admin') });
  // What only admin may create; the roles below cannot.
  await setupBus(admin, { stream: STREAM, retentionMs: 3_600_000 });
});
afterAll(async () => {
  await admin?.close();
  await nats?.stop();
});

const operator = () => ({ BEARMON_NATS_URL: nats.urlFor('operator') });

describe('README: admin notices end to end', () => {
  it('a transition whose notifications cannot be queued is recorded, and the admin is mailed "notifications not queued"; ten failed reloads in a row mail "configuration reload failed"; `bearmon reload` reports both outcomes', async () => {
    const smtp = await startSmtpServer();
    const webhook = await startWebhookReceiver();
    const db = await freshDatabase();
    await migrate(db);
    const conn = await mysql.createConnection(db);
    onTestFinished(() => conn.end());
    const down = await refusedPort();
    await conn.query(`INSERT INTO checks (id, name, type, data, check_interval, delay, status) VALUES (1, 'down', 'tcp', ?, 1, 0, 'online')`, [
      JSON.stringify({ address: `127.0.0.1:${down}` }),
    ]);
    await conn.query(`INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', ?)`, [webhook.url]);
    await conn.query(`INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (1, 1, 'both', 1)`);
    // An outbox that refuses every row: the transition's own writes must still commit.
    await conn.query(`CREATE TRIGGER refuse_outbox BEFORE INSERT ON bearmon_notifications FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'outbox refused by the test'`);

    const worker = startBearmon(['worker', '--controller'], {
      BEARMON_NATS_URL: nats.urlFor('w1'),
      BEARMON_WORKER_ID: 'w1',
      BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
      BEARMON_CONTROLLER_CONFIRMATIONS: '1',
      // Only the test's reload requests count as failures (none of the periodic ones).
      BEARMON_CONTROLLER_RELOADINTERVAL: '86400',
      BEARMON_SMTP_HOST: '127.0.0.1',
      BEARMON_SMTP_PORT: String(smtp.port),
      BEARMON_SMTP_FROM: 'monitor@example.net',
      BEARMON_SMTP_ADMIN: 'ops-admin@example.com',
    });

    // --- notifications not queued ---
    await expect.poll(() => smtp.mails.map((m) => m.headers.subject), { timeout: 30_000, interval: 100 }).toContain('[bearmon] notifications not queued for check #1');
    const notQueued = smtp.mails.find((m) => m.headers['x-bearmon-admin-notice'] === 'outbox-failed')!;
    expect(notQueued.envelopeTo).toEqual(['ops-admin@example.com']);
    expect(notQueued.text).toContain('A transition of check #1 was recorded, but the notifications it owes could not be written to the outbox: its contacts were not notified.');
    expect(notQueued.text).toMatch(/^Error: .*outbox refused by the test/m);
    const [events] = await conn.query<RowDataPacket[]>('SELECT type FROM check_events WHERE check_id = 1');
    expect(events.map((e) => e.type)).toEqual(['offline']);
    const [[checkRow]] = await conn.query<RowDataPacket[]>('SELECT status FROM checks WHERE id = 1');
    expect(checkRow!.status).toBe('offline');
    const [[outbox]] = await conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM bearmon_notifications');
    expect(Number(outbox!.n)).toBe(0);
    const transitionKey = /^Transition: (.+)$/m.exec(notQueued.text)![1];
    expect(worker.logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'admin notice: notifications not queued for check #1', notice: expect.objectContaining({ kind: 'outbox-failed', checkId: 1, transitionKey }) }));

    // --- bearmon reload, successful: the counts ---
    await conn.query(`INSERT INTO checks (id, name, type, data, check_interval, status) VALUES (2, 'new', 'tcp', ?, 60, 'online'), (3, 'broken', 'tcp', '{}', 60, 'online')`, [
      JSON.stringify({ address: `127.0.0.1:${down}` }),
    ]);
    const reloaded = await runBearmon(['reload'], operator());
    expect(reloaded).toMatchObject({ code: 0, stdout: 'reloaded: 2 checks monitored, 1 misconfigured\n' });
    const status = await runBearmon(['status', '--json'], operator());
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).checks.map((c: { id: number; state: string }) => [c.id, c.state])).toEqual([
      [1, 'offline'],
      [2, expect.any(String)],
      [3, 'misconfigured'],
    ]);

    // --- configuration reload failed: the 10th failure in a row, not before ---
    await conn.query('RENAME TABLE checks TO checks_away');
    const failed = await runBearmon(['reload'], operator());
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toMatch(/^bearmon: reload failed: Table '.*\.checks' doesn't exist\n$/);
    for (let n = 2; n <= 10; n++) {
      const reply = (await admin.request(subject.control('reload'), '', { timeout: 10_000 })).json<{ ok: boolean; error?: string }>();
      expect(reply).toMatchObject({ ok: false, error: expect.stringContaining("doesn't exist") });
    }
    // Log lines are written in order: every failure before the 10th is logged before the notice could be.
    const failures = worker.logs.filter((l) => l.msg === 'could not load checks; monitoring goes on with the last configuration');
    expect(failures.map((l) => l.consecutive)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const noticeLines = worker.logs.filter((l) => String(l.msg).startsWith('admin notice: configuration reload failed'));
    expect(noticeLines).toEqual([expect.objectContaining({ level: 'warn', notice: expect.objectContaining({ kind: 'reload-failed', consecutive: 10 }) })]);
    expect(worker.logs.indexOf(noticeLines[0]!)).toBeGreaterThan(worker.logs.indexOf(failures[8]!));
    await expect.poll(() => smtp.mails.map((m) => m.headers.subject), { timeout: 20_000 }).toContain('[bearmon] configuration reload failed 10 time(s) in a row');
    const reloadMail = smtp.mails.find((m) => m.headers['x-bearmon-admin-notice'] === 'reload-failed')!;
    expect(reloadMail.text).toContain('Monitoring goes on with the last configuration it loaded.');
    expect(reloadMail.text).toMatch(/^Consecutive failures: 10$/m);
    expect(smtp.mails.filter((m) => m.headers['x-bearmon-admin-notice'] === 'reload-failed')).toHaveLength(1);

    // The table back, a reload succeeds again (and the count of failures starts over).
    await conn.query('RENAME TABLE checks_away TO checks');
    expect(await runBearmon(['reload'], operator())).toMatchObject({ code: 0, stdout: 'reloaded: 2 checks monitored, 1 misconfigured\n' });
    // Nothing was ever delivered for the transition whose notifications were not queued.
    expect(webhook.posts).toEqual([]);
  }, 90_000);
});
