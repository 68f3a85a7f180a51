import { describe, expect, it } from 'vitest';
import { ConfigError, describeKeys, loadConfig, showConfig } from '../../src/config/load.ts';
import { parseGcfg } from '../../src/config/gcfg.ts';
import { probeSettings } from '../../src/config/schema.ts';

// The sample worker configuration shipped with gobearmon, as operators have it on disk.
const GOBEARMON_WORKER_CFG = `[default]
debug = false

; shared secret
password = secretChangeMe

[controller]
addr = :8888
database = monitor@tcp(mysql1:3306)/monitor
database = monitor@tcp(mysql2:3306)/monitor
confirmations = 3

[worker]
viewAddr = viewserver:8888
numThreads = 16

[smtp]
host = smtp.example.com
port = 587
from = noreply@gobearmon
username = gobearmon
password = gobearmon
admin = admin@gobearmon

[dns]
server = 127.0.0.1

[twilio]
accountSid = AC0123456789abcdef0123456789abcdef
authToken = asdf
from = +9999999999
`;

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('gcfg reader', () => {
  it('keeps repeated keys, lowercases names, strips comments and quotes', () => {
    const entries = parseGcfg('[Controller]\nDatabase = a ; first\ndatabase = "b;c"\n# note\n[worker]\nflag\n');
    expect(entries.map((e) => [e.section, e.key, e.value])).toEqual([
      ['controller', 'database', 'a'],
      ['controller', 'database', 'b;c'],
      ['worker', 'flag', 'true'],
    ]);
  });

  it('reports the line of a syntax error', () => {
    expect(() => parseGcfg('[a]\nkey = "open\n')).toThrow('line 2: unterminated quoted value');
    expect(() => parseGcfg('key = 1\n')).toThrow('line 1: key key appears before any [section]');
  });
});

