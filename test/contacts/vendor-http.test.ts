import { describe, expect, it } from 'vitest';
import { deliver, retryAfterSeconds, urlSecrets, vendorMessage } from '../../src/contacts/vendor-http.ts';
import { startVendorServer } from '../helpers/vendor-server.ts';
import { testContext } from './fixtures.ts';

const who = { target: 'test vendor', secrets: [] };

describe('vendor-http', () => {
  it('fails permanently, without retrying, on a request node refuses to build', async () => {
    const receiver = await startVendorServer();
    const outcome = await deliver(testContext().ctx, who, new URL(receiver.url), { contentType: 'application/json', body: '{}', headers: { 'X-Bad': 'tick ✓' } });
    expect(outcome).toEqual({ ok: false, retry: false, error: expect.stringMatching(/^test vendor failed: ERR_INVALID_CHAR /) });
    expect(receiver.requests).toHaveLength(0);
  });

  it('judges a huge reply by its status, reading only the first 16 KiB', async () => {
    const receiver = await startVendorServer(() => ({ status: 400, body: 'x'.repeat(1_000_000) }));
    const outcome = await deliver(testContext().ctx, who, new URL(receiver.url), { contentType: 'text/plain', body: 'hi' });
    expect(outcome).toEqual({ ok: false, retry: false, error: `test vendor answered HTTP 400: ${'x'.repeat(199)}…` });
  });

  it('reads Retry-After as seconds or an HTTP date, and the body hints of Discord and Telegram', () => {
    const now = Date.parse('2026-11-03T09:15:48.000Z');
    const reply = (headers: Record<string, string>, body = '') => ({ status: 429, headers, body });
    expect(retryAfterSeconds(reply({ 'retry-after': '120' }), now)).toBe(120);
    expect(retryAfterSeconds(reply({ 'retry-after': 'Tue, 03 Nov 2026 09:16:18 GMT' }), now)).toBe(30);
    expect(retryAfterSeconds(reply({}, '{"retry_after": 0.25}'), now)).toBe(1);
    expect(retryAfterSeconds(reply({}, '{"ok": false, "parameters": {"retry_after": 9}}'), now)).toBe(9);
    expect(retryAfterSeconds(reply({}, 'slow down'), now)).toBeUndefined();
  });

  it('takes the vendor\'s words from the usual error fields, and nothing from an HTML page', () => {
    expect(vendorMessage('{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}')).toBe('Bad Request: chat not found');
    expect(vendorMessage('{"error":{"code":"x","message":"nested"}}')).toBe('nested');
    expect(vendorMessage('{"code":40301,"http":403,"error":"forbidden"}')).toBe('forbidden');
    expect(vendorMessage('invalid_payload\n')).toBe('invalid_payload');
    expect(vendorMessage('<!DOCTYPE html><html><body>502</body></html>')).toBe('');
  });

  it('counts a webhook URL\'s path, tokens, query values and password as secrets, not short words', () => {
    const secrets = urlSecrets(new URL('https://user:pa55word@hooks.example.com/services/T0123ABCD/sEcReT?sig=abcdef123&v=1'));
    expect(secrets).toEqual(
      expect.arrayContaining(['/services/T0123ABCD/sEcReT?sig=abcdef123&v=1', '/services/T0123ABCD/sEcReT', 'T0123ABCD', 'abcdef123', 'pa55word']),
    );
    expect(secrets).not.toContain('1');
    expect(secrets).not.toContain('services');
  });
});
