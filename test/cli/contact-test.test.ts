import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it, onTestFinished } from 'vitest';
import { contactTestCommand, TEST_MESSAGE } from '../../src/cli/contact-test.ts';
import { loadConfig } from '../../src/config/load.ts';
import { migrate } from '../../src/db/migrate.ts';
import { ACCOUNT_SID } from '../contacts/fixtures.ts';
import { runBearmon } from '../helpers/bearmon.ts';
import { captureLogs } from '../helpers/logs.ts';
import { freshDatabase, withConnection } from '../helpers/mysql.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';
import { created, startTwilioServer, twilioError, type TwilioRequest } from '../helpers/twilio-server.ts';

type Db = Awaited<ReturnType<typeof freshDatabase>>;
type Row = [id: number, type: string | null, data: string | null];

/** A migrated test database holding these contacts rows, and its DSN in gobearmon's form. */
async function contactsDatabase(rows: Row[], { nullable = false } = {}): Promise<{ db: Db; dsn: string }> {
  const db = await freshDatabase();
  await migrate(db);
  await withConnection(db, async (c) => {
    // An older or hand-made schema may allow NULLs: the command must cope with them.
    if (nullable) await c.query('ALTER TABLE contacts MODIFY type VARCHAR(32) NULL, MODIFY data VARCHAR(512) NULL');
    if (rows.length > 0) await c.query('INSERT INTO contacts (id, type, data) VALUES ?', [rows]);
  });
  return { db, dsn: `${db.user}:${db.password ?? ''}@tcp(${db.host ?? '127.0.0.1'}:${db.port ?? 3306})/${db.database}` };
}

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  form: Record<string, string>;
}

/** A webhook receiver on a random loopback port answering every POST with `status`. */
async function startReceiver(status: number) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, form: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) });
      res.writeHead(status).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, received };
}

const testForm = { check_id: '0', name: 'bearmon contact test', type: 'test', data: '', status: 'offline', message: TEST_MESSAGE };

