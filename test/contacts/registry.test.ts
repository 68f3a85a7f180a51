import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { headline, mailBody, mailSubject, smsText, SMS_MAX_CHARS } from '../../src/contacts/message.ts';
import { createContactRegistry, prepareContact, sendNotification, sendToContact } from '../../src/contacts/registry.ts';
import { defineContact, type ContactType } from '../../src/contacts/types.ts';
import { callTwiml } from '../../src/contacts/voice.ts';
import { notification, testContext } from './fixtures.ts';

const registry = createContactRegistry();

describe('contact registry', () => {
  it('knows email, sms, voice, http and its alias webhook (one implementation), and the incident and push services', () => {
    expect([...registry.keys()].sort()).toEqual(['discord', 'email', 'gotify', 'http', 'json', 'matrix', 'mattermost', 'ntfy', 'opsgenie', 'pagerduty', 'pushover', 'slack', 'sms', 'teams', 'telegram', 'voice', 'webhook']);
    expect(registry.get('webhook')!.send).toBe(registry.get('http')!.send);
    expect(registry.get('webhook')!.schema).toBe(registry.get('http')!.schema);
  });

  it('refuses a duplicate type name', () => {
    const fake = defineContact({ type: 'email', schema: z.string(), send: async () => ({ ok: true, detail: '' }) });
    expect(() => createContactRegistry([...registry.values(), fake])).toThrow('duplicate contact type "email" in registry');
  });

  it('accepts good data, trimming blanks', () => {
    const email = prepareContact(registry, 'email', ' ops@example.com ');
    expect(email).toMatchObject({ ok: true, params: 'ops@example.com' });
    expect(prepareContact(registry, 'sms', '+15551234567')).toMatchObject({ ok: true, params: '+15551234567' });
    expect(prepareContact(registry, 'voice', '+442071234567')).toMatchObject({ ok: true, params: '+442071234567' });
    const hook = prepareContact(registry, 'webhook', 'https://hooks.example.com/alert?x=1');
    expect(hook.ok && (hook.params as URL).href).toBe('https://hooks.example.com/alert?x=1');
  });

  it.each([
    ['email', 'not-an-address', 'data: expected an e-mail address such as ops@example.com (value "not-an-address")'],
    ['email', 'ops@example.com\r\nBcc: all@example.com', 'data: expected an e-mail address'],
    ['sms', '555', 'data: expected an E.164 phone number such as +15551234567 (value "555")'],
    ['voice', '+1 555 123 4567', 'data: expected an E.164 phone number such as +15551234567 (value "+1 555 123 4567")'],
    ['http', 'ftp://files.example.com/hook', 'data: unsupported scheme "ftp:", expected http or https (value "ftp://files.example.com/hook")'],
    ['webhook', 'javascript:alert(1)', 'data: unsupported scheme "javascript:"'],
    ['http', 'hooks.example.com/alert', 'data: expected an absolute http:// or https:// URL (value "hooks.example.com/alert")'],
    ['sms', null, 'data: expected a string (value null)'],
    ['pager', '+15551234567', 'type: unknown contact type "pager"'],
  ])('rejects %s contact data %j naming the field', (type, data, message) => {
    const prepared = prepareContact(registry, type, data);
    expect(prepared.ok).toBe(false);
    expect(!prepared.ok && prepared.message).toContain(message);
  });
});

describe('sendNotification', () => {
  it('turns a crashing contact type into a retryable failure and logs it with the check id', async () => {
    const crashing: ContactType = defineContact({
      type: 'crash',
      schema: z.string(),
      send: async () => {
        throw new Error('boom');
      },
    });
    const { ctx, logs } = testContext();
    const outcome = await sendNotification({ ok: true, contact: crashing, params: 'x' }, notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: true, error: 'crash contact crashed: boom' });
    expect(logs.matching(/delivery failed/)).toEqual([
      expect.objectContaining({ level: 'warn', checkId: 7, notificationId: 'notif-7-1793705747836-offline', contactType: 'crash', retry: true }),
    ]);
  });
});

describe('notification text', () => {
  it('keeps gobearmon\'s subject and headline', () => {
    expect(mailSubject(notification())).toBe('Check offline: shop <front> & api');
    expect(headline(notification())).toBe('Check [shop <front> & api] is now offline: HTTP 503 in 4 ms');
    expect(headline(notification({ status: 'online', message: 'HTTP 200' }))).toBe('Check [shop <front> & api] is now online.');
  });

  it('never lets a line break in a name reach the subject', () => {
    const n = notification({ check: { ...notification().check, name: 'web\r\nBcc: x@example.com' } });
    expect(mailSubject(n)).toBe('Check offline: web Bcc: x@example.com');
  });

  it('lists id, name, type, data, time and workers in the body', () => {
    expect(mailBody(notification()).split('\n')).toEqual([
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
  });

  it('keeps SMS text within two segments', () => {
    const text = smsText(notification({ message: 'x'.repeat(1000) }));
    expect(text.length).toBe(SMS_MAX_CHARS);
    expect(text.endsWith('…')).toBe(true);
  });

  it('escapes the spoken text inside the TwiML', () => {
    expect(callTwiml(notification())).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Say>This is a monitoring call from bearmon. The check . shop &lt;front&gt; &amp; api . is now offline . Reason: HTTP 503 in 4 ms</Say></Response>',
    );
  });
});

describe('sendToContact', () => {
  it('reports bad contact data as a permanent failure naming the field, without sending', async () => {
    const { ctx, logs } = testContext();
    const outcome = await sendToContact(registry, 'sms', '555', notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: 'data: expected an E.164 phone number such as +15551234567 (value "555")' });
    expect(logs.matching(/delivery failed/)).toEqual([expect.objectContaining({ checkId: 7, contactType: 'sms', retry: false })]);
  });
});
