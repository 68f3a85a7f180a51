import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeKeys } from '../../src/config/load.ts';
import { runBearmon as bearmon } from '../helpers/bearmon.ts';

/**
 * `bearmon config check` and `bearmon config keys` through bin/bearmon itself: stdout holds
 * only the data (JSON, or the key table), stderr what was read and every warning.
 * gobearmon's sample files are read from ../shared/seed beside the clone.
 */
const SEED = new URL('../../../shared/seed/', import.meta.url).pathname;

describe('bearmon -c GOBEARMON_SAMPLE config check', () => {
  it('passes every gobearmon sample with exit 0: JSON on stdout, naming the file; on stderr only what was read and warnings', async () => {
    const samples = (await readdir(SEED)).filter((f) => /^gobearmon\.sample\..*\.cfg$/.test(f));
    expect(samples.length).toBeGreaterThanOrEqual(2);
    for (const sample of samples) {
      const file = join(SEED, sample);
      const { code, stdout, stderr } = await bearmon(['-c', file, 'config', 'check']);
      expect({ sample, code }).toEqual({ sample, code: 0 });
      const [read, ...rest] = stderr.trimEnd().split('\n');
      expect(read).toBe(`read ${file}`);
      expect(rest.length, sample).toBeGreaterThan(0);
      for (const line of rest) expect(line).toMatch(new RegExp(`^warning: ${file}`));
      expect(JSON.parse(stdout)).toMatchObject({ source: file, nats: { url: ['nats://127.0.0.1:4222'], retention: '7d' } });
    }
  });

  it("says once, for all five lines, that the viewserver sample's controller addresses are ignored", async () => {
    const file = join(SEED, 'gobearmon.sample.viewserver.cfg');
    const { code, stdout, stderr } = await bearmon(['-c', file, 'config', 'check']);
    expect(code).toBe(0);
    expect(stderr.split('\n').filter((l) => l.includes('[viewserver] controller'))).toEqual([
      expect.stringMatching(/^warning: .*:26,27,28,29,30: \[viewserver\] controller = worker1:8888, worker2:8888, worker3:8888, worker4:8888, worker5:8888: host:port values are ignored: /),
    ]);
    expect(JSON.parse(stdout).viewserver).toMatchObject({ controller: [], heartbeatPeriod: '1s', heartbeatTimeout: '500ms' });
  });

  it('exits 78 on an invalid value with nothing on stdout', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'bearmon-cfgbin-')), 'bad.cfg');
    await writeFile(file, '[controller]\nreloadInterval = 1500ms\n');
    const { code, stdout, stderr } = await bearmon(['-c', file, 'config', 'check']);
    expect({ code, stdout }).toEqual({ code: 78, stdout: '' });
    expect(stderr).toContain(`${file}:2: [controller] reloadInterval = "1500ms": expected whole seconds`);
  });
});

describe('bearmon config keys [--json]', () => {
  it('prints the key table: a header, then one row per key with its default, unit and environment variable', async () => {
    const { code, stdout, stderr } = await bearmon(['config', 'keys']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const [header, ...rows] = stdout.trimEnd().split('\n');
    expect(header!.split(/ {2,}/)).toEqual(['KEY', 'DEFAULT', 'UNIT', 'ENVIRONMENT', 'MEANING']);
    expect(rows.map((r) => r.split(/ {2,}/)[0])).toEqual(describeKeys().map((k) => `[${k.section}] ${k.key}${k.list ? ' (repeatable)' : ''}`));
    expect(rows.find((r) => r.startsWith('[nats] retention '))!.split(/ {2,}/).slice(1, 4)).toEqual(['7d', 'duration', 'BEARMON_NATS_RETENTION']);
  });

  it('with --json prints one object per key', async () => {
    const { code, stdout } = await bearmon(['config', 'keys', '--json']);
    expect(code).toBe(0);
    expect(stdout.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(describeKeys());
  });
});
