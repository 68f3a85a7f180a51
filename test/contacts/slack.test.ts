import { describe, expect, it } from 'vitest';
import { createContactRegistry, prepareContact } from '../../src/contacts/registry.ts';
import { refusedPort } from '../helpers/servers.ts';
import { expectNoSecrets, sendVia, startVendorServer } from '../helpers/vendor-server.ts';
import { notification, testContext } from './fixtures.ts';

/** Slack's incoming webhook path: /services/<team>/<bot>/<secret>. */
const PATH = '/services/T0123ABCD/B0456EFGH/sEcReTtOkEn1234567890ab';

describe('slack contact', () => {
  it('POSTs {text, blocks} as JSON to the webhook URL and is delivered on 200 ok', async () => {
    const slack = await startVendorServer(() => ({ status: 200, body: 'ok' }));
    const { ctx, logs } = testContext();

    const outcome = await sendVia('slack', slack.url + PATH, notification(), ctx);

    expect(outcome).toEqual({ ok: true, detail: `slack webhook ${slack.host} answered HTTP 200` });
    expect(slack.requests).toHaveLength(1);
    const request = slack.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe(PATH);
    expect(request.headers['content-type']).toBe('application/json; charset=utf-8');
    // Slack's mrkdwn control characters &, <, > escaped as Slack documents.
    expect(request.json).toEqual({
      text: 'Check [shop &lt;front&gt; &amp; api] is now offline: HTTP 503 in 4 ms',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: '*Check [shop &lt;front&gt; &amp; api] is now offline: HTTP 503 in 4 ms*' } },
        {
          type: 'context',
          elements: [{ type: 'mrkdwn', text: 'Time: 2026-11-03T09:15:47.836Z\nConfirmed by: probe-ams1, probe-fra2\nNotification: notif-7-1793705747836-offline' }],
        },
      ],
    });
    expect(logs.matching(/notification delivered/)).toEqual([expect.objectContaining({ contactType: 'slack', checkId: 7 })]);
    expectNoSecrets(outcome, logs, ['sEcReTtOkEn1234567890ab']);
  });

  it('retries a 500 and a 429, naming the Retry-After Slack asked for', async () => {
    const slack = await startVendorServer((_r, n) => (n === 0 ? { status: 500, body: 'rollup_error' } : { status: 429, headers: { 'Retry-After': '30' }, body: 'rate_limited' }));
    const { ctx, logs } = testContext();
    const first = await sendVia('slack', slack.url + PATH, notification(), ctx);
    const second = await sendVia('slack', slack.url + PATH, notification(), ctx);
    expect(first).toEqual({ ok: false, retry: true, error: `slack webhook ${slack.host} answered HTTP 500: rollup_error` });
    expect(second).toEqual({ ok: false, retry: true, error: `slack webhook ${slack.host} answered HTTP 429 (retry after 30 s): rate_limited`, retryAfterMs: 30_000 });
    expectNoSecrets(second, logs, ['sEcReTtOkEn1234567890ab']);
  });

  it.each([
    [404, 'no_service'],
    [400, 'invalid_payload'],
    [403, 'action_prohibited'],
    [410, 'channel_is_archived'],
  ])('gives up on HTTP %i with Slack\'s error code %s', async (status, code) => {
    const slack = await startVendorServer(() => ({ status, body: code }));
    const { ctx } = testContext();
    const outcome = await sendVia('slack', slack.url + PATH, notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `slack webhook ${slack.host} answered HTTP ${status}: ${code}` });
  });

  it('retries when Slack cannot be reached, without naming the URL\'s path', async () => {
    const port = await refusedPort();
    const { ctx, logs } = testContext();
    const outcome = await sendVia('slack', `http://127.0.0.1:${port}${PATH}`, notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: true, error: expect.stringMatching(new RegExp(`^slack webhook 127\\.0\\.0\\.1:${port} failed: .*ECONNREFUSED`)) });
    expectNoSecrets(outcome, logs, ['sEcReTtOkEn1234567890ab', 'B0456EFGH']);
  });

  it('masks the webhook secret when an error reply echoes it', async () => {
    const slack = await startVendorServer((r) => ({ status: 400, body: `invalid_token for ${r.path}` }));
    const { ctx, logs } = testContext();
    const outcome = await sendVia('slack', slack.url + PATH, notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `slack webhook ${slack.host} answered HTTP 400: invalid_token for ***` });
    expectNoSecrets(outcome, logs, ['sEcReTtOkEn1234567890ab']);
  });

  it('validates its data as a URL, naming field and value', () => {
    const prepared = prepareContact(createContactRegistry(), 'slack', 'hooks.slack.com/services/x');
    expect(prepared).toEqual({ ok: false, message: 'data: expected an absolute http:// or https:// URL (value "hooks.slack.com/services/x")' });
    const long = prepareContact(createContactRegistry(), 'slack', 'https://hooks.slack.com/' + 'x'.repeat(600));
    expect(long.ok === false && long.message).toMatch(/^data: expected at most 512 characters/);
  });
});
