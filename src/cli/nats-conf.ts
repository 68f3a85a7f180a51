import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { developmentNatsConf, operatorPermissions, renderNatsConf, viewserverPermissions, workerPermissions, type NatsUser } from '../bus/permissions.ts';
import { workerToken } from '../bus/subjects.ts';

/**
 * `bearmon nats-conf`: a production nats.conf for given worker ids, with random passwords
 * (stored in the file as bcrypt hashes), and what goes into each node's bearmon.cfg.
 * Uses bcryptjs (pure JavaScript, no native build) for the hashes nats-server checks.
 */
export interface NatsConfOptions {
  worker: string[];
  /** Workers that may be named controller (default: every worker). */
  controller: string[];
  listen: string;
  serverName: string;
  url: string;
  /** The result log stream ([nats] stream): the only one readers may make consumers on. */
  stream: string;
  /** Cluster routes to the other servers (nats-route://host:6222); with them the file is one cluster member's. */
  route?: string[];
  clusterListen?: string;
  clusterName?: string;
}

export interface GeneratedNatsConf {
  conf: string;
  /** Per node: the lines of its bearmon.cfg, passwords in clear (shown once). */
  nodes: { user: string; config: string }[];
}

const password = () => randomBytes(24).toString('base64url');

export class NatsConfUsageError extends Error {}

export function generateNatsConf(options: NatsConfOptions): GeneratedNatsConf {
  const workers = [...new Set(options.worker)];
  if (workers.length === 0) throw new NatsConfUsageError('--worker: name at least one worker id');
  for (const id of [...workers, ...options.controller]) {
    try {
      workerToken(id);
    } catch (err) {
      throw new NatsConfUsageError(`--worker/--controller: ${(err as Error).message}`);
    }
    if (['admin', 'operator', 'viewserver'].includes(id)) throw new NatsConfUsageError(`--worker: ${JSON.stringify(id)} is the name of another role`);
  }
  const unknown = options.controller.filter((id) => !workers.includes(id));
  if (unknown.length > 0) throw new NatsConfUsageError(`--controller: ${unknown.map((id) => JSON.stringify(id)).join(', ')} is not among the --worker ids`);
  const candidates = options.controller.length > 0 ? options.controller : workers;
  const secrets = new Map<string, string>();
  const user = (name: string, permissions: NatsUser['permissions'], comment?: string): NatsUser => {
    const secret = password();
    secrets.set(name, secret);
    return { user: name, password: bcrypt.hashSync(secret, 11), permissions, comment };
  };
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(options.stream)) throw new NatsConfUsageError(`--stream: ${JSON.stringify(options.stream)} is not a stream name`);
  const streams = [options.stream];
  const users: NatsUser[] = [
    user('viewserver', viewserverPermissions('viewserver', streams), 'The viewserver.'),
    user('operator', operatorPermissions('operator', streams), 'Operators: bearmon status, trace, replay, log export, reload.'),
    user('admin', undefined, 'Everything: `bearmon setup` only; keep it off the nodes.'),
    ...workers.map((id, i) =>
      user(id, workerPermissions(id, candidates.includes(id), streams), i === 0 ? 'Workers; those that may be named controller get its subjects too.' : undefined),
    ),
  ];
  const routes = options.route ?? [];
  for (const r of routes) if (!/^nats-route:\/\/[^\s/]+:\d+$/.test(r)) throw new NatsConfUsageError(`--route: ${JSON.stringify(r)} is not a route URL such as nats-route://10.0.0.2:6222`);
  const conf = renderNatsConf({
    listen: options.listen,
    serverName: options.serverName,
    users,
    cluster: routes.length > 0 ? { name: options.clusterName ?? 'bearmon', listen: options.clusterListen ?? '0.0.0.0:6222', routes } : undefined,
    header: [
      'NATS server configuration for bearmon, written by `bearmon nats-conf`.',
      `Workers: ${workers.join(', ')}; controller candidates: ${candidates.join(', ')}.`,
      'Passwords are bcrypt hashes; the clear ones were printed once, for each node\'s bearmon.cfg.',
      'Give the JetStream store directory with -sd (or add store_dir to the jetstream block).',
    ],
  });
  const nodeConfig = (name: string, extra: string[] = []) =>
    ['[nats]', `url = ${options.url}`, `user = ${name}`, `password = ${secrets.get(name)}`, ...extra].join('\n');
  const nodes = [
    { user: 'viewserver', config: nodeConfig('viewserver', ['', '[viewserver]', ...candidates.map((id) => `controller = ${id}`)]) },
    ...workers.map((id) => ({ user: id, config: nodeConfig(id, ['', '[worker]', `id = ${id}`]) })),
    { user: 'operator', config: nodeConfig('operator') },
    { user: 'admin', config: nodeConfig('admin') },
  ];
  return { conf, nodes };
}

/** The repository's own nats.conf (development users and passwords). */
export function developmentConf(): string {
  return developmentNatsConf();
}