describe('bearmon contact test (the binary)', () => {
  it('mails an e-mail contact through the configured SMTP server and exits 0', async () => {
    const smtp = await startSmtpServer();
    const { dsn } = await contactsDatabase([[1, 'email', ' ops@example.com ']]);

    const { code, stdout, stderr } = await runBearmon(['contact', 'test', '1'], {
      BEARMON_CONTROLLER_DATABASE: dsn,
      BEARMON_SMTP_HOST: '127.0.0.1',
      BEARMON_SMTP_PORT: String(smtp.port),
      BEARMON_SMTP_FROM: 'bearmon@example.com',
    });

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(new RegExp(`^contact 1 \\(email\\): delivered: mail to ops@example\\.com accepted by 127\\.0\\.0\\.1:${smtp.port}: 250 [^\\n]*\\n$`));
    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0]!;
    expect(mail.envelopeFrom).toBe('bearmon@example.com');
    expect(mail.envelopeTo).toEqual(['ops@example.com']);
    expect(mail.headers.subject).toBe('Check offline: bearmon contact test');
    expect(mail.headers['x-bearmon-notification']).toMatch(/^test-1-\d+$/);
    expect(mail.text).toContain(`Check [bearmon contact test] is now offline: ${TEST_MESSAGE}`);
  });

  it('never prints the SMTP password, even when the server echoes it', async () => {
    const password = 'hunter2-not-the-password';
    const smtp = await startSmtpServer({ username: 'bearmon', password: 'the-right-one', authFailureMessage: (sent) => `bad credentials ${sent}` });
    const { dsn } = await contactsDatabase([[1, 'email', 'ops@example.com']]);

    const { code, stdout, stderr } = await runBearmon(['contact', 'test', '1'], {
      BEARMON_CONTROLLER_DATABASE: dsn,
      BEARMON_SMTP_HOST: '127.0.0.1',
      BEARMON_SMTP_PORT: String(smtp.port),
      BEARMON_SMTP_FROM: 'bearmon@example.com',
      BEARMON_SMTP_USERNAME: 'bearmon',
      BEARMON_SMTP_PASSWORD: password,
    });

    expect(smtp.logins).toEqual([{ username: 'bearmon', password }]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^contact 1 \(email\): failed \(will not succeed on retry\): SMTP 127\.0\.0\.1:\d+: .*bad credentials \*\*\*/);
    expect(stdout + stderr).not.toContain(password);
    expect(smtp.mails).toEqual([]);
  });

  it('POSTs the form to a webhook answering 200, with an Idempotency-Key, and exits 0', async () => {
    const receiver = await startReceiver(200);
    const { dsn } = await contactsDatabase([[2, 'webhook', `${receiver.url}/hooks/bearmon?team=ops`]]);

    const { code, stdout, stderr } = await runBearmon(['contact', 'test', '2'], { BEARMON_CONTROLLER_DATABASE: dsn });

    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: `contact 2 (webhook): delivered: webhook ${receiver.host} answered HTTP 200\n`, stderr: '' });
    expect(receiver.received).toHaveLength(1);
    const request = receiver.received[0]!;
    expect(request.path).toBe('/hooks/bearmon?team=ops');
    expect(request.headers['idempotency-key']).toMatch(/^test-2-\d+$/);
    expect(request.form).toEqual(testForm);
  });

  it('exits 1 when the webhook answers 404, saying it is not retried', async () => {
    const receiver = await startReceiver(404);
    const { dsn } = await contactsDatabase([[3, 'http', `${receiver.url}/gone`]]);

    const { code, stdout } = await runBearmon(['contact', 'test', '3'], { BEARMON_CONTROLLER_DATABASE: dsn });

    expect(code).toBe(1);
    expect(stdout).toBe(`contact 3 (http): failed (will not succeed on retry): webhook ${receiver.host} answered HTTP 404\n`);
    expect(receiver.received).toHaveLength(1);
  });

  it.each([
    [200, 0, { ok: true, retry: false }, 'detail'],
    [503, 1, { ok: false, retry: true }, 'error'],
  ] as const)('--json prints one object (webhook answering %i)', async (status, exitCode, expected, textField) => {
    const receiver = await startReceiver(status);
    const { dsn } = await contactsDatabase([[4, 'webhook', receiver.url]]);

    const { code, stdout } = await runBearmon(['contact', 'test', '4', '--json'], { BEARMON_CONTROLLER_DATABASE: dsn });

    expect(code).toBe(exitCode);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(stdout)).toEqual({ contactId: 4, type: 'webhook', ...expected, [textField]: `webhook ${receiver.host} answered HTTP ${status}` });
  });

  it('exits 2 for an id that is not in contacts', async () => {
    const { dsn } = await contactsDatabase([[1, 'email', 'ops@example.com']]);
    const text = await runBearmon(['contact', 'test', '42'], { BEARMON_CONTROLLER_DATABASE: dsn });
    expect(text).toEqual({ code: 2, stdout: 'contact 42: no such contact\n', stderr: '' });
    const json = await runBearmon(['contact', 'test', '42', '--json'], { BEARMON_CONTROLLER_DATABASE: dsn });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({ contactId: 42, ok: false, error: 'no such contact', retry: false });
  });

  it.each(['abc', '0', '1.5', '99999999999'])('exits 2 for the id %j, naming it, without touching MySQL', async (id) => {
    // The DSN points nowhere usable: a database error would be exit 3.
    const { code, stdout, stderr } = await runBearmon(['contact', 'test', id], { BEARMON_CONTROLLER_DATABASE: 'bearmon:x@tcp(127.0.0.1:1)/none' });
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toBe(`bearmon: contact id: expected a positive integer (value ${JSON.stringify(id)})\n`);
  });

  it('exits 2 for rows the contact type cannot use, naming the contact, the field and the value', async () => {
    const { dsn } = await contactsDatabase([
      [10, 'email', 'not-an-address'],
      [11, 'sms', '555'],
      [12, 'webhook', 'ftp://files.example.com/drop'],
      [13, 'pager', '+15551234567'],
    ]);
    const run = async (id: number) => {
      const { code, stdout, stderr } = await runBearmon(['contact', 'test', String(id)], { BEARMON_CONTROLLER_DATABASE: dsn });
      expect({ code, stderr }).toEqual({ code: 2, stderr: '' });
      return stdout;
    };

    expect(await run(10)).toBe('contact 10 (email): data: expected an e-mail address such as ops@example.com (value "not-an-address")\n');
    expect(await run(11)).toBe('contact 11 (sms): data: expected an E.164 phone number such as +15551234567 (value "555")\n');
    expect(await run(12)).toBe('contact 12 (webhook): data: unsupported scheme "ftp:", expected http or https (value "ftp://files.example.com/drop")\n');
    expect(await run(13)).toBe('contact 13 (pager): type: unknown contact type "pager"\n');

    const json = await runBearmon(['contact', 'test', '11', '--json'], { BEARMON_CONTROLLER_DATABASE: dsn });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({
      contactId: 11,
      type: 'sms',
      ok: false,
      error: 'data: expected an E.164 phone number such as +15551234567 (value "555")',
      retry: false,
    });
  });

  it('exits 3 when no database can be reached, naming it without its password', async () => {
    const { code, stdout, stderr } = await runBearmon(['contact', 'test', '1'], { BEARMON_CONTROLLER_DATABASE: 'bearmon:s3cret-pw@tcp(127.0.0.1:1)/none' });
    expect({ code, stdout }).toEqual({ code: 3, stdout: '' });
    expect(stderr).toMatch(/^bearmon: contact 1: cannot read the contacts table: no database reachable: bearmon:\*\*\*@tcp\(127\.0\.0\.1:1\)\/none: .*ECONNREFUSED/);
    expect(stderr).not.toContain('s3cret-pw');
  });
});

