import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBearmon as bearmon } from '../helpers/bearmon.ts';
import { refusedPort, tcpServer } from '../helpers/servers.ts';


describe('bearmon check run', () => {
  it('exits 0 and prints online for a reachable target', async () => {
    const { address } = await tcpServer(() => {});
    const { code, stdout } = await bearmon(['check', 'run', '--type', 'tcp', '--data', JSON.stringify({ address })]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^online: connected to ${address} \\(\\d+ ms\\)\\n$`));
  });

  it('exits 1 for an offline target, with --json output', async () => {
    const port = await refusedPort();
    const { code, stdout } = await bearmon(['check', 'run', '-t', 'tcp', '-d', `{"address":"127.0.0.1:${port}"}`, '--json']);
    expect(code).toBe(1);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ type: 'tcp', status: 'offline' });
    expect(result.message).toContain('ECONNREFUSED');
  });

  it.each([
    ['malformed JSON', ['-t', 'tcp', '-d', '{"address":'], /^misconfigured: data: invalid JSON/],
    ['unknown type', ['-t', 'gopher', '-d', '{}'], /^misconfigured: type: unknown check type "gopher"/],
    ['missing field', ['-t', 'tcp', '-d', '{}'], /^misconfigured: address: /],
  ])('exits 2 for %s', async (_name, args, message) => {
    const { code, stdout } = await bearmon(['check', 'run', ...args]);
    expect(code).toBe(2);
    expect(stdout).toMatch(message);
  });

  it('refuses to start on an invalid configuration, naming section, key and value', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bearmon-cli-'));
    const file = join(dir, 'bad.cfg');
    await writeFile(file, '[worker]\nnumThreads = lots\n');
    const { code, stderr, stdout } = await bearmon(['--config', file, 'check', 'run', '-t', 'tcp', '-d', '{}']);
    expect(code).toBe(78);
    expect(stdout).toBe('');
    expect(stderr).toContain(`${file}:2: [worker] numThreads = "lots": expected an integer`);
  });

  it('warns (one JSON log line each, on stderr) about gobearmon keys that no longer apply, then runs; stdout holds only the result', async () => {
    const { address } = await tcpServer(() => {});
    const { code, stdout, stderr } = await bearmon(['check', 'run', '-t', 'tcp', '-d', JSON.stringify({ address })], {
      BEARMON_WORKER_VIEWADDR: 'x',
      BEARMON_NOT_A_KEY: '1',
    });
    expect(code).toBe(0);
    const [deprecated, unknown, ...more] = stderr.trim().split('\n');
    expect(JSON.parse(deprecated!)).toMatchObject({ level: 'warn', msg: expect.stringMatching(/^environment variable BEARMON_WORKER_VIEWADDR is ignored: workers learn the view from NATS/) });
    expect(JSON.parse(unknown!)).toMatchObject({ level: 'warn', msg: 'environment variable BEARMON_NOT_A_KEY is not a bearmon setting and is ignored' });
    expect(more).toEqual([]);
    expect(stdout).toMatch(new RegExp(`^online: connected to ${address} \\(\\d+ ms\\)\\n$`));
  });
});

describe('bearmon config check', () => {
  // Each secret holds characters that trip naive parsers: `@`, `:`, `/` and a literal `%`.
  const SECRETS = {
    dsn: 'Db-p@ss:50%off',
    dsnUrl: 'Url-p@ss/50%off',
    natsUrl: 'nats-url-p@ss%zz',
    nats: 'nats-Pa55-91d2',
    smtp: 'smtp-Pa55-4c1a',
    twilio: '0f9e8d7c6b5a49382716aabbccddeeff',
  };

  it('prints every value a secret does not hide: no password, token or DSN/URL password on stdout or stderr', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bearmon-cli-'));
    const file = join(dir, 'secrets.cfg');
    await writeFile(
      file,
      [
        '[controller]',
        `database = monitor:${SECRETS.dsn}@tcp(mysql1.example.net:3306)/monitor`,
        `database = mysql://monitor:${encodeURIComponent(SECRETS.dsnUrl).replace('%25', '%')}@[2001:db8::5]:3307/monitor`,
        '[nats]',
        `url = nats://w1:${SECRETS.natsUrl}@nats1.example.net:4222`,
        'url = tls://nats2.example.net:4222',
        'user = w1',
        `password = ${SECRETS.nats}`,
        '[smtp]',
        'host = smtp.example.net',
        'username = alerts',
        `password = ${SECRETS.smtp}`,
        '[twilio]',
        'accountSid = AC0123456789abcdef0123456789abcdef',
        `authToken = ${SECRETS.twilio}`,
      ].join('\n'),
    );
    const { code, stdout, stderr } = await bearmon(['--config', file, 'config', 'check']);
    expect(code).toBe(0);
    for (const secret of Object.values(SECRETS)) {
      expect(stdout).not.toContain(secret);
      expect(stderr).not.toContain(secret);
    }
    // Fragments too: a parser that split at the wrong `@` or `:` would leave one behind.
    for (const fragment of ['p@ss', '50%off', 'Pa55', '%zz']) expect(stdout + stderr).not.toContain(fragment);
    const shown = JSON.parse(stdout);
    expect(shown.controller.database).toEqual(['monitor:***@tcp(mysql1.example.net:3306)/monitor', 'mysql://monitor:***@[2001:db8::5]:3307/monitor']);
    expect(shown.nats).toMatchObject({ url: ['nats://w1:***@nats1.example.net:4222', 'tls://nats2.example.net:4222'], user: 'w1', password: '***' });
    expect(shown.smtp).toMatchObject({ host: 'smtp.example.net', username: 'alerts', password: '***' });
    expect(shown.twilio).toMatchObject({ accountSid: 'AC0123456789abcdef0123456789abcdef', authToken: '***' });
  });

  it('hides secrets given in the environment as well', async () => {
    const { code, stdout, stderr } = await bearmon(['config', 'check'], {
      BEARMON_CONTROLLER_DATABASE: `bearmon:${SECRETS.dsn}@tcp(127.0.0.1:3306)/bearmon`,
      BEARMON_NATS_URL: `nats://w1:${SECRETS.natsUrl}@127.0.0.1:4222`,
      BEARMON_NATS_PASSWORD: SECRETS.nats,
      BEARMON_SMTP_PASSWORD: SECRETS.smtp,
      BEARMON_TWILIO_AUTHTOKEN: SECRETS.twilio,
    });
    expect(code).toBe(0);
    for (const secret of Object.values(SECRETS)) expect(stdout + stderr).not.toContain(secret);
    expect(JSON.parse(stdout)).toMatchObject({
      controller: { database: ['bearmon:***@tcp(127.0.0.1:3306)/bearmon'] },
      nats: { url: ['nats://w1:***@127.0.0.1:4222'], password: '***' },
    });
  });

  it('refuses a DSN it cannot parse, naming the key and the DSN with its password masked', async () => {
    const { code, stdout, stderr } = await bearmon(['config', 'check'], { BEARMON_CONTROLLER_DATABASE: `mysql://bearmon:${SECRETS.dsn}@/bearmon` });
    expect(code).toBe(78);
    expect(stdout).toBe('');
    expect(stderr).toContain('env BEARMON_CONTROLLER_DATABASE: [controller] database = ["mysql://bearmon:***@/bearmon"]: invalid mysql:// URL "mysql://bearmon:***@/bearmon": missing host');
    expect(stderr).not.toContain(SECRETS.dsn);
  });
});
