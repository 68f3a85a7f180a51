import { describe, expect, it } from 'vitest';
import { refusedPort } from '../helpers/servers.ts';
import { expectNoSecrets, sendVia, startVendorServer } from '../helpers/vendor-server.ts';
import { notification, testContext } from './fixtures.ts';

/** Mattermost's incoming webhook path: /hooks/<key>. */
const KEY = 'xjrxu9ga5ibn8y8gq3ba1on6xw';
const PATH = `/hooks/${KEY}`;

describe('mattermost contact', () => {
  it('POSTs {text} in Markdown and is delivered on 200 ok', async () => {
    const mattermost = await startVendorServer(() => ({ status: 200, body: 'ok' }));
    const { ctx, logs } = testContext();

    const outcome = await sendVia('mattermost', mattermost.url + PATH, notification({ check: { ...notification().check, name: 'api_*prod*' } }), ctx);

    expect(outcome).toEqual({ ok: true, detail: `mattermost webhook ${mattermost.host} answered HTTP 200` });
    const request = mattermost.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe(PATH);
    expect(request.headers['content-type']).toBe('application/json');
    // Markdown in a check name is escaped, so it shows as typed.
    expect(request.json).toEqual({
      text: '**Check \\[api\\_\\*prod\\*\\] is now offline: HTTP 503 in 4 ms**\nTime: 2026-11-03T09:15:47.836Z\nConfirmed by: probe-ams1, probe-fra2\nNotification: notif-7-1793705747836-offline',
    });
    expectNoSecrets(outcome, logs, [KEY]);
  });

  it('retries a 500 and a 429', async () => {
    const mattermost = await startVendorServer((_r, n) => ({ status: n === 0 ? 500 : 429, body: { id: 'api.context.500', message: 'Internal error', status_code: 500 } }));
    const { ctx } = testContext();
    expect(await sendVia('mattermost', mattermost.url + PATH, notification(), ctx)).toEqual({
      ok: false,
      retry: true,
      error: `mattermost webhook ${mattermost.host} answered HTTP 500: Internal error`,
    });
    expect(await sendVia('mattermost', mattermost.url + PATH, notification(), ctx)).toMatchObject({ ok: false, retry: true });
  });

  it('gives up on a 400 with Mattermost\'s message', async () => {
    const mattermost = await startVendorServer(() => ({
      status: 400,
      body: { id: 'web.incoming_webhook.invalid.app_error', message: 'Invalid webhook.', detailed_error: '', request_id: 'abc', status_code: 400 },
    }));
    const { ctx, logs } = testContext();
    const outcome = await sendVia('mattermost', mattermost.url + PATH, notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `mattermost webhook ${mattermost.host} answered HTTP 400: Invalid webhook.` });
    expectNoSecrets(outcome, logs, [KEY]);
  });

  it('retries when Mattermost cannot be reached', async () => {
    const port = await refusedPort();
    const { ctx, logs } = testContext();
    const outcome = await sendVia('mattermost', `http://127.0.0.1:${port}${PATH}`, notification(), ctx);
    expect(outcome).toMatchObject({ ok: false, retry: true });
    expectNoSecrets(outcome, logs, [KEY]);
  });
});
