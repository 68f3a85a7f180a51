import { PREFIX, subject, wildcard, workerToken } from './subjects.ts';
import { SNAPSHOT_SUBJECTS } from '../controller/snapshot.ts';

/**
 * Who may publish and subscribe to what: the single source of nats.conf's permissions
 * (the repository's nats.conf is generated from it, and `bearmon nats-conf` writes a
 * production one). Least privilege (SPEC §8):
 * - each credential publishes only under its own name (results, heartbeats, pongs, and —
 *   for a controller candidate — the controller's log lines and run requests);
 * - only the viewserver publishes the view and writes the view's KV bucket;
 * - only admin creates, updates, purges or deletes streams, buckets or consumers; the
 *   others may read streams (info, get one message, and ephemeral pull consumers through
 *   the legacy API, where the server refuses a durable name);
 * - replies go only to the asker: every user has its own inbox prefix (_INBOX_<user>). No
 *   one gets `allow_responses` (a client receives its own messages, so with it a credential
 *   could "answer" itself on any subject); a controller candidate may publish into the
 *   inboxes of the users who ask the controller (operator, admin) and nothing else's.
 */
export interface Permissions {
  publish: string[];
  subscribe: string[];
  /** Subjects under `subscribe` that are still not delivered. */
  subscribeDeny?: string[];
}

/** Users whose requests the controller answers (bearmon status, reload): their inboxes are open to candidates. */
export const CONTROL_REQUESTERS = ['operator', 'admin'];

export const VIEW_BUCKET_STREAM = 'KV_bearmon_view';

/** The reply subjects of one user's requests (connect with inboxPrefix = this). */
export function inboxPrefix(user: string): string {
  return /^[A-Za-z0-9_-]{1,64}$/.test(user) ? `_INBOX_${user}` : '_INBOX';
}

/**
 * Reading streams without being able to change them. `$JS.API.CONSUMER.CREATE.*` is the
 * legacy ephemeral create (exactly one token after CREATE): the named/durable forms have
 * more tokens and are not granted.
 */
const streamReader = (streams: string[] | '*') => {
  const names = streams === '*' ? ['*'] : streams;
  return [
    '$JS.API.INFO',
    '$JS.API.STREAM.INFO.*',
    '$JS.API.STREAM.MSG.GET.*',
    ...names.map((name) => `$JS.API.CONSUMER.CREATE.${name}`),
    ...names.map((name) => `$JS.API.CONSUMER.INFO.${name}.*`),
    ...names.map((name) => `$JS.API.CONSUMER.MSG.NEXT.${name}.*`),
  ];
};

/**
 * Streams a role may make consumers on: the result log (production: its name; the
 * development file: any, since the tests name their own). A consumer can deliver stored
 * messages to any subject, but keeps their original subject, which every reader checks.
 */
export type ConsumerStreams = string[] | '*';

/** A worker: runs checks, and (when `canControl`) may be named controller. */
export function workerPermissions(id: string, canControl: boolean, streams: ConsumerStreams = '*'): Permissions {
  const w = workerToken(id);
  const own = [`${PREFIX}.result.${w}.*`, subject.worker(w), `${PREFIX}.pong.${w}.*`, subject.view('get')];
  const controller = canControl
    ? [
        ...(['assign', 'check', 'decision', 'transition', 'notify'] as const).map((family) => `${PREFIX}.${family}.${w}.*`),
        `${PREFIX}.run.*.${w}`,
        SNAPSHOT_SUBJECTS.replace('>', `${w}.>`),
        ...CONTROL_REQUESTERS.map((user) => `${inboxPrefix(user)}.>`),
      ]
    : [];
  return {
    publish: [...own, ...controller, ...streamReader(streams)],
    subscribe: [
      `${PREFIX}.run.${w}.*`,
      subject.ping(w),
      subject.view('current'),
      `${inboxPrefix(w)}.>`,
      ...(canControl ? [wildcard.results(), wildcard.heartbeats(), `${PREFIX}.control.*`] : []),
    ],
  };
}

