import { describe, expect, it } from 'vitest';
import { secretForms } from '../../src/contacts/outcome.ts';
import { createContactRegistry, prepareContact, sendNotification, sendToContact } from '../../src/contacts/registry.ts';
import type { SendOutcome } from '../../src/contacts/types.ts';
import { startApiReceiver, type ApiRequestSeen } from '../helpers/api-receiver.ts';
import { refusedPort } from '../helpers/servers.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';
import { startTwilioServer, twilioClientFactory, twilioError } from '../helpers/twilio-server.ts';
import { ACCOUNT_SID, notification, testContext } from './fixtures.ts';

const SMTP_USER = 'alerts';
const SMTP_PASSWORD = 'smtp-Pa55word-e8d1c';
const AUTH_TOKEN = '5f2d0c9a8b7e6f5a4b3c2d1e0f9a8b7c';
const PAGERDUTY_KEY = 'R0a1b2c3d4e5f60718293a4b5c6d7e8f';
const OPSGENIE_KEY = '0d6b6f8e-3c59-4f5e-9a51-2f1c7d0b9e4a';
const GOTIFY_TOKEN = 'AbCdEf.123-xyz_Q';
const PUSHOVER_TOKEN = 'azGDORePK8gMaC0QOYAMyEEuzJnyUi';
const PUSHOVER_USER = 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG';
const MATRIX_TOKEN = 'syt_Ym90_abcdefghijKLMNOP_0a1B2c';

const base64 = (text: string) => Buffer.from(text).toString('base64');

