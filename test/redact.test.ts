import { describe, expect, it } from 'vitest';
import { natsOptions } from '../src/bus/connect.ts';
import { loadConfig } from '../src/config/load.ts';
import { configSpec, type KeySpec } from '../src/config/schema.ts';
import { configSecrets, decodeLenient, MASK, redactConfig, redactDsn, redactText, redactUrl } from '../src/redact.ts';

describe('redactUrl', () => {
  it.each([
    ['nats://w1:s3cret@127.0.0.1:4222', 'nats://w1:***@127.0.0.1:4222'],
    ['tls://w1:s3cret@nats.example.net:4222', 'tls://w1:***@nats.example.net:4222'],
    ['ws://w1:s3cret@[::1]:8080', 'ws://w1:***@[::1]:8080'],
    ['wss://w1:s3cret@[2001:db8::7]:443/path', 'wss://w1:***@[2001:db8::7]:443/path'],
    // `@`, `:`, `/` and a literal `%` inside the password.
    ['nats://w1:p@ss@h:4222', 'nats://w1:***@h:4222'],
    ['nats://w1:a:b@c@h:4222', 'nats://w1:***@h:4222'],
    ['nats://w1:pa/ss@h:4222', 'nats://w1:***@h:4222'],
    ['nats://w1:50%off@h:4222', 'nats://w1:***@h:4222'],
    ['nats://w1:p%40ss@h:4222', 'nats://w1:***@h:4222'],
    ['nats://w1:@h:4222', 'nats://w1:***@h:4222'],
  ])('%s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  it.each(['nats://127.0.0.1:4222', 'nats://w1@h:4222', 'ws://[::1]:8080', 'not a url'])('leaves %s (no password) alone', (url) => {
    expect(redactUrl(url)).toBe(url);
  });
});

describe('redactDsn', () => {
  it.each([
    ['monitor:s3cret@tcp(mysql1:3306)/monitor', 'monitor:***@tcp(mysql1:3306)/monitor'],
    ['u:p@ss@tcp(127.0.0.1:3307)/db?parseTime=true', 'u:***@tcp(127.0.0.1:3307)/db?parseTime=true'],
    ['u:a:b@c@tcp([::1]:3306)/db', 'u:***@tcp([::1]:3306)/db'],
    ['u:50%off@tcp(h)/d', 'u:***@tcp(h)/d'],
    ['u:pa/ss@tcp(h:1)/d', 'u:***@tcp(h:1)/d'],
    ['u:s3cret@unix(/run/mysqld/mysqld.sock)/x', 'u:***@unix(/run/mysqld/mysqld.sock)/x'],
    ['u:s3cret@/x', 'u:***@/x'],
    // An `@` in the query string is not taken for the end of the password.
    ['u:p@ss@tcp(h)/d?note=a@b', 'u:***@tcp(h)/d?note=a@b'],
    // Malformed (no net, no database): still masked, up to the last `@`.
    ['u:s3cret@tcp(h:3306)', 'u:***@tcp(h:3306)'],
    ['u:s3cret@bogus', 'u:***@bogus'],
    ['mysql://bearmon:50%off@127.0.0.1/bearmon', 'mysql://bearmon:***@127.0.0.1/bearmon'],
    ['mysql://u:p@ss@[::1]:3307/db', 'mysql://u:***@[::1]:3307/db'],
    ['mysql://u:p%40ss@[2001:db8::1]/db?timeout=5s', 'mysql://u:***@[2001:db8::1]/db?timeout=5s'],
    ['mysql://u:a/b#c?d@h/db', 'mysql://u:***@h/db'],
  ])('%s', (dsn, shown) => {
    expect(redactDsn(dsn)).toBe(shown);
  });

  it.each(['u@tcp(h:1)/d', '/onlydb', 'mysql://u@h/db', 'mysql://h/db'])('leaves %s (no password) alone', (dsn) => {
    expect(redactDsn(dsn)).toBe(dsn);
  });
});

describe('redactText', () => {
  it('replaces every known secret, longest first, and any URL password', () => {
    const text = 'auth failed for hunter2hunter2 (hunter2) at nats://w1:p@ss@h:4222 and mysql://u:x@h/db';
    expect(redactText(text, ['hunter2', 'hunter2hunter2', ''])).toBe('auth failed for *** (***) at nats://w1:***@h:4222 and mysql://u:***@h/db');
  });

  it('leaves text without secrets unchanged', () => {
    expect(redactText('connection refused (127.0.0.1:4222)', [])).toBe('connection refused (127.0.0.1:4222)');
  });
});

