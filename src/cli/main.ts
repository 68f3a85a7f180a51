import { Command, Option } from 'commander';
import { describeKeys } from '../config/load.ts';
import { parseDsn, redact } from '../db/dsn.ts';
import { migrate } from '../db/migrate.ts';
import { checkRunCommand } from './check-run.ts';
import { loadCommandConfig } from './config.ts';
import { registerLogCommands } from './log-commands.ts';

const program = new Command('bearmon')
  .description('Distributed uptime monitor: workers, controller and viewserver over NATS, checks in MySQL.')
  .option('-c, --config <file>', 'configuration file (default: $BEARMON_CONFIG, ./bearmon.cfg, /etc/bearmon/bearmon.cfg)')
  .showHelpAfterError();

const globalConfig = () => loadCommandConfig(program.opts<{ config?: string }>().config);

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
    const dsn = config.controller.database[0]!;
    const report = await migrate(parseDsn(dsn), { createDatabase: options.create });
    log.info({ dsn: redact(dsn), ...report }, 'database schema is up to date');
  });

const configCommand = program.command('config').description('configuration');
configCommand
  .command('check')
  .description('validate the configuration and print the effective values (secrets hidden)')
  .action(() => {
    const { config } = globalConfig();
    const hidden = JSON.parse(JSON.stringify(config), (key, value) =>
      /password|token/i.test(key) && value ? '***' : value,
    );
    process.stdout.write(`${JSON.stringify(hidden, null, 2)}\n`);
  });
configCommand
  .command('keys')
  .description('list every configuration key with its documentation')
  .action(() => {
    for (const k of describeKeys()) process.stdout.write(`[${k.section}] ${k.key}${k.list ? ' (repeatable)' : ''}: ${k.doc}\n`);
  });

program
  .command('start')
  .description('run the local cluster: 3 workers (one is the controller), demo targets and demo checks, printing events')
  .addOption(new Option('--interval <seconds>', 'seconds between runs of each demo check').default('5'))
  .action(async (options: { interval: string }) => {
    const { config, log } = globalConfig();
    const { runCluster } = await import('../demo/cluster.ts');
    await runCluster(config, log, { intervalSeconds: Number(options.interval), upMs: 40_000, downMs: 30_000 });
  });

program
  .command('worker')
  .description('run a worker ([worker] id, numThreads, sourceAddress); with --controller it also acts as the controller')
  .option('--controller', 'always act as the controller (view 0: for a single node without a viewserver)')
  .action(async (options: { controller?: boolean }) => {
    const { config, log } = globalConfig();
    const { runWorkerProcess, terminationSignal } = await import('../actors/worker.ts');
    const { controllerRole } = await import('../actors/controller.ts');
    const { viewRole } = await import('../actors/node.ts');
    const { startMetrics } = await import('../metrics/start.ts');
    const metrics = await startMetrics(config, log);
    // Without --controller the viewserver decides which worker controls.
    const role = options.controller ? controllerRole(config, log, { metrics }) : viewRole(config, log, metrics);
    await runWorkerProcess(config, log, terminationSignal(), [role], metrics);
    await metrics?.server.close();
  });

program
  .command('viewserver')
  .description('pick the controller: heartbeat the candidates over NATS, publish the view (number only grows, kept in JetStream KV)')
  .action(async () => {
    const { config, log } = globalConfig();
    const { runViewserverProcess } = await import('../actors/viewserver.ts');
    const { terminationSignal } = await import('../actors/worker.ts');
    const { startMetrics } = await import('../metrics/start.ts');
    const metrics = await startMetrics(config, log);
    await runViewserverProcess(config, log, terminationSignal(), metrics);
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

registerLogCommands(program, globalConfig);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Operational failures (unreachable NATS, a missing stream) end with one line, not a stack.
  process.stderr.write(`bearmon: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
