import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RowDataPacket } from 'mysql2/promise';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';
import { startRoleCluster } from '../helpers/role-cluster.ts';
import { switchableTarget } from '../controller/harness.ts';

/**
 * A controller killed (kill -9, a real process) while a webhook is being sent: the POST has
 * reached the receiver, which has not answered. The successor cannot know whether it
 * arrived; a webhook carries an Idempotency-Key, so it is sent again with the same key and a
 * deduplicating receiver acts on it once.
 */
let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

/** A webhook receiver that holds its first POST unanswered (the send in flight) and answers later ones 200. */
async function holdingReceiver() {
  const posts: { key: string; at: number }[] = [];
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts.push({ key: String(req.headers['idempotency-key']), at: Date.now() });
      if (posts.length === 1) held.push(res);
      else res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, posts };
}

describe('a controller killed mid-delivery (real processes, kill -9)', () => {
  it('a webhook whose send was in flight is sent again by the successor with the same Idempotency-Key, and acted on once', async () => {
    const target = await switchableTarget();
    const receiver = await holdingReceiver();
    const { conn, views, workers, firstView } = await startRoleCluster(nats, {
      stream: 'BEARMON_CRASH',
      rows: [
        [`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('shop', 'http', ?, 1, 0)`, [JSON.stringify({ url: target.url, expect_status: 200 })]],
        [`INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', ?)`, [receiver.url]],
        [`INSERT INTO alerts (check_id, contact_id, type) VALUES (1, 1, 'offline')`],
      ],
      // An unanswered attempt is judged after 2 × notifyTimeout: short, so the test is.
      env: { BEARMON_CONTROLLER_NOTIFYTIMEOUT: '2s' },
    });
    const first = await firstView();
    await expect.poll(() => target.hits.size, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);

    target.up = false;
    // The POST is in flight (held by the receiver): now the controller dies.
    await expect.poll(() => receiver.posts.length, { timeout: 30_000 }).toBe(1);
    workers.get(first.controller!)!.child.kill('SIGKILL');
    await expect.poll(() => views.at(-1)!.view, { timeout: 20_000 }).toBeGreaterThan(first.view);

    // The successor sends it again (after 2 × notifyTimeout), with the same key; the receiver answers.
    const row = async () => (await conn.query<RowDataPacket[]>('SELECT state, attempts FROM bearmon_notifications'))[0].map((r) => ({ ...r }));
    await expect.poll(row, { timeout: 30_000, interval: 250 }).toEqual([{ state: 'delivered', attempts: 2 }]);
    expect(receiver.posts.map((p) => p.key)).toEqual([receiver.posts[0]!.key, receiver.posts[0]!.key]);
    expect(new Set(receiver.posts.map((p) => p.key)).size).toBe(1);
    const attempts = (await conn.query<RowDataPacket[]>('SELECT attempt, result FROM bearmon_notification_attempts ORDER BY attempt'))[0].map((r) => [r.attempt, r.result]);
    expect(attempts).toEqual([
      [1, 'unconfirmed'],
      [2, 'delivered'],
    ]);
  }, 120_000);
});

/** An SMTP server that takes the first mail's data and never answers it (the send in flight); later mails are accepted. */
async function holdingSmtpServer() {
  const mails: string[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        mails.push(Buffer.concat(chunks).toString('utf8'));
        if (mails.length > 1) callback();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.server.address() as AddressInfo).port, mails };
}

