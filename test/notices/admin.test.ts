import { describe, expect, it } from 'vitest';
import { createAdminNotifier } from '../../src/notices/admin.ts';
import type { AdminNotice } from '../../src/notices/types.ts';
import { testContext } from '../contacts/fixtures.ts';
import { refusedPort } from '../helpers/servers.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';

const SMTP_USER = 'bearmon';
const SMTP_PASSWORD = 'smtp-pass-Qa7w';
const ADMIN = 'ops-admin@example.com';
const FROM = 'monitor@example.net';
const MIN = 60_000;

const failed = (contactId: number): Extract<AdminNotice, { kind: 'notification-failed' }> => ({
  kind: 'notification-failed',
  checkId: 7,
  checkName: 'web',
  contactId,
  contactType: 'email',
  notificationId: `notif-7-${contactId}`,
  attempts: 8,
  error: 'SMTP 127.0.0.1:25: 451 try later',
});

function smtpConfig(port: number, extra: Record<string, unknown> = {}) {
  return { smtp: { host: '127.0.0.1', port, from: FROM, admin: ADMIN, username: SMTP_USER, password: SMTP_PASSWORD, ...extra } };
}

describe('admin notifier', () => {
  it('mails a quorum-lost notice to the admin with the facts and the time, and logs it', async () => {
    const server = await startSmtpServer({ username: SMTP_USER, password: SMTP_PASSWORD });
    const { ctx, logs } = testContext(smtpConfig(server.port));
    const notifier = createAdminNotifier({ ctx, log: logs.log });

    notifier.notify({ kind: 'quorum-lost', alive: 1, confirmations: 2 });
    await notifier.idle();

    expect(server.mails).toHaveLength(1);
    const mail = server.mails[0]!;
    expect(mail.envelopeFrom).toBe(FROM);
    expect(mail.envelopeTo).toEqual([ADMIN]);
    expect(mail.headers.to).toBe(ADMIN);
    expect(mail.headers.subject).toBe('[bearmon] quorum lost: 1 live worker(s), confirmations 2');
    expect(mail.headers['x-bearmon-admin-notice']).toBe('quorum-lost');
    expect(new Date(mail.headers.date!).toISOString()).toBe('2026-11-03T09:15:48.000Z');
    expect(mail.text.split('\n')).toEqual([
      'Quorum lost: 1 live worker(s), but a change of state needs 2 confirmations from distinct workers. No check can go offline or online until enough workers are back.',
      '',
      'Kind: quorum-lost',
      'Live workers: 1',
      'Confirmations: 2',
      'Time: 2026-11-03T09:15:48.000Z',
      '',
      'Rate limit: the same notice is mailed at most once per 15 min, and at most 10 admin mails go out per 15 min; what is held back is logged and counted in the next mail.',
      '',
      'bearmon',
    ]);
    expect(logs.matching(/^admin notice: /)).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'admin notice: quorum lost: 1 live worker(s), confirmations 2',
        notice: { kind: 'quorum-lost', alive: 1, confirmations: 2 },
        mail: 'sending',
      }),
    ]);
    expect(logs.matching(/^admin notice mailed$/)).toEqual([expect.objectContaining({ level: 'info', kind: 'quorum-lost', to: ADMIN, attempt: 1 })]);
  });

  it('turns a storm of 50 failed notifications into at most maxPerWindow mails, and reports the rest later', async () => {
    const server = await startSmtpServer();
    const { ctx, logs } = testContext(smtpConfig(server.port, { username: undefined, password: undefined }));
    let clock = Date.parse('2026-11-03T09:00:00Z');
    const notifier = createAdminNotifier({ ctx, log: logs.log, now: () => clock });

    for (let contact = 1; contact <= 50; contact++) notifier.notify(failed(contact));
    await notifier.idle();

    expect(server.mails).toHaveLength(10);
    expect(server.mails.map((m) => m.headers.subject).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `[bearmon] notification failed: check web (#7) to email contact #${i + 1}`).sort(),
    );
    expect(server.mails[0]!.text).toContain('Contact: #');
    expect(server.mails[0]!.text).toContain('Error: SMTP 127.0.0.1:25: 451 try later');
    const noticeLines = logs.matching(/^admin notice: notification failed/);
    expect(noticeLines).toHaveLength(50);
    expect(noticeLines.filter((l) => l.mail === 'held')).toHaveLength(40);
    expect(noticeLines.at(-1)).toMatchObject({ level: 'warn', mail: 'held', reason: 'cap', held: { 'notification-failed': 40 } });

    // Still within the interval: held too.
    clock += 14 * MIN;
    notifier.notify({ kind: 'reload-failed', consecutive: 10, error: 'ECONNREFUSED 127.0.0.1:3306' });
    await notifier.idle();
    expect(server.mails).toHaveLength(10);

    clock += 1 * MIN;
    notifier.notify({ kind: 'quorum-lost', alive: 0, confirmations: 2 });
    await notifier.idle();
    expect(server.mails).toHaveLength(11);
    const later = server.mails[10]!;
    expect(later.headers.subject).toBe('[bearmon] quorum lost: 0 live worker(s), confirmations 2');
    expect(later.text).toContain(['Held back since the last admin mail:', '  reload-failed: 1', '  notification-failed: 40'].join('\n'));
  });

  it('retries a mail while SMTP is down, then logs an error without throwing or leaking the password', async () => {
    const { ctx, logs } = testContext(smtpConfig(await refusedPort()));
    const notifier = createAdminNotifier({ ctx, log: logs.log, retryDelaysMs: [1, 2] });

    expect(() => notifier.notify({ kind: 'reload-failed', consecutive: 10, error: `login with ${SMTP_PASSWORD} refused` })).not.toThrow();
    await notifier.idle();

    expect(logs.matching(/^admin notice mail failed; trying again$/).map((l) => l.attempt)).toEqual([1, 2]);
    expect(logs.matching(/^admin notice could not be mailed$/)).toEqual([
      expect.objectContaining({ level: 'error', kind: 'reload-failed', to: ADMIN, attempts: 3, error: expect.stringContaining('ECONNREFUSED') }),
    ]);
    expect(logs.matching(/^admin notice: /)[0]).toMatchObject({ notice: { error: 'login with *** refused' } });
    expect(JSON.stringify(logs.lines)).not.toContain(SMTP_PASSWORD);
  });

  it('does not retry a rejected login, and redacts the password the server echoes', async () => {
    const server = await startSmtpServer({ username: SMTP_USER, password: 'the-right-one', authFailureMessage: (password) => `bad password ${password}` });
    const { ctx, logs } = testContext(smtpConfig(server.port));
    const notifier = createAdminNotifier({ ctx, log: logs.log, retryDelaysMs: [1, 2] });

    notifier.notify({ kind: 'no-controller', previous: 'w1' });
    await notifier.idle();

    expect(server.logins).toEqual([{ username: SMTP_USER, password: SMTP_PASSWORD }]);
    expect(server.mails).toEqual([]);
    const errors = logs.matching(/^admin notice could not be mailed$/);
    expect(errors).toEqual([expect.objectContaining({ level: 'error', attempts: 1, error: expect.stringContaining('bad password ***') })]);
    expect(JSON.stringify(logs.lines)).not.toContain(SMTP_PASSWORD);
  });

  it('keeps the subject on one line whatever the check name holds', async () => {
    const server = await startSmtpServer();
    const { ctx, logs } = testContext(smtpConfig(server.port, { username: undefined, password: undefined }));
    const notifier = createAdminNotifier({ ctx, log: logs.log });

    notifier.notify({ ...failed(3), checkName: 'web\r\nBcc: victim@example.org' });
    await notifier.idle();

    expect(server.mails).toHaveLength(1);
    expect(server.mails[0]!.envelopeTo).toEqual([ADMIN]);
    expect(server.mails[0]!.headers.bcc).toBeUndefined();
    expect(server.mails[0]!.headers.subject).toBe('[bearmon] notification failed: check web Bcc: victim@example.org (#7) to email contact #3');
  });

  it('only logs when [smtp] admin is unset, and says so once', async () => {
    const server = await startSmtpServer();
    const { ctx, logs } = testContext(smtpConfig(server.port, { admin: undefined, username: undefined, password: undefined }));
    const notifier = createAdminNotifier({ ctx, log: logs.log });

    notifier.notify({ kind: 'quorum-lost', alive: 1, confirmations: 2 });
    notifier.notify({ kind: 'no-controller', previous: null });
    await notifier.idle();

    expect(server.mails).toEqual([]);
    expect(logs.matching(/^admin notice: /)).toEqual([
      expect.objectContaining({ level: 'warn', notice: { kind: 'quorum-lost', alive: 1, confirmations: 2 }, mail: 'off' }),
      expect.objectContaining({ level: 'warn', msg: 'admin notice: no controller: no candidate alive', notice: { kind: 'no-controller', previous: null }, mail: 'off' }),
    ]);
    expect(logs.matching(/^admin notices are only logged/)).toEqual([expect.objectContaining({ level: 'warn', admin: null, host: '127.0.0.1' })]);
  });

  it('only logs when [smtp] host is unset', async () => {
    const { ctx, logs } = testContext({ smtp: { admin: ADMIN, from: FROM } });
    const notifier = createAdminNotifier({ ctx, log: logs.log });

    notifier.notify({ kind: 'quorum-restored', alive: 3 });
    await notifier.idle();

    expect(logs.matching(/^admin notice: quorum restored: 3 live worker\(s\)$/)).toEqual([expect.objectContaining({ mail: 'off' })]);
    expect(logs.matching(/^admin notices are only logged/)).toHaveLength(1);
  });
});
