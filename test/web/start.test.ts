import { Readable } from 'node:stream';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPasswordCommand, startDemoWeb } from '../../src/web/start.ts';
import { startCluster, STREAM } from '../controller/harness.ts';
import { devPassword, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

describe('bearmon web hash-password', () => {
  it('prints the [web] passwordHash line for the password on stdin, and refuses a short one', async () => {
    const out: string[] = [];
    expect(await hashPasswordCommand(Readable.from(['s3cret-enough\n', 'ignored\n']), (s) => out.push(s))).toBe(0);
    const [, hash] = /^passwordHash = (\S+)\n$/.exec(out.join(''))!;
    expect(hash).toMatch(/^\$2[aby]\$11\$/);
    expect(await bcrypt.compare('s3cret-enough', hash!)).toBe(true);
    const errors: string[] = [];
    expect(await hashPasswordCommand(Readable.from(['short\n']), (s) => out.push(s), (s) => errors.push(s))).toBe(2);
    expect(out).toHaveLength(1);
    expect(errors).toEqual(['bearmon web hash-password: password: expected at least 8 characters\n']);
  });
});

describe('startDemoWeb', () => {
  it('serves the demo database with a fresh login and every check public', async () => {
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 1,
      checks: [{ name: 'demo tcp', type: 'tcp', data: { address: '127.0.0.1:9' }, interval: 60, delay: 1 }],
      workers: [],
    });
    const db = cluster.db;
    const demo = await startDemoWeb({
      natsUrl: `nats://127.0.0.1:${nats.port}`,
      operatorPassword: devPassword('operator'),
      stream: STREAM,
      dsn: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
      log: cluster.logs.log,
      listen: { host: '127.0.0.1', port: 0 },
    });
    try {
      expect(demo.lines).toEqual([`dashboard: ${demo.url}/  (user demo, password ${demo.login.password})`, `status page: ${demo.url}/status`]);
      const login = await fetch(`${demo.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: demo.url }, body: JSON.stringify(demo.login) });
      expect(login.status).toBe(200);
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      await demo.live.ready;
      const checks = await (await fetch(`${demo.url}/api/checks`, { headers: { Cookie: cookie } })).json();
      expect(checks.checks.map((c: { name: string }) => c.name)).toEqual(['demo tcp']);
      const status = await (await fetch(`${demo.url}/status.json`)).json();
      expect(status.checks.map((c: { name: string }) => c.name)).toEqual(['demo tcp']);
    } finally {
      await demo.stop();
    }
  });
});