export function viewserverPermissions(user = 'viewserver', streams: ConsumerStreams = '*'): Permissions {
  return {
    publish: [subject.view('current'), `${PREFIX}.ping.*`, '$KV.bearmon_view.>', ...streamReader(streams), `$JS.API.DIRECT.GET.${VIEW_BUCKET_STREAM}.>`],
    subscribe: [`${PREFIX}.worker.*`, subject.view('get'), `${PREFIX}.pong.>`, `${inboxPrefix(user)}.>`],
  };
}

/**
 * Operators: read everything (status, trace, replay, log export), ask for status and
 * reload; no answers, no votes. Pings and control requests are not delivered to them: a
 * `bearmon.>` subscriber there would count as interest and hide the server's "no
 * responders" for a dead controller.
 */
export function operatorPermissions(user = 'operator', streams: ConsumerStreams = '*'): Permissions {
  return {
    publish: [subject.control('status'), subject.control('reload'), ...streamReader(streams)],
    subscribe: [`${PREFIX}.>`, `${inboxPrefix(user)}.>`],
    subscribeDeny: [`${PREFIX}.ping.>`, `${PREFIX}.control.>`],
  };
}

export interface NatsUser {
  user: string;
  password: string;
  /** Absent: every right (admin). */
  permissions?: Permissions;
  comment?: string;
}

const quote = (s: string) => JSON.stringify(s);
const list = (items: string[]) => `[${items.map(quote).join(', ')}]`;

/** One `{ user: ..., password: ..., permissions: {...} }` entry of nats.conf. */
function renderUser(u: NatsUser): string {
  const head = `{ user: ${quote(u.user)}, password: ${quote(u.password)}`;
  if (!u.permissions) return `    ${head} }`;
  const p = u.permissions;
  const subscribe = p.subscribeDeny ? `{ allow: ${list(p.subscribe)}, deny: ${list(p.subscribeDeny)} }` : list(p.subscribe);
  return [`    ${head}, permissions: {`, `        publish: ${list(p.publish)}`, `        subscribe: ${subscribe}`, '    } }'].join('\n');
}

export interface NatsConfOptions {
  listen: string;
  serverName: string;
  users: NatsUser[];
  /** Lines of commentary at the top. */
  header: string[];
  /** A cluster member: its cluster name, where it listens for routes, and the routes to the others. */
  cluster?: NatsClusterOptions;
}

export interface NatsClusterOptions {
  name: string;
  listen: string;
  routes: string[];
}

/** The cluster block of one server; JetStream replicates over these routes (three servers for 3 replicas). */
function renderCluster(cluster: NatsClusterOptions): string {
  return `
# A member of the NATS cluster ${cluster.name}: each server names the others' route URLs; a
# distinct server_name per server is required for JetStream.
cluster {
  name: ${cluster.name}
  listen: ${cluster.listen}
  routes = [
${cluster.routes.map((r) => `    ${r}`).join('\n')}
  ]
}
`;
}

/** The largest message any role sends: a run request carries a check definition (≤ 64 KiB). */
export const MAX_PAYLOAD = '128KB';

