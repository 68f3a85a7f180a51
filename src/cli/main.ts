import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { installEpipeHandler } from './epipe.ts';
import { exitCodeFor, printedAlready, useUsageExitCode } from './exit-codes.ts';
import { registerLogCommands } from './log-commands.ts';
import { registerManageCommands } from './manage.ts';
import type { Config } from '../config/schema.ts';

// Start-up is part of every command's answer time: this file loads commander and nothing
// else of weight; each command imports what it needs (zod, mysql2, the NATS client, the
// check registry) when it runs. `bearmon --version` loads none of them.

// A reader that went away (`bearmon log export | head`) ends the command quietly, config or not.
installEpipeHandler();

/** The configuration loader, imported before any action runs (see the preAction hook). */
let configModule: typeof import('./config.ts') | undefined;

const program = new Command('bearmon')
  .description('Distributed uptime monitor: workers, controller and viewserver over NATS, checks in MySQL.')
  .version(packageVersion(), '-V, --version', 'print the version')
  .option('-c, --config <file>', 'configuration file (default: $BEARMON_CONFIG, ./bearmon.cfg, /etc/bearmon/bearmon.cfg)')
  .showHelpAfterError()
  .hook('preAction', async () => {
    configModule = await import('./config.ts');
  });

/** The configuration the command loaded, so a last error can be printed without its secrets. */
let loadedConfig: Config | undefined;
/** package.json's version (read from the checkout, so dist/ and src/ say the same). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const globalConfig = () => {
  const loaded = configModule!.loadCommandConfig(program.opts<{ config?: string }>().config);
  loadedConfig = loaded.config;
  return loaded;
};

const check = program.command('check').description('work with single checks');
check
  .command('run')
  .description('run one check as a worker would and print the result (exit 0 online, 1 offline, 2 misconfigured, 3 worker error)')
  .requiredOption('-t, --type <type>', 'check type: http, tcp, icmp, ssl_expire, dns')
  .requiredOption('-d, --data <json>', 'check parameters, the JSON stored in checks.data')
  .option('--source-address <ip>', 'bind outgoing traffic to this local address')
  .option('--dns-server <host[:port]>', 'resolver for dns checks without a server')
  .option('--json', 'print the result as one JSON object')
  .action(async (options) => {
    const { config } = globalConfig();
    const { checkRunCommand } = await import('./check-run.ts');
    process.exitCode = await checkRunCommand(config, options);
  });

const contact = program.command('contact').description('work with contacts (the contacts table)');
contact
  .command('test <id>')
  .description('send a test notification through one contact and print the outcome (exit 0 delivered, 1 failed, 2 bad id or contact data, 3 database error)')
  .option('--json', 'print the outcome as one JSON object')
  .action(async (id: string, options: { json?: boolean }) => {
    const { config } = globalConfig();
    const { contactTestCommand } = await import('./contact-test.ts');
    process.exitCode = await contactTestCommand(id, options, { config });
  });

const notifications = program.command('notifications').description('inspect and retry notifications (the outbox, bearmon_notifications)');
notifications
  .command('list')
  .description('list notifications newest first: check, contact id and type, state, attempts, outcome (exit 2 bad option, 3 database error)')
  .option('--state <state>', 'only this state: pending, sending, delivered, failed, unconfirmed')
  .option('--check <id>', 'only notifications of this check')
  .option('--limit <n>', 'at most this many rows', '50')
  .option('--json', 'print one JSON object per row')
  .action(async (options: { state?: string; check?: string; limit?: string; json?: boolean }) => {
    const { config } = globalConfig();
    const { notificationsListCommand } = await import('./notifications.ts');
    process.exitCode = await notificationsListCommand(options, { config });
  });
notifications
  .command('retry <id>')
  .description('send a failed or unconfirmed notification once more (exit 0 requeued, 1 queued/being sent/delivered, 2 bad or unknown id, 3 database error)')
  .option('--json', 'print the outcome as one JSON object')
  .action(async (id: string, options: { json?: boolean }) => {
    const { config } = globalConfig();
    const { notificationsRetryCommand } = await import('./notifications.ts');
    process.exitCode = await notificationsRetryCommand(id, options, { config });
  });

const db = program.command('db').description('database administration');
db.command('migrate')
  .description('create or upgrade the schema (idempotent; keeps gobearmon rows untouched)')
  .option('--no-create', 'fail instead of creating a missing database')
  .action(async (options: { create: boolean }) => {
    const { config, log } = globalConfig();
    const [{ migrate }, { parseDsn }, { redactDsn }] = await Promise.all([import('../db/migrate.ts'), import('../db/dsn.ts'), import('../redact.ts')]);
    const dsn = config.controller.database[0]!;
    const report = await migrate(parseDsn(dsn), { createDatabase: options.create });
    log.info({ dsn: redactDsn(dsn), ...report }, 'database schema is up to date');
  });

program
  .command('setup')
  .description('create what only admin may on NATS: the result log stream, the snapshot stream, the view\'s KV bucket (run with the admin credentials; idempotent)')
  .action(async () => {
    const { config } = globalConfig();
    const { connectBus } = await import('../bus/connect.ts');
    const { setupBus } = await import('../bus/setup.ts');
    const nc = await connectBus(config.nats, 'bearmon-setup');
    try {
      const { natsReplicas } = await import('../config/schema.ts');
      const made = await setupBus(nc, { stream: config.nats.stream, retentionMs: config.nats.retention, maxBytes: config.nats.maxBytes, replicas: natsReplicas(config.nats) });
      for (const line of made) process.stdout.write(`ready: ${line}\n`);
    } finally {
      await nc.close();
    }
  });

program
  .command('nats-conf')
  .description('write a production nats.conf: one user per worker with random passwords (bcrypt), least privilege; prints each node\'s [nats] lines')
  .option('--worker <id>', 'a worker id (repeat)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--controller <id>', 'a worker that may be named controller (repeat; default: every worker)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--listen <host:port>', 'where nats-server listens', '0.0.0.0:4222')
  .option('--server-name <name>', 'nats-server server_name', 'bearmon')
  .option('--url <url>', 'the URL nodes connect to', 'nats://127.0.0.1:4222')
  .option('--stream <name>', 'the result log stream ([nats] stream): readers may make consumers on it only', 'BEARMON')
  .option('--route <url>', 'a cluster route to another server, nats-route://host:6222 (repeat; makes the file one member of a cluster, docs/CLUSTER.md)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--cluster-listen <host:port>', 'where this server listens for cluster routes', '0.0.0.0:6222')
  .option('--cluster-name <name>', 'the cluster name (the same on every member)', 'bearmon')
  .option('--out <file>', 'write nats.conf here (default: stdout, with the node lines on stderr)')
  .option('--development', 'print the repository\'s nats.conf (development users and passwords) instead')
  .action(async (options: { worker: string[]; controller: string[]; listen: string; serverName: string; url: string; stream: string; route: string[]; clusterListen: string; clusterName: string; out?: string; development?: boolean }) => {
    const { generateNatsConf, developmentConf, NatsConfUsageError } = await import('./nats-conf.ts');
    if (options.development) return void process.stdout.write(developmentConf());
    let generated;
    try {
      generated = generateNatsConf(options);
    } catch (err) {
      if (!(err instanceof NatsConfUsageError)) throw err;
      process.stderr.write(`bearmon nats-conf: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    const nodes = generated.nodes.map((n) => `# --- ${n.user}: its bearmon.cfg ---\n${n.config}\n`).join('\n');
    if (options.out) {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(options.out, generated.conf, { mode: 0o600 });
      process.stdout.write(`wrote ${options.out}\n\n${nodes}`);
    } else {
      process.stdout.write(generated.conf);
      process.stderr.write(nodes);
    }
  });

const configCommand = program.command('config').description('configuration');
configCommand
  .command('check')
  .description('validate the configuration and print the effective values as JSON on stdout (secrets hidden, durations as written); the file read and every warning on stderr (exit 78 when invalid)')
  .action(async () => {
    const { configCheckCommand } = await import('./config-commands.ts');
    process.exitCode = configCheckCommand(program.opts<{ config?: string }>().config);
  });
configCommand
  .command('keys')
  .description('list every configuration key: default, unit, environment variable and meaning')
  .option('--json', 'print one JSON object per key')
  .action(async (options: { json?: boolean }) => {
    const { configKeysCommand } = await import('./config-commands.ts');
    process.exitCode = configKeysCommand(options);
  });

program
  .command('start')
  .description('run the local demo cluster on its own nats-server, stream and database (reads no configuration but -c): a viewserver, 3 workers, demo targets and checks, printing events')
  .addOption(new Option('--interval <seconds>', 'seconds between runs of each demo check (1-3600)').default('5'))
  .action(async (options: { interval: string }) => {
    const { demoBaseConfig, runCluster } = await import('../demo/cluster.ts');
    const { config, log } = demoBaseConfig(program.opts<{ config?: string }>().config);
    loadedConfig = config;
    await runCluster(config, log, { intervalSeconds: options.interval, upMs: 40_000, downMs: 30_000 });
  });

program
  .command('worker')
  .description('run a worker ([worker] id, numThreads, sourceAddress); with --controller it also acts as the controller')
  .option('--controller', 'always act as the controller (view 0: for a single node without a viewserver)')
  .action(async (options: { controller?: boolean }) => {
    const { config, log } = globalConfig();
    const { runWorkerProcess, terminationSignal } = await import('../actors/worker.ts');
    const { exitIfShutdownHangs } = await import('../actors/shutdown.ts');
    const { controllerRole } = await import('../actors/controller.ts');
    const { viewRole } = await import('../actors/node.ts');
    const { startMetrics } = await import('../metrics/start.ts');
    const metrics = await startMetrics(config, log);
    // Without --controller the viewserver decides which worker controls.
    const role = options.controller ? controllerRole(config, log, { metrics }) : viewRole(config, log, metrics);
    const shutdown = terminationSignal();
    exitIfShutdownHangs(shutdown, log);
    (await import('../actors/fault.ts')).installStallOnSignal(process.env, log);
    // With --controller it obeys its own run requests (view 0); under a viewserver only the view's controller.
    const viewZeroController = options.controller ? config.worker.id : config.worker.controller;
    await runWorkerProcess(config, log, shutdown, [role], metrics, { viewZeroController });
    await metrics?.server.close();
  });

program
  .command('viewserver')
  .description('pick the controller: heartbeat the candidates over NATS, publish the view (number only grows, kept in JetStream KV)')
  .action(async () => {
    const { config, log } = globalConfig();
    const { runViewserverProcess } = await import('../actors/viewserver.ts');
    const { terminationSignal } = await import('../actors/worker.ts');
    const { exitIfShutdownHangs } = await import('../actors/shutdown.ts');
    const { startMetrics } = await import('../metrics/start.ts');
    const metrics = await startMetrics(config, log);
    const shutdown = terminationSignal();
    exitIfShutdownHangs(shutdown, log);
    await runViewserverProcess(config, log, shutdown, metrics);
    await metrics?.server.close();
  });

program
  .command('status')
  .description('ask the controller for every check (state, confirmations, last result per worker, next run) and the live workers')
  .option('--json', 'print the controller\'s answer as JSON')
  .action(async (options: { json?: boolean }) => {
    const { config } = globalConfig();
    const { connectBus } = await import('../bus/connect.ts');
    const { requestStatus, formatStatus } = await import('./status.ts');
    const nc = await connectBus(config.nats, 'bearmon-status');
    try {
      const status = await requestStatus(nc);
      process.stdout.write(`${options.json ? JSON.stringify(status, null, 2) : formatStatus(status)}\n`);
    } finally {
      await nc.close();
    }
  });

program
  .command('reload')
  .description('ask the controller to reload checks from MySQL now')
  .action(async () => {
    const { config } = globalConfig();
    const { connectBus } = await import('../bus/connect.ts');
    const { subject } = await import('../bus/subjects.ts');
    const nc = await connectBus(config.nats, 'bearmon-reload');
    try {
      const reply = (await nc.request(subject.control('reload'), '', { timeout: 10_000 })).json<{ ok: boolean; checks?: number; misconfigured?: number; error?: string }>();
      if (!reply.ok) throw new Error(`reload failed: ${reply.error}`);
      process.stdout.write(`reloaded: ${reply.checks} checks monitored, ${reply.misconfigured} misconfigured\n`);
    } finally {
      await nc.close();
    }
  });

const web = program.command('web').description('serve the dashboard, its JSON API (docs/API.md) and the public status page ([web] section)');
web
  .command('serve', { isDefault: true })
  .description('serve until SIGINT/SIGTERM')
  .action(async () => {
    const { config, log } = globalConfig();
    const { runWebCommand } = await import('../web/start.ts');
    const { terminationSignal } = await import('../actors/worker.ts');
    const { exitIfShutdownHangs } = await import('../actors/shutdown.ts');
    const shutdown = terminationSignal();
    exitIfShutdownHangs(shutdown, log);
    await runWebCommand(config, log, shutdown);
  });
web
  .command('hash-password')
  .description('read a password on stdin (no echo on a terminal) and print the [web] passwordHash line')
  .action(async () => {
    const { hashPasswordCommand } = await import('../web/start.ts');
    process.exitCode = await hashPasswordCommand();
  });

const history = program.command('history').description('uptime and latency history: rollups in MySQL (docs/HISTORY.md)');
history
  .command('rebuild')
  .description('write the rollups again from the result log, from --since (or as far back as the log goes) to 2 minutes ago; idempotent (exit 0 done, 2 bad option, 3 log or database error)')
  .option('--since <duration|time>', 'from this long ago (6h, 7d, 90m, 30s) or this RFC 3339 time')
  .option('--json', 'print the report as one JSON object')
  .action(async (options: { since?: string; json?: boolean }) => {
    const { config } = globalConfig();
    const { historyRebuildCommand } = await import('./history.ts');
    process.exitCode = await historyRebuildCommand(options, { config });
  });

registerLogCommands(program, globalConfig);
registerManageCommands(program, globalConfig);
// Usage errors exit 2 (docs/CLI.md); set after every command exists so all of them inherit it.
useUsageExitCode(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Operational failures (unreachable NATS, a missing stream) end with one line, not a stack.
  // Never a secret: configured passwords and tokens, and URL passwords, are masked.
  if (!printedAlready(err)) {
    const { redactText, configSecrets } = await import('../redact.ts');
    const message = redactText((err as Error).message, loadedConfig ? configSecrets(loadedConfig) : []);
    process.stderr.write(`bearmon: ${message}\n`);
  }
  // The command is over; a connection it opened before failing (NATS reconnecting, a pool)
  // must not keep the process alive. stderr and the log are written synchronously.
  process.exit(exitCodeFor(err));
}