describe('loadConfig', () => {
  it('loads an unchanged gobearmon worker config, warning about keys that no longer apply', () => {
    const { config, warnings } = loadConfig({ text: GOBEARMON_WORKER_CFG, source: 'w.cfg' });
    expect(config.controller.database).toEqual(['monitor@tcp(mysql1:3306)/monitor', 'monitor@tcp(mysql2:3306)/monitor']);
    expect(config.controller.confirmations).toBe(3);
    expect(config.worker.numThreads).toBe(16);
    expect(config.smtp).toMatchObject({ host: 'smtp.example.com', port: 587, admin: 'admin@gobearmon' });
    expect(config.dns.server).toBe('127.0.0.1:53');
    expect(config.default.debug).toBe(false);
    expect(warnings).toEqual([
      expect.stringMatching(/^w\.cfg:5: \[default\] password is ignored: .*NATS credentials/),
      expect.stringMatching(/^w\.cfg:8: \[controller\] addr is ignored/),
      expect.stringMatching(/^w\.cfg:14: \[worker\] viewAddr is ignored/),
      'w.cfg has no [nats] section: bearmon connects to nats://127.0.0.1:4222 without credentials; set [nats] url, user and password (bearmon nats-conf prints them for each node)',
    ]);
  });

  it("reads gobearmon's [viewserver] controller = host:port lines with one warning: addresses are dropped, worker ids kept", () => {
    const text = '[viewserver]\ncontroller = worker1:8888\ncontroller = w7\ncontroller = worker3.example.net:8888\n[nats]\nurl = nats://n:4222\n';
    const { config, warnings } = loadConfig({ text, source: 'v.cfg' });
    expect(config.viewserver.controller).toEqual(['w7']);
    expect(warnings).toEqual([
      'v.cfg:2,4: [viewserver] controller = worker1:8888, worker3.example.net:8888: host:port values are ignored: bearmon picks the controller among the workers that answer its heartbeats over NATS (any that nats.conf lets control), so gobearmon\'s controller addresses are not needed; to limit the candidates, list worker ids (controller = w1)',
    ]);
  });

  it('drops host:port controllers given in the environment the same way, leaving any worker a candidate', () => {
    const { config, warnings } = loadConfig({ env: { BEARMON_VIEWSERVER_CONTROLLER: 'worker1:8888,worker2:8888' } });
    expect(config.viewserver.controller).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/^env BEARMON_VIEWSERVER_CONTROLLER: \[viewserver\] controller = worker1:8888, worker2:8888: host:port values are ignored: /)]);
  });

  it.each([
    ['[twilio]\naccountSid = asdf\n', 'twilio', 'accountSid', undefined, 'c:2: [twilio] accountSid = "asdf": expected AC followed by 32 hex digits; ignored, left unset: sms and voice contacts fail when sent, saying Twilio is not configured'],
    ['[twilio]\nfrom = 555-TWILIO\n', 'twilio', 'from', undefined, 'c:2: [twilio] from = "555-TWILIO": expected an E.164 number such as +15551234567; ignored, left unset: sms and voice contacts fail when sent, saying Twilio is not configured'],
    ['[smtp]\nport = 70000\n', 'smtp', 'port', 587, 'c:2: [smtp] port = "70000": expected at most 65535; ignored, the default 587 is used: e-mail contacts and admin mails may fail when sent'],
    ['[smtp]\nadminInterval = often\n', 'smtp', 'adminInterval', 900_000, 'c:2: [smtp] adminInterval = "often": expected a duration such as 30s, 15m, 12h or 7d; ignored, the default "15m" is used'],
  ])('starts with a warning, not a refusal, on a placeholder in [smtp] or [twilio]: %j', (text, section, key, value, warning) => {
    const { config, warnings } = loadConfig({ text: `${text}[nats]\nurl = nats://n:4222\n`, source: 'c' });
    expect((config as unknown as Record<string, Record<string, unknown>>)[section]![key]).toBe(value);
    expect(warnings).toEqual([warning]);
  });

  it('warns about a file without [nats], but not when the environment sets [nats] or when there is no file', () => {
    expect(loadConfig({ text: '[worker]\nid = w1\n', source: 'w.cfg' }).warnings).toEqual([expect.stringMatching(/^w\.cfg has no \[nats\] section: bearmon connects to nats:\/\/127\.0\.0\.1:4222 without credentials/)]);
    expect(loadConfig({ text: '[worker]\nid = w1\n', source: 'w.cfg', env: { BEARMON_NATS_URL: 'nats://n:4222' } }).warnings).toEqual([]);
    expect(loadConfig({ text: '[nats]\nuser = w1\n', source: 'w.cfg' }).warnings).toEqual([]);
    expect(loadConfig({ env: {} }).warnings).toEqual([]);
  });

  it('reads durations with a unit wherever a duration is kept as a number, and bare numbers in the key\'s own unit', () => {
    const { config } = loadConfig({
      text: '[controller]\nreloadInterval = 5m\n[viewserver]\nheartbeatPeriod = 2s\nheartbeatTimeout = 250\n[nats]\nurl = nats://n:4222\nmaxBytes = 0\nretention = 1500ms\n',
    });
    expect(config.controller.reloadInterval).toBe(300);
    expect(config.viewserver.heartbeatPeriod).toBe(2000);
    expect(config.viewserver.heartbeatTimeout).toBe(250);
    expect(config.nats.maxBytes).toBe(0);
    expect(config.nats.retention).toBe(1500);
    expect(loadConfig({ env: { BEARMON_CONTROLLER_RELOADINTERVAL: '90' } }).config.controller.reloadInterval).toBe(90);
  });

  it.each([
    ['[controller]\nreloadInterval = 1500ms\n', 'c:2: [controller] reloadInterval = "1500ms": expected whole seconds'],
    ['[controller]\nreloadInterval = 2d\n', 'c:2: [controller] reloadInterval = "2d": expected at most 1d'],
    ['[controller]\nreloadInterval = soon\n', 'c:2: [controller] reloadInterval = "soon": expected a duration such as 60 (seconds), 90s or 15m'],
    ['[viewserver]\nheartbeatPeriod = 10ms\n', 'c:2: [viewserver] heartbeatPeriod = "10ms": expected at least 50ms'],
    ['[viewserver]\nheartbeatTimeout = 1.5s\n', 'c:2: [viewserver] heartbeatTimeout = "1.5s": expected a duration such as 500 (milliseconds), 500ms or 2s'],
  ])('refuses the duration %j naming the key, the value and the unit', (text, problem) => {
    expect(problemsOf(() => loadConfig({ text, source: 'c' }))).toEqual([problem]);
  });

  it('shows the effective configuration with every duration and size as written, secrets masked, unset keys null', () => {
    const { config } = loadConfig({ text: '[smtp]\npassword = hunter2\n[nats]\nurl = nats://n:4222\nmaxBytes = 512MB\n[viewserver]\nheartbeatPeriod = 1500\n' });
    const shown = showConfig(config);
    expect(shown.controller).toMatchObject({ reloadInterval: '1m', snapshotInterval: '1m', notifyBackoff: '30s', notifyBackoffMax: '30m', notifyTimeout: '1m' });
    expect(shown.viewserver).toMatchObject({ heartbeatPeriod: '1500ms', heartbeatTimeout: '500ms', misses: 3 });
    expect(shown.nats).toMatchObject({ retention: '7d', maxBytes: '512MB', url: ['nats://n:4222'], user: null });
    expect(shown.smtp).toMatchObject({ password: '***', adminInterval: '15m', host: null, port: 587 });
    expect(shown.twilio).toEqual({ accountSid: null, authToken: null, from: null });
  });

  it('gives every key its default without a file', () => {
    const { config, warnings } = loadConfig();
    expect(config.nats.url).toEqual(['nats://127.0.0.1:4222']);
    expect(config.nats.retention).toBe(7 * 24 * 3600 * 1000);
    expect(config.controller.confirmations).toBe(2);
    expect(config.controller.reloadInterval).toBe(60);
    expect(config.dns.server).toBe('127.0.0.1:53');
    expect(warnings).toEqual([]);
  });

  it('reads [worker] region and site and the [controller] quarantine keys, with their defaults', () => {
    const defaults = loadConfig().config;
    expect(defaults.worker.region).toBe('default');
    expect(defaults.worker.site).toBeUndefined();
    expect(defaults.controller).toMatchObject({ quarantine: 'flag', probeWindow: 600_000, probeMinSamples: 20, probeThreshold: 0.5, probeRelease: 0.2 });
    expect(probeSettings(defaults.controller)).toEqual({ windowMs: 600_000, minSamples: 20, threshold: 0.5, release: 0.2 });
    const { config } = loadConfig({
      text: '[worker]\nregion = eu-west_1\nsite = rack7\n[controller]\nquarantine = exclude\nprobeWindow = 1h\nprobeMinSamples = 5\nprobeThreshold = 1\nprobeRelease = 0\n',
      env: { BEARMON_WORKER_SITE: 'az-b' },
    });
    expect(config.worker).toMatchObject({ region: 'eu-west_1', site: 'az-b' });
    expect(probeSettings(config.controller)).toEqual({ windowMs: 3_600_000, minSamples: 5, threshold: 1, release: 0 });
    expect(config.controller.quarantine).toBe('exclude');
    expect(showConfig(config).controller).toMatchObject({ probeWindow: '1h', probeThreshold: 1 });
    expect(problemsOf(() => loadConfig({ env: { BEARMON_WORKER_REGION: 'EU' } }))).toEqual([
      'env BEARMON_WORKER_REGION: [worker] region = "EU": expected 1-32 lower-case letters, digits, _ or -, starting with a letter or digit',
    ]);
  });

  it('lets environment variables override the file', () => {
    const { config } = loadConfig({
      text: '[controller]\nconfirmations = 3\n',
      env: { BEARMON_CONTROLLER_CONFIRMATIONS: '4', BEARMON_NATS_URL: 'nats://127.0.0.1:1,nats://127.0.0.1:2' },
    });
    expect(config.controller.confirmations).toBe(4);
    expect(config.nats.url).toEqual(['nats://127.0.0.1:1', 'nats://127.0.0.1:2']);
  });

  it('warns about BEARMON_ variables that are not settings', () => {
    const { warnings } = loadConfig({ env: { BEARMON_CONTROLER_CONFIRMATIONS: '3', BEARMON_CONFIG: '/x' } });
    expect(warnings).toEqual(['environment variable BEARMON_CONTROLER_CONFIRMATIONS is not a bearmon setting and is ignored']);
  });

  it.each([
    ['[controller]\nconfirmations = zero\n', 'c:2: [controller] confirmations = "zero": expected an integer'],
    ['[controller]\nconfirmations = 0\n', 'c:2: [controller] confirmations = "0": expected at least 1'],
    ['[worker]\nnumThreads = 1.5\n', 'c:2: [worker] numThreads = "1.5": expected an integer'],
    ['[worker]\nsourceAddress = 127.0.0.300\n', 'c:2: [worker] sourceAddress = "127.0.0.300": expected an IP address'],
    ['[default]\ndebug = maybe\n', 'c:2: [default] debug = "maybe": expected true or false'],
    ['[dns]\nserver = "bad host"\n', 'c:2: [dns] server = "bad host": expected host:port'],
    ['[nats]\nretention = 7 days\n', 'c:2: [nats] retention = "7 days": expected a duration'],
    ['[nats]\nurl = http://x\n', 'c:2: [nats] url = ["http://x"]: expected a URL'],
    ['[controller]\nconfirmatons = 3\n', 'c:2: [controller] confirmatons: unknown key'],
    ['[contoller]\nconfirmations = 3\n', 'c:2: unknown section [contoller]'],
    ['[worker]\nnumThreads = 1\nnumThreads = 2\n', 'c:3: [worker] numThreads is set twice (also at c:2)'],
    ['[worker]\nregion = EU-West\n', 'c:2: [worker] region = "EU-West": expected 1-32 lower-case letters, digits, _ or -'],
    ['[worker]\nregion = ""\n', 'c:2: [worker] region = "": expected 1-32 lower-case letters'],
    ['[worker]\nsite = "rack 7"\n', 'c:2: [worker] site = "rack 7": expected 1-32 lower-case letters'],
    ['[worker]\nsite = -rack\n', 'c:2: [worker] site = "-rack": expected 1-32 lower-case letters'],
    ['[controller]\nquarantine = yes\n', 'c:2: [controller] quarantine = "yes": expected off, flag or exclude'],
    ['[controller]\nprobeWindow = 10\n', 'c:2: [controller] probeWindow = "10": expected a duration'],
    ['[controller]\nprobeMinSamples = 0\n', 'c:2: [controller] probeMinSamples = "0": expected at least 1'],
    ['[controller]\nprobeMinSamples = 2.5\n', 'c:2: [controller] probeMinSamples = "2.5": expected an integer'],
    ['[controller]\nprobeThreshold = 0\n', 'c:2: [controller] probeThreshold = "0": expected more than 0'],
    ['[controller]\nprobeThreshold = 1.5\n', 'c:2: [controller] probeThreshold = "1.5": expected at most 1'],
    ['[controller]\nprobeThreshold = half\n', 'c:2: [controller] probeThreshold = "half": expected a number'],
    ['[controller]\nprobeRelease = 1\n', 'c:2: [controller] probeRelease = "1": expected less than 1'],
    ['[controller]\nprobeRelease = -0.1\n', 'c:2: [controller] probeRelease = "-0.1": expected at least 0'],
    ['[controller]\nprobeThreshold = 0.3\nprobeRelease = 0.3\n', 'c:3, c:2: [controller] probeRelease = 0.3 must be less than probeThreshold = 0.3'],
    ['[controller]\nprobeThreshold = 0.1\n', 'c:2: [controller] probeRelease = 0.2 must be less than probeThreshold = 0.1'],
  ])('refuses %j naming section, key and value', (text, problem) => {
    const problems = problemsOf(() => loadConfig({ text, source: 'c' }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(problem);
  });

  // Each input has an error on the very line or key that holds the secret: the error says what
  // is wrong and where, and never the value.
  it.each([
    ['a secret set twice', '[smtp]\npassword = hunter2-first\npassword = hunter2-second\n', 'c:3: [smtp] password is set twice (also at c:2)', /hunter2/],
    ['a bad escape inside a secret', '[twilio]\nauthToken = "tok3n-\\q-Hq7Lw2"\n', 'c line 2: invalid escape \\q', /tok3n|Hq7Lw2/],
    ['an unterminated quoted secret', '[nats]\npassword = "n4ts-s3cret\n', 'c line 2: unterminated quoted value', /n4ts|s3cret/],
    ['a secret before any section', 'password = hunter2\n', 'c line 1: key password appears before any [section]', /hunter2/],
    ['a misspelt secret key', '[smtp]\npasword = hunter2\n', 'c:2: [smtp] pasword: unknown key', /hunter2/],
    ['a secret without "="', '[smtp]\npassword hunter2\n', 'c line 2: expected "key = value", got "password…"', /hunter2/],
  ])('never shows a secret value in an error: %s', (_name, text, problem, secret) => {
    let error: unknown;
    try {
      loadConfig({ text, source: 'c' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([problem]);
    expect((error as ConfigError).message).not.toMatch(secret);
  });

  it("never shows gobearmon's shared password in the warning that it is ignored", () => {
    const { warnings } = loadConfig({ text: '[default]\npassword = shared-hunter2\n[nats]\nurl = nats://n:4222\n', source: 'c' });
    expect(warnings).toEqual([expect.stringMatching(/^c:2: \[default\] password is ignored: /)]);
    expect(warnings.join('\n')).not.toMatch(/hunter2/);
  });

  it.each([
    ['[controller]\ndatabase = mysql://bearmon:s3cret@/bearmon\n', 'c:2: [controller] database = ["mysql://bearmon:***@/bearmon"]: invalid mysql:// URL "mysql://bearmon:***@/bearmon": missing host'],
    ['[controller]\ndatabase = bearmon:s3cret@tcp(db:3306)\n', 'c:2: [controller] database = ["bearmon:***@tcp(db:3306)"]: expected user:pass@tcp(host:port)/dbname, got "bearmon:***@tcp(db:3306)"'],
    ['[controller]\ndatabase = bearmon:s3c@ret@tcp(db:99999)/x\n', 'c:2: [controller] database = ["bearmon:***@tcp(db:99999)/x"]: invalid address "db:99999" in "bearmon:***@tcp(db:99999)/x"'],
    ['[nats]\nurl = http://w1:s3cret@nats1:4222\n', 'c:2: [nats] url = ["http://w1:***@nats1:4222"]: expected a URL'],
  ])('names the DSN or URL of %j with its password masked', (text, problem) => {
    const problems = problemsOf(() => loadConfig({ text, source: 'c' }));
    expect(problems).toEqual([expect.stringContaining(problem)]);
    expect(problems.join('\n')).not.toMatch(/s3c/);
  });

  it('accepts a literal % in a mysql:// password', () => {
    const { config } = loadConfig({ text: '[controller]\ndatabase = mysql://bearmon:50%off@127.0.0.1/bearmon\n' });
    expect(config.controller.database).toEqual(['mysql://bearmon:50%off@127.0.0.1/bearmon']);
  });

  it.each([
    ['[smtp]\npassword: hunter2\n', 'c line 2: expected "key = value", got "password…"'],
    ['[smtp] password = hunter2\n', 'c line 1: invalid section header "[smtp]"'],
  ])('shows a malformed line %j only up to where it went wrong', (text, problem) => {
    const problems = problemsOf(() => loadConfig({ text, source: 'c' }));
    expect(problems).toEqual([problem]);
  });

  it('bad env values name the variable', () => {
    const problems = problemsOf(() => loadConfig({ env: { BEARMON_WORKER_NUMTHREADS: 'many' } }));
    expect(problems).toEqual(['env BEARMON_WORKER_NUMTHREADS: [worker] numThreads = "many": expected an integer']);
  });

  it('documents every key', () => {
    const keys = describeKeys();
    expect(keys.length).toBeGreaterThan(20);
    for (const key of keys) expect(key.doc.length, `${key.section}.${key.key}`).toBeGreaterThan(10);
  });

  it('describes each key with its default as written, its unit and its environment variable', () => {
    const byName = new Map(describeKeys().map((k) => [`${k.section}.${k.key}`, k]));
    expect(byName.get('controller.reloadInterval')).toMatchObject({ default: '1m', unit: 'duration; bare number = s', env: 'BEARMON_CONTROLLER_RELOADINTERVAL' });
    expect(byName.get('viewserver.heartbeatTimeout')).toMatchObject({ default: '500ms', unit: 'duration; bare number = ms', env: 'BEARMON_VIEWSERVER_HEARTBEATTIMEOUT' });
    expect(byName.get('nats.retention')).toMatchObject({ default: '7d', unit: 'duration' });
    expect(byName.get('nats.maxBytes')).toMatchObject({ default: '1GB', unit: 'size' });
    expect(byName.get('nats.url')).toMatchObject({ default: 'nats://127.0.0.1:4222', unit: null, list: true });
    expect(byName.get('controller.database')).toMatchObject({ default: 'bearmon:***@tcp(127.0.0.1:3306)/bearmon' });
    expect(byName.get('worker.id')).toMatchObject({ default: '(the host name)' });
    expect(byName.get('nats.password')).toMatchObject({ default: null, secret: true });
    expect(byName.get('viewserver.addr')).toMatchObject({ default: null, unit: null, deprecated: true, env: 'BEARMON_VIEWSERVER_ADDR' });
  });
});
