import { describe, expect, it } from 'vitest';
import { generateNatsConf, NatsConfUsageError } from '../../src/cli/nats-conf.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { natsReplicas } from '../../src/config/schema.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = { worker: ['w1'], controller: [], listen: '0.0.0.0:4222', serverName: 'n1', url: 'nats://a:4222', stream: 'BEARMON' };

describe('[nats] replicas', () => {
  it('defaults to 3 with three or more servers in [nats] url, else 1; an explicit value wins', () => {
    expect(natsReplicas({ url: ['nats://a:4222'] })).toBe(1);
    expect(natsReplicas({ url: ['nats://a:4222', 'nats://b:4222'] })).toBe(1);
    expect(natsReplicas({ url: ['nats://a:4222', 'nats://b:4222', 'nats://c:4222'] })).toBe(3);
    expect(natsReplicas({ url: ['nats://a:4222', 'nats://b:4222', 'nats://c:4222'], replicas: 1 })).toBe(1);
  });

  it('reads the key and the repeated url lines; a value outside 1..5 is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bearmon-replicas-'));
    const file = join(dir, 'bearmon.cfg');
    writeFileSync(file, '[nats]\nurl = nats://a:4222\nurl = nats://b:4222\nurl = nats://c:4222\n');
    const three = loadConfigFile(file).config;
    expect(three.nats.url).toHaveLength(3);
    expect(natsReplicas(three.nats)).toBe(3);
    writeFileSync(file, '[nats]\nreplicas = 5\n');
    expect(natsReplicas(loadConfigFile(file).config.nats)).toBe(5);
    writeFileSync(file, '[nats]\nreplicas = 6\n');
    expect(() => loadConfigFile(file)).toThrow(/replicas/);
  });
});

describe('bearmon nats-conf --route', () => {
  it('writes a cluster block with the routes to the other servers, the same users as without', () => {
    const conf = generateNatsConf({ ...base, route: ['nats-route://10.0.0.2:6222', 'nats-route://10.0.0.3:6222'], clusterListen: '0.0.0.0:6222', clusterName: 'bearmon' }).conf;
    expect(conf).toMatch(/cluster \{\n  name: bearmon\n  listen: 0\.0\.0\.0:6222\n  routes = \[\n    nats-route:\/\/10\.0\.0\.2:6222\n    nats-route:\/\/10\.0\.0\.3:6222\n  \]\n\}/);
    expect(conf).toContain('server_name: n1');
    const users = (c: string) => [...c.matchAll(/user: "([^"]+)"/g)].map((m) => m[1]);
    // One conf without routes for both checks: each generation bcrypts every user's password
    // (cost 11, pure JavaScript), seconds of CPU on a loaded machine.
    const plain = generateNatsConf(base).conf;
    expect(users(conf)).toEqual(users(plain));
    expect(plain).not.toContain('cluster {');
  }, 60_000);

  it('refuses a route that is not a nats-route URL', () => {
    expect(() => generateNatsConf({ ...base, route: ['10.0.0.2:6222'] })).toThrow(NatsConfUsageError);
  });
});
