import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it, onTestFinished } from 'vitest';
import { inboxPrefix } from '../../src/bus/permissions.ts';
import { subject } from '../../src/bus/subjects.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { runBearmon } from '../helpers/bearmon.ts';
import { refusedPort } from '../helpers/servers.ts';

/** The [nats] password printed for one user in `bearmon nats-conf`'s node section. */
function passwordOf(output: string, user: string): string {
  const section = output.split(/^# --- /m).find((s) => s.startsWith(`${user}:`));
  const match = /^password = (\S+)$/m.exec(section ?? '');
  if (!match) throw new Error(`no password printed for ${user}`);
  return match[1]!;
}

async function startServer(conf: string, port: number, dir: string): Promise<void> {
  const child = spawn('nats-server', ['-c', conf, '-a', '127.0.0.1', '-p', String(port), '-sd', join(dir, 'js')], { stdio: ['ignore', 'ignore', 'pipe'] });
  onTestFinished(async () => {
    child.kill();
    await once(child, 'exit');
  });
  await new Promise<void>((resolve, reject) => {
    let text = '';
    child.stderr!.on('data', (chunk: Buffer) => ((text += chunk.toString()), text.includes('Server is ready') && resolve()));
    child.once('exit', (code) => reject(new Error(`nats-server exited with ${code}: ${text}`)));
  });
}

async function as(port: number, user: string, password: string): Promise<{ nc: NatsConnection; violations: string[] }> {
  const nc = await connect({ servers: `127.0.0.1:${port}`, user, pass: password, inboxPrefix: inboxPrefix(user), maxReconnectAttempts: 0 });
  onTestFinished(() => nc.close());
  const violations: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') violations.push(String((s as { error?: Error }).error?.message));
  })();
  return { nc, violations };
}

describe('bearmon nats-conf', () => {
  it('writes a production nats.conf (bcrypt hashes, least privilege) that nats-server runs, and prints each node its password', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bearmon-natsconf-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'nats.conf');
    const run = await runBearmon(['nats-conf', '--worker', 'probe-a', '--worker', 'probe-b', '--controller', 'probe-a', '--out', file]);
    expect(run.code).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const conf = await readFile(file, 'utf8');
    const passwords = ['probe-a', 'probe-b', 'viewserver', 'operator', 'admin'].map((user) => passwordOf(run.stdout, user));
    // Only hashes in the file: no clear password.
    for (const password of passwords) expect(conf).not.toContain(password);
    expect(conf.match(/password: "\$2[aby]\$11\$/g)).toHaveLength(5);
    // nats-server's own check (it prints to stderr and exits 0 only for a valid file).
    const checked = spawnSync('nats-server', ['-c', file, '-t'], { encoding: 'utf8' });
    expect({ status: checked.status, said: `${checked.stdout}${checked.stderr}`.trim() }).toEqual({ status: 0, said: expect.stringMatching(/configuration file .* is valid/) });

    const port = await refusedPort();
    await startServer(file, port, dir);
    const a = await as(port, 'probe-a', passwordOf(run.stdout, 'probe-a'));
    const b = await as(port, 'probe-b', passwordOf(run.stdout, 'probe-b'));
    a.nc.publish(subject.result('probe-a', 1), '{}'); // its own: allowed
    a.nc.publish(subject.assign('probe-a', 1), '{}'); // a candidate: allowed
    a.nc.publish(subject.result('probe-b', 1), '{}'); // another's: refused
    b.nc.publish(subject.assign('probe-b', 1), '{}'); // not a candidate: refused
    await a.nc.flush();
    await b.nc.flush();
    await expect.poll(() => [...a.violations, ...b.violations].length, { timeout: timeoutFor() }).toBe(2);
    expect(a.violations).toEqual([expect.stringContaining('bearmon.result.probe-b.1')]);
    expect(b.violations).toEqual([expect.stringContaining('bearmon.assign.probe-b.1')]);
    await expect(as(port, 'probe-a', 'wrong')).rejects.toThrow(/Authorization Violation/i);
    // The viewserver's node lines name the candidates.
    expect(run.stdout).toMatch(/# --- viewserver: its bearmon.cfg ---[\s\S]*\[viewserver\]\ncontroller = probe-a\n/);
  }, 90_000);

  it('refuses bad ids with exit 2, naming the option and the value', async () => {
    const bad = await runBearmon(['nats-conf', '--worker', 'a.b']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--worker\/--controller: worker id "a.b" must be/);
    const unknown = await runBearmon(['nats-conf', '--worker', 'x', '--controller', 'y']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--controller: "y" is not among the --worker ids');
    expect((await runBearmon(['nats-conf'])).code).toBe(2);
    expect((await runBearmon(['nats-conf', '--worker', 'admin'])).stderr).toContain('"admin" is the name of another role');
  }, 90_000);
});
