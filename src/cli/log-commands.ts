import { InvalidArgumentError, type Command } from 'commander';
import type { Config } from '../config/schema.ts';
import { QUARANTINE_MODES, type QuarantineMode } from '../decide/probe-score.ts';
import type { LogRecord, ReplayIo, ReplayMode } from '../replay/run.ts';
import { EXIT } from './exit-codes.ts';

// The NATS client and the replay machinery are imported by the actions that use them, so
// defining these commands costs every other command nothing at start-up.

/** Whether the stream holds any view record: then nothing speaks for a controller outside a view (src/bus/trust.ts). */
async function streamHasViews(config: Config): Promise<boolean> {
  const [{ jetstreamManager }, { connectBus }, { lastLoggedView }] = await Promise.all([import('@nats-io/jetstream'), import('../bus/connect.ts'), import('../bus/result-log.ts')]);
  const nc = await connectBus(config.nats, 'bearmon-replay');
  try {
    const jsm = await jetstreamManager(nc);
    return (await lastLoggedView(jsm, config.nats.stream)) !== undefined;
  } finally {
    await nc.close();
  }
}

/** Records from the result log stream; the connection closes when reading ends. */
async function* streamRecords(config: Config): AsyncGenerator<LogRecord> {
  const [{ connectBus }, { readLog }] = await Promise.all([import('../bus/connect.ts'), import('../bus/result-log.ts')]);
  const nc = await connectBus(config.nats, 'bearmon-replay');
  try {
    // The whole stream is read even with --since: earlier lines rebuild each check's state.
    yield* readLog(nc, { stream: config.nats.stream });
  } catch (err) {
    if (!/stream not found/i.test((err as Error).message)) throw err;
    throw new Error(`the result log stream ${config.nats.stream} does not exist on ${config.nats.url.join(', ')} (no controller has run there yet?)`);
  } finally {
    await nc.close();
  }
}

/**
 * A value an option cannot use is a usage error: commander names the option and the value,
 * prints the command's help, and the command exits 2 (docs/CLI.md) without doing anything.
 */
function usageError(message: string): InvalidArgumentError {
  const err = new InvalidArgumentError(message);
  err.exitCode = EXIT.usage;
  return err;
}

function parseTime(value: string): Date {
  const relative = /^-(\d+)([smhd])$/.exec(value);
  const ms = relative ? Date.now() - Number(relative[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[relative[2] as 's']! : Date.parse(value);
  if (Number.isNaN(ms)) throw usageError('expected an RFC 3339 time or a relative time such as -7d');
  return new Date(ms);
}

function positiveInt(min = 1) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw usageError(`expected an integer >= ${min}`);
    return n;
  };
}

function intBetween(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw usageError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

function quarantineMode(value: string): QuarantineMode {
  if (!(QUARANTINE_MODES as readonly string[]).includes(value)) throw usageError(`expected ${QUARANTINE_MODES.slice(0, -1).join(', ')} or ${QUARANTINE_MODES.at(-1)}`);
  return value as QuarantineMode;
}

const stdio: ReplayIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

interface WindowFlags {
  since?: Date;
  until?: Date;
  check?: number;
}

function addWindowOptions(command: Command): Command {
  return command
    .option('--since <time>', 'start of the window: RFC 3339 or relative (-7d, -12h)', parseTime)
    .option('--until <time>', 'end of the window', parseTime)
    .option('--check <id>', 'only this check', positiveInt());
}

export function registerLogCommands(program: Command, loadConfig: () => { config: Config }): void {
  addWindowOptions(
    program
      .command('replay [file]')
      .description('re-drive the check machines from a log (NDJSON file, "-" for stdin, or the stream when no file) and print what they derive'),
  )
    .option('--confirmations <n>', 'confirmations to replay with (default: [controller] confirmations)', positiveInt())
    .option('--delay <n>', 'override every check\'s delay (policy backtesting)', positiveInt(0))
    .option('--regions <k>', "override every check's min regions: distinct regions a change needs (policy backtesting, 1..16)", intBetween(1, 16))
    .option('--quarantine <mode>', 'faulty-probe scoring to replay with: off, flag or exclude (default: [controller] quarantine; the probe settings are the config\'s)', quarantineMode)
    .option('--explain', 'for each transition, print the results that caused it, readable; also partial outages and faulty probes')
    .option('--summary', 'print only a per-check summary: transitions, time offline, partial outages; and the workers flagged as faulty probes')
    .action(async (file: string | undefined, flags: WindowFlags & { confirmations?: number; delay?: number; regions?: number; quarantine?: QuarantineMode; explain?: boolean; summary?: boolean }) => {
      const { config } = loadConfig();
      // config/schema.ts (and zod) only now: --version and every other command's start-up do without it.
      const [{ replay }, { fileRecordBatches }, { probeSettings }] = await Promise.all([import('../replay/run.ts'), import('../replay/sources.ts'), import('../config/schema.ts')]);
      const mode: ReplayMode = flags.summary ? 'summary' : flags.explain ? 'explain' : 'ndjson';
      // A file is read a chunk of lines at a time (src/replay/sources.ts): replay takes each batch without an await per line.
      const records = file ? fileRecordBatches(file) : streamRecords(config);
      const viewless = file ? true : !(await streamHasViews(config));
      const skipped = await replay(
        records,
        {
          mode,
          confirmations: flags.confirmations ?? config.controller.confirmations,
          delay: flags.delay,
          regions: flags.regions,
          quarantine: flags.quarantine ?? config.controller.quarantine,
          probe: probeSettings(config.controller),
          since: flags.since,
          until: flags.until,
          checkId: flags.check,
          viewless,
        },
        stdio,
      );
      process.exitCode = skipped > 0 ? 1 : 0;
    });

  const log = program.command('log').description('the result log');
  addWindowOptions(log.command('export').description('write the result log (or a window of it) as replay NDJSON')).action(
    async (flags: WindowFlags) => {
      const { config } = loadConfig();
      const { exportLog } = await import('../replay/export.ts');
      const viewless = !(await streamHasViews(config));
      const skipped = await exportLog(
        streamRecords(config),
        { confirmations: config.controller.confirmations, since: flags.since, until: flags.until, checkId: flags.check, viewless },
        stdio,
      );
      process.exitCode = skipped > 0 ? 1 : 0;
    },
  );

  program
    .command('trace [subject]')
    .description("print live events, one per line (default subject 'bearmon.>'); workers' heartbeats and the viewserver's pings only with --heartbeats or --all")
    .option('--json', 'print raw JSON payloads')
    .option('--heartbeats', "also print the workers' heartbeats (one per worker a second)")
    .option('--all', "print everything: heartbeats too, and the viewserver's pings and their pongs")
    .action(async (subjectFilter: string | undefined, flags: { json?: boolean; heartbeats?: boolean; all?: boolean }) => {
      const { config } = loadConfig();
      const [{ connect }, { busOptions }, { trace }] = await Promise.all([import('@nats-io/transport-node'), import('../bus/connect.ts'), import('../trace.ts')]);
      // noEcho: the trace's own request for check names is not an event to print.
      const nc = await connect({ ...busOptions(config.nats), name: 'bearmon-trace', noEcho: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      const stop = () => void nc.drain();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await trace(
        nc,
        { subject: subjectFilter ?? 'bearmon.>', json: Boolean(flags.json), heartbeats: flags.heartbeats, all: flags.all },
        (line) => process.stdout.write(`${line}\n`),
      );
    });
}