describe('secrets', () => {
  it('never appear in a log line, error or outcome on any contact type\'s failure path', async () => {
    // Hostile servers: each failure reply echoes the credentials it received.
    const smtpBadLogin = await startSmtpServer({ username: SMTP_USER, password: 'not-this-one', authFailureMessage: (pw) => `Invalid password "${pw}"` });
    const smtpGreylist = await startSmtpServer({ username: SMTP_USER, password: SMTP_PASSWORD, rejectRecipient: () => ({ code: 451, message: `try later, ${SMTP_PASSWORD}` }) });
    const twilio401 = await startTwilioServer();
    twilio401.reply = (r) => twilioError(401, 20003, `Authenticate failed for ${r.authorization} (${r.username}:${r.password})`);
    const twilio500 = await startTwilioServer();
    twilio500.reply = (r) => twilioError(500, 20500, `Internal error handling token ${r.password}`);
    const down = await refusedPort();

    const registry = createContactRegistry();
    const smtp = { host: '127.0.0.1', from: 'monitor@example.net', username: SMTP_USER, password: SMTP_PASSWORD };
    const twilio = { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: '+15550001111' };
    const cases: { type: string; data: string; smtpPort?: number; twilioFactory?: ReturnType<typeof twilioClientFactory> }[] = [
      { type: 'email', data: 'oncall@example.com', smtpPort: smtpBadLogin.port },
      { type: 'email', data: 'oncall@example.com', smtpPort: smtpGreylist.port },
      { type: 'email', data: 'oncall@example.com', smtpPort: down },
      { type: 'sms', data: '+15557654321', twilioFactory: twilio401.clientFactory },
      { type: 'voice', data: '+15557654321', twilioFactory: twilio401.clientFactory },
      { type: 'sms', data: '+15557654321', twilioFactory: twilio500.clientFactory },
      { type: 'voice', data: '+15557654321', twilioFactory: twilio500.clientFactory },
      { type: 'sms', data: '+15557654321', twilioFactory: twilioClientFactory(`http://127.0.0.1:${down}`) },
      {
        type: 'voice',
        data: '+15557654321',
        twilioFactory: (_sid, token) => {
          throw new Error(`refusing token ${token}`);
        },
      },
      { type: 'http', data: `http://127.0.0.1:${down}/hook` },
      { type: 'webhook', data: `http://127.0.0.1:${down}/hook` },
    ];

    const outcomes: SendOutcome[] = [];
    const lines: unknown[] = [];
    for (const c of cases) {
      const { ctx, logs } = testContext(
        { smtp: { ...smtp, port: c.smtpPort ?? down }, twilio },
        c.twilioFactory ? { createTwilioClient: c.twilioFactory } : {},
      );
      const prepared = prepareContact(registry, c.type, c.data);
      if (!prepared.ok) throw new Error(prepared.message);
      outcomes.push(await sendNotification(prepared, notification(), ctx));
      lines.push(...logs.lines);
    }

    // Every path failed, and the hostile replies really did carry the secrets to us.
    expect(outcomes.map((o) => o.ok)).toEqual(cases.map(() => false));
    expect(smtpBadLogin.logins).toEqual([{ username: SMTP_USER, password: SMTP_PASSWORD }]);
    expect(twilio401.requests.map((r) => r.password)).toEqual([AUTH_TOKEN, AUTH_TOKEN]);
    expect(outcomes.filter((o) => !o.ok && o.error.includes('***'))).toHaveLength(7);
    expect(lines).toHaveLength(cases.length);

    const said = JSON.stringify({ outcomes, lines });
    const forms = [SMTP_PASSWORD, AUTH_TOKEN, base64(AUTH_TOKEN), base64(`${ACCOUNT_SID}:${AUTH_TOKEN}`), base64(`\0${SMTP_USER}\0${SMTP_PASSWORD}`), base64(SMTP_PASSWORD)];
    expect(secretForms({ smtp: { ...smtp, port: 25, admin: undefined, adminInterval: 900_000 }, twilio })).toEqual(expect.arrayContaining(forms));
    for (const form of forms) expect(said).not.toContain(form);
  });

  it('in contact data (API keys, tokens) never appear in a log line or outcome, even when the vendor echoes them', async () => {
    // A hostile vendor: every refusal repeats the credentials it was sent, wherever they were.
    const echo = (status: number) => (r: ApiRequestSeen) => ({ status, json: { message: `rejected ${r.headers.authorization ?? ''} ${r.headers['x-gotify-key'] ?? ''} ${r.path} ${r.text}` } });
    const refused = await startApiReceiver(echo(400));
    const broken = await startApiReceiver(echo(500));
    const down = await refusedPort();
    const registry = createContactRegistry();
    // Each type against each server: `base` is the vendor override or the self-hosted server in the data.
    const cases = [refused.url, broken.url, `http://127.0.0.1:${down}`].flatMap((base) => [
      { type: 'pagerduty', data: PAGERDUTY_KEY, base },
      { type: 'opsgenie', data: JSON.stringify({ apiKey: OPSGENIE_KEY, region: 'eu' }), base },
      { type: 'gotify', data: JSON.stringify({ server: base, token: GOTIFY_TOKEN }), base },
      { type: 'pushover', data: JSON.stringify({ token: PUSHOVER_TOKEN, user: PUSHOVER_USER }), base },
      { type: 'matrix', data: JSON.stringify({ homeserver: base, token: MATRIX_TOKEN, room: '!AbCdEf:example.org' }), base },
    ]);

    const outcomes: SendOutcome[] = [];
    const lines: unknown[] = [];
    for (const c of cases) {
      const { ctx, logs } = testContext({}, { endpoints: { [c.type]: c.base } });
      outcomes.push(await sendToContact(registry, c.type, c.data, notification(), ctx));
      lines.push(...logs.lines);
    }
    // Data that fails validation is described without its key.
    const { ctx, logs } = testContext();
    outcomes.push(await sendToContact(registry, 'pagerduty', PAGERDUTY_KEY.slice(1), notification(), ctx));
    outcomes.push(await sendToContact(registry, 'opsgenie', `{"apiKey":"${OPSGENIE_KEY}x"}`, notification(), ctx));
    outcomes.push(await sendToContact(registry, 'pushover', `{"token":"${PUSHOVER_TOKEN}","user":"${PUSHOVER_USER}x"}`, notification(), ctx));
    outcomes.push(await sendToContact(registry, 'matrix', `{"homeserver":"https://m.example.org","token":"${MATRIX_TOKEN} ","room":"!AbCdEf:example.org"}`, notification(), ctx));
    lines.push(...logs.lines);

    expect(outcomes.map((o) => o.ok)).toEqual([...cases.map(() => false), false, false, false, false]);
    const sent = refused.requests.map((r) => `${r.headers.authorization ?? ''} ${r.headers['x-gotify-key'] ?? ''} ${r.text}`).join(' ');
    const secrets = [PAGERDUTY_KEY, OPSGENIE_KEY, GOTIFY_TOKEN, PUSHOVER_TOKEN, PUSHOVER_USER, MATRIX_TOKEN];
    for (const secret of secrets) expect(sent).toContain(secret);
    // Every echo (two servers, five types) and every invalid key was masked, not dropped.
    expect(outcomes.filter((o) => !o.ok && o.error.includes('***'))).toHaveLength(13);
    const said = JSON.stringify({ outcomes, lines });
    for (const secret of [...secrets, PAGERDUTY_KEY.slice(1)]) expect(said).not.toContain(secret);
  });

  it('in chat and push contact data (webhook paths, bot tokens, topics, header values) never appear in a log line or outcome', async () => {
    const SLACK = '/services/T0123ABCD/B0456EFGH/sLaCkSeCrEt0123456789ab';
    const DISCORD = '/api/webhooks/1234567890123456789/dIsCoRdSeCrEt_abcdefghijklmnop0123456789';
    const TEAMS = '/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=TeAmSsIgNaTuRe0123456789abcdef';
    const MATTERMOST = '/hooks/mAtTeRmOsTkEy0123456789ab';
    const TELEGRAM_TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0';
    const NTFY_TOKEN = 'tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2';
    const NTFY_TOPIC = 'bearmon-ops-x7k2q9';
    const JSON_HEADER = 'jSoNhEaDeRsEcReT-0123456789';
    // A hostile receiver: every refusal repeats what it was sent, path, headers and body.
    const echo = (status: number) => (r: ApiRequestSeen) => ({ status, json: { message: `rejected ${r.path} ${r.headers.authorization ?? ''} ${r.headers['x-token'] ?? ''} ${r.text}` } });
    const refused = await startApiReceiver(echo(400));
    const broken = await startApiReceiver(echo(500));
    const down = await refusedPort();
    const registry = createContactRegistry();
    const cases = [refused.url, broken.url, `http://127.0.0.1:${down}`].flatMap((base) => [
      { type: 'slack', data: base + SLACK, base },
      { type: 'discord', data: base + DISCORD, base },
      { type: 'teams', data: base + TEAMS, base },
      { type: 'mattermost', data: base + MATTERMOST, base },
      { type: 'telegram', data: JSON.stringify({ token: TELEGRAM_TOKEN, chat_id: '-1001234567890' }), base },
      { type: 'ntfy', data: JSON.stringify({ server: base, topic: NTFY_TOPIC, token: NTFY_TOKEN }), base },
      { type: 'json', data: JSON.stringify({ url: `${base}/in?key=qUeRyKeY0123456789`, headers: { 'X-Token': JSON_HEADER } }), base },
    ]);

    const outcomes: SendOutcome[] = [];
    const lines: unknown[] = [];
    for (const c of cases) {
      const { ctx, logs } = testContext({}, { endpoints: { [c.type]: c.base } });
      outcomes.push(await sendToContact(registry, c.type, c.data, notification(), ctx));
      lines.push(...logs.lines);
    }
    // Data that fails validation is described without its secret.
    const { ctx, logs } = testContext();
    outcomes.push(await sendToContact(registry, 'telegram', JSON.stringify({ token: `${TELEGRAM_TOKEN}!`, chat_id: 1 }), notification(), ctx));
    outcomes.push(await sendToContact(registry, 'json', JSON.stringify({ url: 'http://127.0.0.1/', headers: { 'X-Token': `${JSON_HEADER}\n` } }), notification(), ctx));
    lines.push(...logs.lines);

    expect(outcomes.map((o) => o.ok)).toEqual([...cases.map(() => false), false, false]);
    const secrets = ['sLaCkSeCrEt0123456789ab', 'dIsCoRdSeCrEt_abcdefghijklmnop0123456789', 'TeAmSsIgNaTuRe0123456789abcdef', 'mAtTeRmOsTkEy0123456789ab', TELEGRAM_TOKEN, NTFY_TOKEN, NTFY_TOPIC, JSON_HEADER, 'qUeRyKeY0123456789'];
    // The hostile replies really did carry every secret back to us.
    const sent = refused.requests.map((r) => `${r.headers.authorization ?? ''} ${r.headers['x-token'] ?? ''} ${r.path} ${r.text}`).join(' ');
    for (const secret of secrets) expect(sent).toContain(secret);
    expect(outcomes.filter((o) => !o.ok && o.error.includes('***')).length).toBeGreaterThanOrEqual(14);
    const said = JSON.stringify({ outcomes, lines });
    for (const secret of secrets) expect(said).not.toContain(secret);
  });
});
