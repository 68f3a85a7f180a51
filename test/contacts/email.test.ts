import { describe, expect, it } from 'vitest';
import { createContactRegistry, prepareContact, sendNotification } from '../../src/contacts/registry.ts';
import { send } from '../../src/contacts/email.ts';
import { refusedPort } from '../helpers/servers.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';
import { notification, testContext } from './fixtures.ts';

const SMTP_USER = 'bearmon';
const SMTP_PASSWORD = 'smtp-pass-Zq8x';

async function authenticatedServer(options: Parameters<typeof startSmtpServer>[0] = {}) {
  const server = await startSmtpServer({ username: SMTP_USER, password: SMTP_PASSWORD, ...options });
  const { ctx, logs } = testContext({
    smtp: { host: '127.0.0.1', port: server.port, from: 'monitor@example.net', username: SMTP_USER, password: SMTP_PASSWORD },
  });
  return { server, ctx, logs };
}

describe('email contact', () => {
  it('delivers gobearmon\'s subject and body, plus time and workers, to the contact', async () => {
    const { server, ctx, logs } = await authenticatedServer();
    const prepared = prepareContact(createContactRegistry(), 'email', 'oncall@example.com');
    if (!prepared.ok) throw new Error(prepared.message);

    const outcome = await sendNotification(prepared, notification(), ctx);

    expect(outcome).toMatchObject({ ok: true, detail: expect.stringContaining(`mail to oncall@example.com accepted by 127.0.0.1:${server.port}: 250`) });
    expect(server.logins).toEqual([{ username: SMTP_USER, password: SMTP_PASSWORD }]);
    expect(server.mails).toHaveLength(1);
    const mail = server.mails[0]!;
    expect(mail.envelopeFrom).toBe('monitor@example.net');
    expect(mail.envelopeTo).toEqual(['oncall@example.com']);
    expect(mail.headers.to).toBe('oncall@example.com');
    expect(mail.headers.from).toBe('monitor@example.net');
    expect(mail.headers.subject).toBe('Check offline: shop <front> & api');
    expect(mail.headers['message-id']).toBe('<notif-7-1793705747836-offline@bearmon>');
    expect(mail.headers['x-bearmon-notification']).toBe('notif-7-1793705747836-offline');
    expect(new Date(mail.headers.date!).toISOString()).toBe('2026-11-03T09:15:48.000Z');
    expect(mail.text.split('\n')).toEqual([
      'Check [shop <front> & api] is now offline: HTTP 503 in 4 ms',
      '',
      'ID: 7',
      'Name: shop <front> & api',
      'Type: http',
      'Data: {"url":"http://127.0.0.1:8080/health","expect_status":200}',
      'Time: 2026-11-03T09:15:47.836Z',
      'Confirmed by: probe-ams1, probe-fra2',
      'Notification: notif-7-1793705747836-offline',
      '',
      'bearmon',
    ]);
    expect(logs.matching(/notification delivered/)).toEqual([
      expect.objectContaining({ level: 'info', checkId: 7, contactType: 'email', notificationId: 'notif-7-1793705747836-offline' }),
    ]);
  });

  it('says "is now online." for a recovery', async () => {
    const { server, ctx } = await authenticatedServer();
    await send('oncall@example.com', notification({ status: 'online', message: 'HTTP 200 in 2 ms' }), ctx);
    expect(server.mails[0]!.headers.subject).toBe('Check online: shop <front> & api');
    expect(server.mails[0]!.text.split('\n')[0]).toBe('Check [shop <front> & api] is now online.');
  });

  it('retries a temporary 4xx refusal of the recipient', async () => {
    const { server, ctx } = await authenticatedServer({ rejectRecipient: () => ({ code: 451, message: 'Greylisted, try again later' }) });
    const outcome = await send('oncall@example.com', notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: true, error: expect.stringMatching(/^SMTP 127\.0\.0\.1:\d+: .*451 Greylisted, try again later/) });
    expect(server.mails).toEqual([]);
  });

  it('gives up on a permanent 5xx refusal of the recipient', async () => {
    const { server, ctx } = await authenticatedServer({ rejectRecipient: () => ({ code: 550, message: 'No such mailbox' }) });
    const outcome = await send('nobody@example.com', notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: expect.stringContaining('550 No such mailbox') });
    expect(server.mails).toEqual([]);
  });

  it('gives up on rejected credentials (535)', async () => {
    const server = await startSmtpServer({ username: SMTP_USER, password: 'another-password' });
    const { ctx } = testContext({
      smtp: { host: '127.0.0.1', port: server.port, from: 'monitor@example.net', username: SMTP_USER, password: SMTP_PASSWORD },
    });
    const outcome = await send('oncall@example.com', notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: expect.stringContaining('535') });
    expect(server.mails).toEqual([]);
  });

  it('retries when the SMTP server is down', async () => {
    const port = await refusedPort();
    const { ctx } = testContext({ smtp: { host: '127.0.0.1', port, from: 'monitor@example.net' } });
    const outcome = await send('oncall@example.com', notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: true, error: expect.stringContaining('ECONNREFUSED') });
  });

  it('gives up when [smtp] host or from is missing', async () => {
    const { ctx } = testContext({ smtp: { from: 'monitor@example.net' } });
    expect(await send('oncall@example.com', notification(), ctx)).toEqual({
      ok: false,
      retry: false,
      error: 'e-mail is not configured: [smtp] host and from are required',
    });
  });
});