describe('decodeLenient', () => {
  it.each([
    ['50%off', '50%off'],
    ['p%40ss', 'p@ss'],
    ['%E2%82%AC%ff', '€%ff'],
    ['100%', '100%'],
    ['%2', '%2'],
  ])('%s → %s', (text, decoded) => {
    expect(decodeLenient(text)).toBe(decoded);
  });
});

describe('natsOptions', () => {
  it('splits credentials the way redactUrl masks them, a literal % and @ included', () => {
    expect(natsOptions(['nats://w1:50%off@h:4222'])).toEqual({ servers: ['nats://h:4222'], user: 'w1', pass: '50%off' });
    expect(natsOptions(['tls://w1:p@ss@[::1]:4222'])).toEqual({ servers: ['tls://[::1]:4222'], user: 'w1', pass: 'p@ss' });
    expect(natsOptions(['nats://w1:p%40ss@h:4222'])).toEqual({ servers: ['nats://h:4222'], user: 'w1', pass: 'p@ss' });
  });
});

const SECRETS = {
  dsn: 'dsn-Pw@1%x',
  url: 'url-pw-77',
  nats: 'nats-pw-31',
  smtp: 'smtp-pw-52',
  twilio: 'twilio-token-0c4e',
};
const CONFIG = `
[controller]
database = monitor:${SECRETS.dsn}@tcp(mysql1:3306)/monitor
database = mysql://monitor:${SECRETS.dsn}@[2001:db8::5]:3307/monitor

[nats]
url = nats://w1:${SECRETS.url}@nats1:4222
url = tls://nats2:4222
user = w1
password = ${SECRETS.nats}

[smtp]
host = smtp.example.com
username = alerts
password = ${SECRETS.smtp}

[twilio]
authToken = ${SECRETS.twilio}
`;

describe('redactConfig', () => {
  it('masks secret keys and DSN/URL passwords, keeping users and hosts', () => {
    const { config } = loadConfig({ text: CONFIG, source: 'c' });
    const shown = redactConfig(config);
    const text = JSON.stringify(shown);
    for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
    expect(shown.controller.database).toEqual(['monitor:***@tcp(mysql1:3306)/monitor', 'mysql://monitor:***@[2001:db8::5]:3307/monitor']);
    expect(shown.nats.url).toEqual(['nats://w1:***@nats1:4222', 'tls://nats2:4222']);
    expect(shown.nats).toMatchObject({ user: 'w1', password: MASK });
    expect(shown.smtp).toMatchObject({ host: 'smtp.example.com', username: 'alerts', password: MASK });
    expect(shown.twilio.authToken).toBe(MASK);
    // A copy: the configuration itself keeps its values.
    expect(config.smtp.password).toBe(SECRETS.smtp);
  });

  it('leaves unset secrets unset', () => {
    const shown = redactConfig(loadConfig().config);
    expect(shown.smtp.password).toBeUndefined();
    expect(shown.twilio.authToken).toBeUndefined();
  });

  it('configSecrets lists every secret, as written and as used, for redactText', () => {
    const { config } = loadConfig({ text: CONFIG.replace(`url-pw-77`, 'url%40pw'), source: 'c' });
    const secrets = configSecrets(config);
    expect(secrets).toEqual(expect.arrayContaining([SECRETS.dsn, 'url%40pw', 'url@pw', SECRETS.nats, SECRETS.smtp, SECRETS.twilio]));
    expect(redactText(`bad login url@pw / ${SECRETS.twilio}`, secrets)).toBe('bad login *** / ***');
  });

  it('does not mask the word "bearmon" in errors for the built-in development DSN (bearmon:bearmon@…), whose password is public', () => {
    const secrets = configSecrets(loadConfig().config);
    expect(secrets).toEqual([]);
    expect(redactText('bearmon.result.w1.*: refused', secrets)).toBe('bearmon.result.w1.*: refused');
  });

  it('the schema marks every password- or token-like key secret, and the DSN/URL keys as credentials', () => {
    for (const [section, keys] of Object.entries(configSpec)) {
      for (const [key, spec] of Object.entries(keys as Record<string, KeySpec | { deprecated: string }>)) {
        if ('deprecated' in spec) continue;
        if (/password|token|secret/i.test(key)) expect(spec.secret, `[${section}] ${key}`).toBe(true);
      }
    }
    expect(configSpec.controller.database.credentials).toBe('dsn');
    expect(configSpec.nats.url.credentials).toBe('url');
  });
});
