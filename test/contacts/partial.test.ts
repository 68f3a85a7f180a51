/**
 * Partial outage notifications (issue 17) as the contacts say them: headline, subject, SMS,
 * voice and detail lines; PagerDuty and Opsgenie under their own key (never the check's
 * outage incident); json webhooks with `partial` in the body and template variables.
 */
import { describe, expect, it } from 'vitest';
import { detailLines, headline, mailBody, mailSubject, smsText, voiceText } from '../../src/contacts/message.ts';
import { alertAlias, schema as opsgenieSchema, send as sendOpsgenie } from '../../src/contacts/opsgenie.ts';
import { dedupKey, send as sendPagerduty } from '../../src/contacts/pagerduty.ts';
import { webhookFields } from '../../src/contacts/http.ts';
import { startApiReceiver } from '../helpers/api-receiver.ts';
import { sendVia, startVendorServer } from '../helpers/vendor-server.ts';
import { notification, testContext } from './fixtures.ts';

const began = notification({
  id: 'partial:7:1793705747836:began/3',
  partial: { phase: 'began', down: ['eu-west'], up: ['us-east', 'ap-south'] },
});
const ended = notification({
  id: 'partial:7:1793706047836:ended/3',
  status: 'online',
  message: 'HTTP 200 in 3 ms',
  at: new Date('2026-11-03T09:20:47.836Z'),
  offlineSince: new Date('2026-11-03T09:15:47.836Z'),
  partial: { phase: 'ended', down: [], up: ['eu-west', 'us-east', 'ap-south'] },
});

describe('partial outage messages', () => {
  it('began: names the regions that see it offline and those that see it online', () => {
    expect(headline(began)).toBe('Check [shop <front> & api] is partially down: offline from eu-west (online from us-east, ap-south): HTTP 503 in 4 ms');
    expect(smsText(began)).toBe(headline(began));
    expect(mailSubject(began)).toBe('Check partially down: shop <front> & api');
    expect(voiceText(began)).toBe('This is a monitoring call from bearmon. The check . shop <front> & api . is partially down . offline from eu-west . Reason: HTTP 503 in 4 ms');
    expect(detailLines(began)).toEqual([
      'Time: 2026-11-03T09:15:47.836Z',
      'Offline from: eu-west',
      'Online from: us-east, ap-south',
      'Confirmed by: probe-ams1, probe-fra2',
      'Notification: partial:7:1793705747836:began/3',
    ]);
    expect(mailBody(began).split('\n')).toContain('Offline from: eu-west');
  });

  it('ended: online from every region again, with how long it lasted', () => {
    expect(headline(ended)).toBe('Check [shop <front> & api] is no longer partially down: online from every region again (partially down for 5m).');
    expect(headline({ ...ended, offlineSince: undefined })).toBe('Check [shop <front> & api] is no longer partially down: online from every region again.');
    expect(mailSubject(ended)).toBe('Check no longer partially down: shop <front> & api');
    expect(voiceText(ended)).toBe('This is a monitoring call from bearmon. The check . shop <front> & api . is no longer partially down.');
  });

  it('a status notification reads as before', () => {
    expect(headline(notification())).toBe('Check [shop <front> & api] is now offline: HTTP 503 in 4 ms');
    expect(mailSubject(notification())).toBe('Check offline: shop <front> & api');
    expect(detailLines(notification())).toHaveLength(3);
    expect(webhookFields(notification())).not.toHaveProperty('partial');
  });
});

describe('partial outage incidents', () => {
  const ROUTING_KEY = 'R0a1b2c3d4e5f60718293a4b5c6d7e8f';

  it('PagerDuty: triggers and resolves under bearmon-check-<id>-partial, never the check\'s own dedup key', async () => {
    const receiver = await startApiReceiver((r) => ({ status: 202, json: { status: 'success', message: 'Event processed', dedup_key: (r.body as { dedup_key: string }).dedup_key } }));
    const { ctx } = testContext({}, { endpoints: { pagerduty: receiver.url } });
    expect(dedupKey(began)).toBe('bearmon-check-7-partial');
    expect(dedupKey(notification())).toBe('bearmon-check-7');
    expect(await sendPagerduty(ROUTING_KEY, began, ctx)).toMatchObject({ ok: true, detail: expect.stringContaining('PagerDuty trigger') });
    expect(await sendPagerduty(ROUTING_KEY, ended, ctx)).toMatchObject({ ok: true, detail: expect.stringContaining('PagerDuty resolve') });
    const [trigger, resolve] = receiver.requests.map((r) => r.body as Record<string, unknown>);
    expect(trigger).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'bearmon-check-7-partial',
      payload: { summary: headline(began), custom_details: { offline_from: ['eu-west'], online_from: ['us-east', 'ap-south'] } },
    });
    expect(resolve).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'bearmon-check-7-partial' });
  });

  it('Opsgenie: creates and closes the alert aliased bearmon-check-<id>-partial', async () => {
    const receiver = await startApiReceiver(() => ({ status: 202, json: { result: 'Request will be processed', took: 0.1, requestId: 'r-1' } }));
    const { ctx } = testContext({}, { endpoints: { opsgenie: receiver.url } });
    const data = opsgenieSchema.parse(JSON.stringify({ apiKey: '0d6b6f8e-3c59-4f5e-9a51-2f1c7d0b9e4a' }));
    expect(alertAlias(began)).toBe('bearmon-check-7-partial');
    expect(await sendOpsgenie(data, began, ctx)).toMatchObject({ ok: true });
    expect(await sendOpsgenie(data, ended, ctx)).toMatchObject({ ok: true });
    expect(receiver.requests.map((r) => r.path)).toEqual(['/v2/alerts', '/v2/alerts/bearmon-check-7-partial/close?identifierType=alias']);
    expect(receiver.requests[0]!.body).toMatchObject({ alias: 'bearmon-check-7-partial', details: { offline_from: 'eu-west', online_from: 'us-east, ap-south' } });
  });
});

describe('partial outage webhooks', () => {
  it('json: the default body carries partial, and templates may name partial, down_regions and up_regions', async () => {
    const receiver = await startVendorServer(() => ({ status: 200 }));
    const { ctx } = testContext();
    const template = '{"text": "{{headline}}", "phase": "{{#partial}}{{phase}}{{/partial}}", "down": [{{#down_regions}}"{{.}}",{{/down_regions}} null], "up": [{{#up_regions}}"{{.}}",{{/up_regions}} null]}';
    expect(await sendVia('json', JSON.stringify({ url: receiver.url }), began, ctx)).toMatchObject({ ok: true });
    expect(await sendVia('json', JSON.stringify({ url: receiver.url, body: template }), began, ctx)).toMatchObject({ ok: true });
    expect(await sendVia('json', JSON.stringify({ url: receiver.url, body: template }), notification(), ctx)).toMatchObject({ ok: true });
    expect(receiver.requests[0]!.json).toMatchObject({ status: 'offline', partial: { phase: 'began', down: ['eu-west'], up: ['us-east', 'ap-south'] } });
    expect(receiver.requests[1]!.json).toEqual({ text: headline(began), phase: 'began', down: ['eu-west', null], up: ['us-east', 'ap-south', null] });
    expect(receiver.requests[2]!.json).toEqual({ text: headline(notification()), phase: '', down: [null], up: [null] });
  });

  it('http/webhook form: a partial field with the JSON', () => {
    expect(webhookFields(ended)).toMatchObject({ status: 'online', partial: '{"phase":"ended","down":[],"up":["eu-west","us-east","ap-south"]}' });
  });
});
