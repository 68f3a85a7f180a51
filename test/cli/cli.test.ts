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

  it('warns (one JSON log line) about gobearmon keys that no longer apply, then runs', async () => {
    const { address } = await tcpServer(() => {});
    const { code, stdout } = await bearmon(['check', 'run', '-t', 'tcp', '-d', JSON.stringify({ address })], {
      BEARMON_WORKER_VIEWADDR: 'x',
      BEARMON_NOT_A_KEY: '1',
    });
    expect(code).toBe(0);
    const [deprecated, unknown, result] = stdout.trim().split('\n');
    expect(JSON.parse(deprecated!)).toMatchObject({ level: 'warn', msg: expect.stringMatching(/^environment variable BEARMON_WORKER_VIEWADDR is ignored: workers learn the view from NATS/) });
    expect(JSON.parse(unknown!)).toMatchObject({ level: 'warn', msg: 'environment variable BEARMON_NOT_A_KEY is not a bearmon setting and is ignored' });
    expect(result).toMatch(/^online: /);
  });
});
