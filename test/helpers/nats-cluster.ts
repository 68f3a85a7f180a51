import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { natsOptions } from '../../src/bus/connect.ts';
import { DEVELOPMENT_HEADER, developmentUsers, renderNatsConf } from '../../src/bus/permissions.ts';
import { devPassword, waitForReady } from './nats-server.ts';

const BINARY = process.env.NATS_SERVER ?? 'nats-server';

export interface NatsClusterMember {
  name: string;
  port: number;
  /** kill -9: no goodbye to its routes or clients. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store. */
  start(): Promise<void>;
}

export interface NatsClusterHandle {
  members: NatsClusterMember[];
  /** Every member's URL with admin's credentials (a client fails over among them). */
  urls: string[];
  /** Every member's URL with one nats.conf user's credentials. */
  urlsFor(user: string): string[];
  member(name: string): NatsClusterMember;
  stop(): Promise<void>;
}

/** Free loopback ports, all held at once while chosen so that none is handed out twice. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return server;
    }),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * Three nats-server processes clustered on loopback ports, each from the repository's users
 * and permissions (src/bus/permissions.ts, as nats.conf) plus a cluster block, with its own
 * JetStream store. Resolves once JetStream has a meta leader (streams can be made).
 */
export async function startNatsCluster(size = 3): Promise<NatsClusterHandle> {
  // A port taken by another process between its choice and the server's start: again with others.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(size);
    } catch (err) {
      if (attempt >= 5 || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startNatsClusterOnce(size: number): Promise<NatsClusterHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'bearmon-nats-cluster-'));
  const all = await freePorts(size * 2);
  const ports = all.slice(0, size);
  const routePorts = all.slice(size);
  const members: NatsClusterMember[] = [];
  const children = new Map<string, ChildProcess>();
  for (let i = 0; i < size; i++) {
    const name = `n${i + 1}`;
    const conf = join(dir, `${name}.conf`);
    await writeFile(
      conf,
      renderNatsConf({
        listen: `127.0.0.1:${ports[i]}`,
        serverName: name,
        users: developmentUsers(),
        header: [...DEVELOPMENT_HEADER, `Test cluster member ${name}.`],
        cluster: { name: 'bearmon-test', listen: `127.0.0.1:${routePorts[i]}`, routes: routePorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`) },
      }),
    );
    const store = join(dir, name);
    const start = async () => {
      const child = spawn(BINARY, ['-c', conf, '-sd', store], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.set(name, child);
      await waitForReady(child);
    };
    const kill = async () => {
      const child = children.get(name);
      children.delete(name);
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    };
    members.push({ name, port: ports[i]!, start, kill });
  }
  try {
    await Promise.all(members.map((m) => m.start()));
  } catch (err) {
    for (const m of members) await m.kill();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const urlsFor = (user: string) => ports.map((p) => `nats://${user}:${devPassword(user)}@127.0.0.1:${p}`);
  const handle: NatsClusterHandle = {
    members,
    urls: urlsFor('admin'),
    urlsFor,
    member: (name) => members.find((m) => m.name === name)!,
    stop: async () => {
      for (const m of members) await m.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await waitForMetaLeader(handle.urls);
  return handle;
}

/** JetStream answers account info only once the cluster has elected its meta leader. */
export async function waitForMetaLeader(urls: string[]): Promise<void> {
  const nc = await connect({ ...natsOptions(urls), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        // Asks for the account info (checkAPI), which only a meta leader gives.
        await jetstreamManager(nc);
        return;
      } catch (err) {
        if (attempt > 600) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    await nc.close();
  }
}
