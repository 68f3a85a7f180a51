import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configCheckCommand, configKeysCommand } from '../../src/cli/config-commands.ts';
import { describeKeys } from '../../src/config/load.ts';

/**
 * `config check` and `config keys` as functions over real files, with their stdout and
 * stderr captured: what goes where is the point (stdout is data, stderr what was read and
 * every warning). gobearmon's sample files are read from ../shared/seed beside the clone.
 */
const SEED = new URL('../../../shared/seed/', import.meta.url).pathname;

function run(command: (io: { stdout: { write(t: string): void }; stderr: { write(t: string): void } }) => number) {
  let stdout = '';
  let stderr = '';
  const code = command({ stdout: { write: (t) => void (stdout += t) }, stderr: { write: (t) => void (stderr += t) } });
  return { code, stdout, stderr, errLines: stderr.trimEnd().split('\n') };
}

async function tempFile(name: string, text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'bearmon-cfgcmd-')), name);
  await writeFile(file, text);
  return file;
}

describe('configCheckCommand', () => {
  it("passes every gobearmon sample file, with warnings only, each naming what bearmon does instead", async () => {
    const samples = (await readdir(SEED)).filter((f) => /^gobearmon\.sample\..*\.cfg$/.test(f)).sort();
    expect(samples).toEqual(['gobearmon.sample.viewserver.cfg', 'gobearmon.sample.worker.cfg']);
    const expected: Record<string, RegExp[]> = {
      'gobearmon.sample.viewserver.cfg': [
        /:5: \[default\] password is ignored: /,
        /:16: \[viewserver\] addr is ignored: /,
        /:26,27,28,29,30: \[viewserver\] controller = worker1:8888, worker2:8888, worker3:8888, worker4:8888, worker5:8888: host:port values are ignored: bearmon picks the controller among the workers that answer its heartbeats over NATS/,
        / has no \[nats\] section: bearmon connects to nats:\/\/127\.0\.0\.1:4222 without credentials/,
      ],
      'gobearmon.sample.worker.cfg': [
        /:5: \[default\] password is ignored: /,
        /:9: \[controller\] addr is ignored: /,
        /:23: \[worker\] viewAddr is ignored: /,
        / has no \[nats\] section: /,
        /:40: \[twilio\] accountSid = "asdf": expected AC followed by 32 hex digits; ignored, left unset: sms and voice contacts fail when sent/,
      ],
    };
    for (const sample of samples) {
      const file = join(SEED, sample);
      const { code, stdout, errLines } = run((io) => configCheckCommand(file, { env: {}, ...io }));
      expect(code, sample).toBe(0);
      expect(errLines[0]).toBe(`read ${file}`);
      expect(errLines.slice(1)).toEqual(expected[sample]!.map((pattern) => expect.stringMatching(new RegExp(`^warning: ${file}${pattern.source}`))));
      expect(JSON.parse(stdout)).toMatchObject({ source: file, environment: [], viewserver: { controller: [] } });
    }
  });

  it('prints only the JSON on stdout: the file it read, the variables that set a key, and every duration and size as written', async () => {
    const file = await tempFile('bearmon.cfg', ['[controller]', 'reloadInterval = 90', '[viewserver]', 'heartbeatTimeout = 250', '[nats]', 'url = nats://n1:4222', 'retention = 36h'].join('\n'));
    const { code, stdout, stderr } = run((io) => configCheckCommand(file, { env: { BEARMON_NATS_MAXBYTES: '512MB', BEARMON_SMTP_PASSWORD: 'hunter2' }, ...io }));
    expect(code).toBe(0);
    expect(stderr).toBe(`read ${file}\nenvironment: BEARMON_SMTP_PASSWORD, BEARMON_NATS_MAXBYTES\n`);
    const shown = JSON.parse(stdout);
    expect(shown).toMatchObject({ source: file, environment: ['BEARMON_SMTP_PASSWORD', 'BEARMON_NATS_MAXBYTES'] });
    expect(shown.controller).toMatchObject({ reloadInterval: '90s', snapshotInterval: '1m', notifyBackoff: '30s', notifyBackoffMax: '30m', notifyTimeout: '1m' });
    expect(shown.viewserver).toMatchObject({ heartbeatPeriod: '1s', heartbeatTimeout: '250ms' });
    expect(shown.nats).toMatchObject({ retention: '36h', maxBytes: '512MB' });
    expect(shown.smtp).toMatchObject({ password: '***', adminInterval: '15m' });
    expect(stdout + stderr).not.toContain('hunter2');
  });

  it('without a file says so on stderr and shows source null', () => {
    const { code, stdout, stderr } = run((io) => configCheckCommand(undefined, { env: {}, ...io }));
    expect(code).toBe(0);
    expect(stderr).toBe('no configuration file (no --config, no $BEARMON_CONFIG, none of bearmon.cfg, /etc/bearmon/bearmon.cfg): built-in defaults\n');
    expect(JSON.parse(stdout)).toMatchObject({ source: null, nats: { url: ['nats://127.0.0.1:4222'] } });
  });

  it('reads $BEARMON_CONFIG when no file is given', async () => {
    const file = await tempFile('env.cfg', '[worker]\nid = from-env-file\n[nats]\nurl = nats://n:4222\n');
    const { code, stdout, stderr } = run((io) => configCheckCommand(undefined, { env: { BEARMON_CONFIG: file }, ...io }));
    expect({ code, stderr }).toEqual({ code: 0, stderr: `read ${file}\n` });
    expect(JSON.parse(stdout)).toMatchObject({ source: file, worker: { id: 'from-env-file' } });
  });

  it('exits 78 on an invalid value, naming file, line, key and value on stderr, with nothing on stdout', async () => {
    const file = await tempFile('bad.cfg', '[viewserver]\nheartbeatPeriod = 10ms\n');
    const { code, stdout, stderr } = run((io) => configCheckCommand(file, { env: {}, ...io }));
    expect({ code, stdout }).toEqual({ code: 78, stdout: '' });
    expect(stderr).toBe(`bearmon: invalid configuration:\n  ${file}:2: [viewserver] heartbeatPeriod = "10ms": expected at least 50ms\n`);
  });

  it('exits 78 on a file it cannot read, naming it', () => {
    const { code, stdout, stderr } = run((io) => configCheckCommand('/nonexistent/bearmon.cfg', { env: {}, ...io }));
    expect({ code, stdout }).toEqual({ code: 78, stdout: '' });
    expect(stderr).toMatch(/^bearmon: invalid configuration:\n {2}cannot read \/nonexistent\/bearmon\.cfg: ENOENT/);
  });
});