export function renderNatsConf(options: NatsConfOptions): string {
  const users = options.users.map((u) => [...(u.comment ? [`    # ${u.comment}`] : []), renderUser(u)].join('\n')).join('\n');
  return `${options.header.map((line) => `# ${line}`.trimEnd()).join('\n')}
listen: ${options.listen}
server_name: ${options.serverName}

jetstream {
  max_memory_store: 256MB
  # Room the streams reserve: the result log ([nats] maxBytes, 1GB by default), the
  # snapshots (256MB) and the view's bucket (1MB) each have their own share.
  max_file_store: 16GB
}

# The largest legitimate message is a run request (a check definition of at most 64 KiB);
# anything larger is refused by the server before any bearmon process reads it.
max_payload: ${MAX_PAYLOAD}

authorization {
  users = [
${users}
  ]
}
${options.cluster ? renderCluster(options.cluster) : ''}`;
}

/** A user's password in the repository's nats.conf (local development, the demo, the tests). */
export const developmentPassword = (user: string) => `bearmon-dev-${user}`;

/** The users of the repository's nats.conf: development passwords `bearmon-dev-<user>`. */
export function developmentUsers(): NatsUser[] {
  const dev = developmentPassword;
  const workers = ['demo-w1', 'demo-w2', 'demo-w3', 'w1', 'w2', 'w3'];
  return [
    { user: 'viewserver', password: dev('viewserver'), permissions: viewserverPermissions(), comment: 'The viewserver: pings candidates, keeps the view in KV, publishes it.' },
    { user: 'operator', password: dev('operator'), permissions: operatorPermissions(), comment: 'Operators: read everything (status, trace, replay, log export), change nothing.' },
    { user: 'admin', password: dev('admin'), comment: 'Everything: `bearmon setup` (streams, KV bucket), local tooling, the tests\' own set-up. Not for processes.' },
    ...workers.map((w, i) => ({
      user: w,
      password: dev(w),
      permissions: workerPermissions(w, true),
      comment: i === 0 ? 'Workers of `npm start` (demo-w1..3) and of the tests (w1..w3); each may be named controller.' : undefined,
    })),
  ];
}

export const DEVELOPMENT_HEADER = [
  'NATS server configuration for bearmon (local development, `npm start` and the tests).',
  'GENERATED by `bearmon nats-conf --development` from src/bus/permissions.ts: edit that, not this.',
  'The JetStream store directory and the port are given on the command line (-sd, -p): the',
  'demo (`bearmon start`) and the tests each start their own server on a free loopback port.',
  '',
  'Every credential publishes only under its own name (SPEC §8); only admin may create,',
  'change, purge or delete streams, KV buckets and consumers (readers get ephemeral ones).',
  'Every user has its own inbox prefix (_INBOX_<user>): bearmon connects with it.',
  'The passwords below are for local development only: `bearmon nats-conf` writes a',
  'production file with random passwords for your worker ids.',
];

export function developmentNatsConf(): string {
  return renderNatsConf({ listen: '127.0.0.1:4222', serverName: 'bearmon-local', users: developmentUsers(), header: DEVELOPMENT_HEADER });
}

/** The members of the repository's loopback NATS cluster (nats-cluster/*.conf): clients on 4242-4244, routes on 6242-6244 (4222 is the usual single server). */
export const DEVELOPMENT_CLUSTER = ['a', 'b', 'c'] as const;

/**
 * One member of a three-server loopback cluster with the repository's users: what
 * docs/CLUSTER.md and the README run to try bearmon on replicated JetStream.
 */
export function developmentClusterConf(member: (typeof DEVELOPMENT_CLUSTER)[number]): string {
  const index = DEVELOPMENT_CLUSTER.indexOf(member);
  return renderNatsConf({
    listen: `127.0.0.1:${4242 + index}`,
    serverName: `bearmon-${member}`,
    users: developmentUsers(),
    header: [
      `Member ${member} of a three-server NATS cluster on loopback for bearmon (development and trying it out).`,
      'GENERATED from src/bus/permissions.ts (developmentClusterConf): edit that, not this. The users and',
      'passwords are those of nats.conf. Run: nats-server -c nats-cluster/' + member + '.conf -sd /tmp/bearmon-nats-' + member,
      'For production: bearmon nats-conf --route … --cluster-listen … (docs/CLUSTER.md).',
    ],
    cluster: {
      name: 'bearmon',
      listen: `127.0.0.1:${6242 + index}`,
      routes: DEVELOPMENT_CLUSTER.filter((m) => m !== member).map((m) => `nats-route://127.0.0.1:${6242 + DEVELOPMENT_CLUSTER.indexOf(m)}`),
    },
  });
}

/** The role table of docs/CLUSTER.md: exactly what nats.conf grants (a test keeps them equal). */
export function roleTableMarkdown(): string {
  const code = (items: string[]) => items.map((s) => `\`${s}\``).join(', ');
  const row = (user: string, p: Permissions | undefined) =>
    p ? `| ${user} | ${code(p.publish)} | ${code(p.subscribe)}${p.subscribeDeny ? ` (never delivered: ${code(p.subscribeDeny)})` : ''} |` : `| ${user} | everything | everything |`;
  return [
    '| user | may publish | may subscribe |',
    '|---|---|---|',
    row('`viewserver`', viewserverPermissions()),
    row('each worker, e.g. `w1`', workerPermissions('w1', true)),
    row('a worker that may not control (`bearmon nats-conf --controller`)', workerPermissions('w9', false)),
    row('`operator`', operatorPermissions()),
    row('`admin` (`bearmon setup` only)', undefined),
  ].join('\n');
}