describe('contactTestCommand (in-process, Twilio on a local server)', () => {
  const AUTH_TOKEN = 'twilio-auth-token-0123456789';

  async function setup(rows: Row[], options: { nullable?: boolean } = {}) {
    const twilio = await startTwilioServer();
    const { db, dsn } = await contactsDatabase(rows, options);
    const { config } = loadConfig({
      env: {
        BEARMON_CONTROLLER_DATABASE: dsn,
        BEARMON_TWILIO_ACCOUNTSID: ACCOUNT_SID,
        BEARMON_TWILIO_AUTHTOKEN: AUTH_TOKEN,
        BEARMON_TWILIO_FROM: '+15550001111',
      },
    });
    const out: string[] = [];
    const err: string[] = [];
    const logs = captureLogs();
    const run = (id: string, json = false) =>
      contactTestCommand(id, { json }, { config, log: logs.log, context: { createTwilioClient: twilio.clientFactory }, out: (l) => out.push(l), err: (l) => err.push(l) });
    return { twilio, db, out, err, logs, run };
  }

  /** Replies like Twilio and remembers the SIDs it handed out. */
  function recordSids(twilio: { reply: (r: TwilioRequest) => ReturnType<typeof created> }) {
    const sids: string[] = [];
    twilio.reply = (request) => {
      const reply = created(request);
      sids.push((reply.body as { sid: string }).sid);
      return reply;
    };
    return sids;
  }

  async function charges(db: Db): Promise<number> {
    return withConnection(db, async (c) => Number((await c.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM charges'))[0][0]!.n));
  }

  it('sends an SMS and prints its SID, saying the test is not charged to charges', async () => {
    const { twilio, db, out, err, logs, run } = await setup([[20, 'sms', '+15551234567']]);
    const sids = recordSids(twilio);

    expect(await run('20')).toBe(0);

    expect(twilio.requests).toHaveLength(1);
    expect(twilio.requests[0]).toMatchObject({
      method: 'POST',
      path: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`,
      username: ACCOUNT_SID,
      password: AUTH_TOKEN,
      form: { To: '+15551234567', From: '+15550001111', Body: `Check [bearmon contact test] is now offline: ${TEST_MESSAGE}` },
    });
    expect(sids).toHaveLength(1);
    expect(out).toEqual([`contact 20 (sms): delivered: SMS to +15551234567 accepted by Twilio as ${sids[0]} (a test send is not recorded in charges)`]);
    expect(err).toEqual([]);
    expect(await charges(db)).toBe(0);
    expect(logs.matching(/notification delivered/)).toEqual([
      expect.objectContaining({ contactId: 20, checkId: 0, contactType: 'sms', notificationId: expect.stringMatching(/^test-20-\d+$/) }),
    ]);
    expect(JSON.stringify(logs.lines)).not.toContain(AUTH_TOKEN);
  });

  it('--json carries the voice call\'s charge, marked as not recorded', async () => {
    const { twilio, db, out, run } = await setup([[21, 'voice', '+15557654321']]);
    const sids = recordSids(twilio);

    expect(await run('21', true)).toBe(0);

    expect(twilio.requests.map((r) => r.path)).toEqual([`/2010-04-01/Accounts/${ACCOUNT_SID}/Calls.json`]);
    expect(twilio.requests[0]!.form.Twiml).toContain('bearmon contact test');
    expect(out).toHaveLength(1);
    expect(JSON.parse(out[0]!)).toEqual({
      contactId: 21,
      type: 'voice',
      ok: true,
      detail: `call to +15557654321 accepted by Twilio as ${sids[0]}`,
      retry: false,
      charge: { type: 'voice', sid: sids[0] },
      chargeRecorded: false,
    });
    expect(await charges(db)).toBe(0);
  });

  it('exits 1 on Twilio\'s 400 / 21211, keeping its message, not retried', async () => {
    const { twilio, out, run } = await setup([[22, 'sms', '+15005550001']]);
    twilio.reply = () => twilioError(400, 21211, "The 'To' number +15005550001 is not a valid phone number.");

    expect(await run('22')).toBe(1);

    expect(twilio.requests).toHaveLength(1);
    expect(out).toEqual([
      "contact 22 (sms): failed (will not succeed on retry): Twilio error 21211 (HTTP 400): The 'To' number +15005550001 is not a valid phone number. (https://www.twilio.com/docs/errors/21211)",
    ]);
    expect(out.join('\n')).not.toContain(AUTH_TOKEN);
  });

  it('exits 2 for NULL type or data (an older schema allows them), sending nothing', async () => {
    const { twilio, out, run } = await setup(
      [
        [30, 'sms', null],
        [31, null, '+15551234567'],
      ],
      { nullable: true },
    );

    expect(await run('30')).toBe(2);
    expect(await run('31')).toBe(2);

    expect(out).toEqual(['contact 30 (sms): data: expected a string (value null)', 'contact 31 (null): type: expected a string (value null)']);
    expect(twilio.requests).toEqual([]);
  });
});