describe('configKeysCommand', () => {
  it('prints a table: key, default as written, unit, environment variable and meaning, one row per key', () => {
    const { code, stdout } = run((io) => configKeysCommand({}, io));
    expect(code).toBe(0);
    const [header, ...rows] = stdout.trimEnd().split('\n');
    expect(header!.split(/ {2,}/)).toEqual(['KEY', 'DEFAULT', 'UNIT', 'ENVIRONMENT', 'MEANING']);
    expect(rows).toHaveLength(describeKeys().length);
    const cells = (key: string) => rows.find((r) => r.startsWith(`${key} `))!.split(/ {2,}/);
    expect(cells('[controller] reloadInterval')).toEqual(['[controller] reloadInterval', '1m', 'duration; bare number = s', 'BEARMON_CONTROLLER_RELOADINTERVAL', 'How often checks, contacts and alerts are reloaded from MySQL.']);
    expect(cells('[viewserver] heartbeatTimeout').slice(0, 4)).toEqual(['[viewserver] heartbeatTimeout', '500ms', 'duration; bare number = ms', 'BEARMON_VIEWSERVER_HEARTBEATTIMEOUT']);
    expect(cells('[nats] maxBytes').slice(0, 4)).toEqual(['[nats] maxBytes', '1GB', 'size', 'BEARMON_NATS_MAXBYTES']);
    expect(cells('[nats] url (repeatable)').slice(0, 4)).toEqual(['[nats] url (repeatable)', 'nats://127.0.0.1:4222', '-', 'BEARMON_NATS_URL']);
    expect(cells('[twilio] authToken').slice(0, 4)).toEqual(['[twilio] authToken', '-', '-', 'BEARMON_TWILIO_AUTHTOKEN']);
  });

  it('with --json prints one object per key, as describeKeys has it', () => {
    const { code, stdout } = run((io) => configKeysCommand({ json: true }, io));
    expect(code).toBe(0);
    const objects = stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(objects).toEqual(describeKeys());
    expect(objects.find((k) => k.key === 'retention')).toEqual({
      section: 'nats',
      key: 'retention',
      env: 'BEARMON_NATS_RETENTION',
      default: '7d',
      unit: 'duration',
      doc: 'How long the result log keeps events (30s, 15m, 12h, 7d).',
      list: false,
      secret: false,
      deprecated: false,
    });
  });
});
