import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { runCluster } from '../../src/demo/cluster.ts';
import { DEMO_DSN, DEMO_STREAM, DEMO_WORKERS, demoBaseConfig, demoConfig, demoStateDir, renderConfig } from '../../src/demo/config.ts';
import { createLogger } from '../../src/log.ts';

let folder: string;
let productionFile: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'bearmon-demo-config-'));
  productionFile = join(folder, 'production.cfg');
  await writeFile(
    productionFile,
    [
      '[default]',
      'logLevel = warn',
      'metricsListen = 127.0.0.1:9464',
      '[controller]',
      'database = prod:secret@tcp(db1.example.net:3306)/bearmon',
      'confirmations = 4',
      'notifyBackoff = 2m',
      'notifyTimeout = 90s',
      '[worker]',
      'id = probe-a',
      'numThreads = 64',
      'sourceAddress = 192.0.2.10',
      '[smtp]',
      'host = smtp.example.net',
      'from = "bearmon <bearmon@example.net>"',
      'password = "p;a#ss\\"word"',
      'adminInterval = 1h',
      '[twilio]',
      'accountSid = AC0123456789abcdef0123456789abcdef',
      '[viewserver]',
      'controller = probe-a',
      'heartbeatPeriod = 250',
      '[nats]',
      'url = nats://probe-a:secret@nats1.example.net:4222',
      'stream = PRODUCTION',
      'retention = 30d',
      'maxBytes = 10GB',
    ].join('\n'),
  );
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('the demo\'s configuration', () => {
  it('reads no configuration unless -c names one: not $BEARMON_CONFIG, not BEARMON_* variables', () => {
    vi.stubEnv('BEARMON_CONFIG', productionFile);
    vi.stubEnv('BEARMON_NATS_URL', 'nats://nats1.example.net:4222');
    vi.stubEnv('BEARMON_SMTP_HOST', 'smtp.example.net');
    try {
      expect(demoBaseConfig(undefined).config).toEqual(loadConfig({}).config);
      // With -c: that file, and still no variable (they may name production).
      const { config } = demoBaseConfig(productionFile);
      expect([config.nats.stream, config.smtp.host, config.nats.url]).toEqual(['PRODUCTION', 'smtp.example.net', ['nats://probe-a:secret@nats1.example.net:4222']]);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('keeps the settings of -c that name no bus, database or identity, and replaces those that do with its own', () => {
    const base = demoBaseConfig(productionFile).config;
    const config = demoConfig(base, { natsUrl: 'nats://127.0.0.1:40000' });
    const defaults = loadConfig({}).config;
    expect(config.nats).toEqual({ ...defaults.nats, url: ['nats://127.0.0.1:40000'], user: 'operator', password: 'bearmon-dev-operator', stream: DEMO_STREAM });
    expect(config.controller).toEqual({ ...base.controller, database: [DEMO_DSN], confirmations: 2, reloadInterval: 10 });
    expect(config.worker).toEqual({ ...base.worker, id: defaults.worker.id, controller: undefined, sourceAddress: undefined });
    expect(config.viewserver).toEqual({ ...base.viewserver, controller: DEMO_WORKERS });
    expect(config.default).toEqual({ ...base.default, metricsListen: undefined });
    expect([config.smtp, config.twilio, config.dns]).toEqual([base.smtp, base.twilio, base.dns]);
  });

  it('is written as a file that reads back to the same values (durations, sizes, lists, quotes)', async () => {
    const config = demoConfig(demoBaseConfig(productionFile).config, { natsUrl: 'nats://127.0.0.1:40000' });
    const text = renderConfig(config, ['written by a test']);
    expect(text.startsWith('# written by a test\n')).toBe(true);
    expect(loadConfig({ text, source: 'demo.cfg' }).config).toEqual(config);
    // Sizes and durations that are not the default are spelled so they read back too.
    const odd = { ...config, nats: { ...config.nats, retention: 90_000, maxBytes: 1536 } };
    expect(loadConfig({ text: renderConfig(odd) }).config).toEqual(odd);
  });

  it('keeps its state in $XDG_STATE_HOME/bearmon-demo, else ~/.local/state/bearmon-demo', () => {
    expect(demoStateDir({ XDG_STATE_HOME: '/var/tmp/state', HOME: '/home/ann' })).toBe('/var/tmp/state/bearmon-demo');
    // A relative XDG_STATE_HOME is invalid by the XDG spec: ignored.
    expect(demoStateDir({ XDG_STATE_HOME: 'state', HOME: '/home/ann' })).toBe('/home/ann/.local/state/bearmon-demo');
    expect(demoStateDir({ HOME: '/home/ann' })).toBe('/home/ann/.local/state/bearmon-demo');
  });

  it.each(['0', 'abc', '2.5', '3601', ''])('refuses --interval %j before it starts anything, naming the option and the value', async (interval) => {
    const log = createLogger({ level: 'silent' });
    await expect(runCluster(loadConfig({}).config, log, { intervalSeconds: interval, upMs: 1000, downMs: 1000 })).rejects.toThrow(
      `--interval = ${JSON.stringify(interval)}: expected whole seconds from 1 to 3600`,
    );
  });
});