describe('a controller killed while a mail is being sent (real processes, kill -9)', () => {
  it('the successor does not send it again: its send had started, so the row ends unconfirmed', async () => {
    const target = await switchableTarget();
    const smtp = await holdingSmtpServer();
    // A server of its own: the other test's result log (its subjects) stays on the shared one.
    const own = await startNatsServer();
    onTestFinished(() => own.stop());
    const { conn, views, workers, firstView } = await startRoleCluster(own, {
      stream: 'BEARMON_CRASH_MAIL',
      rows: [
        [`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('shop', 'http', ?, 1, 0)`, [JSON.stringify({ url: target.url, expect_status: 200 })]],
        [`INSERT INTO contacts (id, type, data) VALUES (1, 'email', 'oncall@example.com')`],
        [`INSERT INTO alerts (check_id, contact_id, type) VALUES (1, 1, 'offline')`],
      ],
      env: { BEARMON_CONTROLLER_NOTIFYTIMEOUT: '2s', BEARMON_SMTP_HOST: '127.0.0.1', BEARMON_SMTP_PORT: String(smtp.port), BEARMON_SMTP_FROM: 'monitor@example.net' },
    });
    const first = await firstView();
    await expect.poll(() => target.hits.size, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);

    target.up = false;
    // The mail's data reached the server, which has not answered: now the controller dies.
    await expect.poll(() => smtp.mails.length, { timeout: 30_000 }).toBe(1);
    workers.get(first.controller!)!.child.kill('SIGKILL');
    await expect.poll(() => views.at(-1)!.view, { timeout: 20_000 }).toBeGreaterThan(first.view);

    const row = async () => (await conn.query<RowDataPacket[]>('SELECT state, attempts, send_started_at IS NOT NULL AS started FROM bearmon_notifications'))[0].map((r) => ({ ...r }));
    await expect.poll(row, { timeout: 30_000, interval: 250 }).toEqual([{ state: 'unconfirmed', attempts: 1, started: 1 }]);
    const attempts = (await conn.query<RowDataPacket[]>('SELECT attempt, result FROM bearmon_notification_attempts ORDER BY attempt'))[0].map((r) => [r.attempt, r.result]);
    expect(attempts).toEqual([[1, 'unconfirmed']]);
    expect(smtp.mails).toHaveLength(1);
  }, 120_000);
});

describe('a controller killed after its claim, before the send started (real processes, kill -9)', () => {
  it('the successor sends the mail, exactly once', async () => {
    const target = await switchableTarget();
    const smtp = await startSmtpServer();
    const own = await startNatsServer();
    onTestFinished(() => own.stop());
    const { conn, views, workers, firstView } = await startRoleCluster(own, {
      stream: 'BEARMON_CRASH_UNSTARTED',
      rows: [
        [`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('shop', 'http', ?, 1, 0)`, [JSON.stringify({ url: target.url, expect_status: 200 })]],
        [`INSERT INTO contacts (id, type, data) VALUES (1, 'email', 'oncall@example.com')`],
        [`INSERT INTO alerts (check_id, contact_id, type) VALUES (1, 1, 'offline')`],
        // Holds the controller between its claim and its send: marking the send start takes
        // 8 s in MySQL, so the kill below lands before that commits (and before any send).
        [`CREATE TRIGGER slow_send_start BEFORE UPDATE ON bearmon_notifications FOR EACH ROW
            BEGIN IF NEW.send_started_at IS NOT NULL AND OLD.send_started_at IS NULL THEN DO SLEEP(8); END IF; END`],
      ],
      env: { BEARMON_CONTROLLER_NOTIFYTIMEOUT: '2s', BEARMON_SMTP_HOST: '127.0.0.1', BEARMON_SMTP_PORT: String(smtp.port), BEARMON_SMTP_FROM: 'monitor@example.net' },
    });
    const first = await firstView();
    await expect.poll(() => target.hits.size, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);

    target.up = false;
    const row = async () => (await conn.query<RowDataPacket[]>('SELECT state, attempts, send_started_at IS NOT NULL AS started FROM bearmon_notifications'))[0].map((r) => ({ ...r }));
    // Claimed: the controller is now marking its send start (held by the trigger). It dies.
    await expect.poll(row, { timeout: 30_000, interval: 50 }).toEqual([{ state: 'sending', attempts: 1, started: 0 }]);
    workers.get(first.controller!)!.child.kill('SIGKILL');
    await conn.query('DROP TRIGGER slow_send_start');
    await expect.poll(() => views.at(-1)!.view, { timeout: 20_000 }).toBeGreaterThan(first.view);

    // The successor finds a claim whose send never started: it sends, under the same key.
    await expect.poll(row, { timeout: 60_000, interval: 250 }).toEqual([{ state: 'delivered', attempts: 2, started: 1 }]);
    expect(smtp.mails).toHaveLength(1);
    const key = String((await conn.query<RowDataPacket[]>('SELECT notification_key FROM bearmon_notifications'))[0][0]!.notification_key);
    expect(smtp.mails[0]!.headers['x-bearmon-notification']).toBe(key);
    const attempts = (await conn.query<RowDataPacket[]>('SELECT attempt, result FROM bearmon_notification_attempts ORDER BY attempt'))[0].map((r) => [r.attempt, r.result]);
    expect(attempts).toEqual([
      [1, 'retry'],
      [2, 'delivered'],
    ]);
  }, 150_000);
});
