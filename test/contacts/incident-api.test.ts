import { describe, expect, it } from 'vitest';
import { apiBase, callAndJudge, withSlash } from '../../src/contacts/incident-api.ts';
import { startApiReceiver } from '../helpers/api-receiver.ts';
import { testContext } from './fixtures.ts';

const KEY = 'k3y-0123456789abcdefghijklmnopqrstuvwxyz';
const shapes = { success: () => undefined, explain: () => '' };

describe('incident-api', () => {
  it('masks a key in a long vendor reply before cutting it to length, so no part of it survives the cut', async () => {
    // The key straddles the 300-character cut of the vendor's text.
    const receiver = await startApiReceiver(() => ({ status: 400, text: `${'x'.repeat(280)} ${KEY} ${'y'.repeat(100)}` }));
    const { ctx } = testContext();
    const target = { name: 'Vendor', secrets: [KEY], idempotent: false };
    const outcome = await callAndJudge(ctx, target, { method: 'POST', url: new URL(receiver.url), json: {} }, shapes);
    expect(outcome).toEqual({ ok: false, retry: false, error: `Vendor answered HTTP 400: ${'x'.repeat(280)} *** ${'y'.repeat(14)}…` });
  });

  it('keeps a self-hosted server\'s path prefix and drops its query; the vendor URL unless a test overrides it', () => {
    expect(new URL('message', withSlash(new URL('https://example.com/gotify?x=1'))).href).toBe('https://example.com/gotify/message');
    expect(apiBase(testContext().ctx, 'pagerduty', 'https://events.pagerduty.com').href).toBe('https://events.pagerduty.com/');
    expect(apiBase(testContext({}, { endpoints: { pagerduty: 'http://127.0.0.1:9/pd' } }).ctx, 'pagerduty', 'https://events.pagerduty.com').href).toBe('http://127.0.0.1:9/pd/');
  });
});
