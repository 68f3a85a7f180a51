import { createRequire } from 'node:module';
import type { Logger, DestinationStream, pino as Pino } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Fields on every line, e.g. { role: 'worker', workerId: 'w1' }. */
  base?: Record<string, unknown>;
  /** Where lines go (default stderr); tests pass a stream to read them back. */
  destination?: DestinationStream;
  /**
   * Human-readable lines instead of JSON. Default: when stderr is a terminal (a person
   * reads it); JSON when it is a file, a pipe or journald (a program reads it).
   */
  pretty?: boolean;
}

/**
 * One JSON object per line, on stderr: stdout is kept for a command's data (tables, JSON,
 * NDJSON) so that `bearmon … | jq` never reads a log line. Secrets never reach a log line:
 * any field named like a password or token is redacted wherever it appears.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const pino = loadPino();
  return pino(
    {
      level: options.level ?? 'info',
      base: { ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['password', 'authToken', 'token', '*.password', '*.authToken', '*.token', '*.*.password', '*.*.authToken'],
        censor: '***',
      },
    },
    options.destination ?? stderrDestination(options.pretty ?? process.stderr.isTTY === true),
  );
}

/**
 * A logger whose pino instance is made on first use: a command that logs nothing (`bearmon
 * check list` with a clean configuration) never loads pino. Every property and method is the
 * real logger's, the lines identical.
 */
export function lazyLogger(options: LogOptions = {}): Logger {
  let real: Logger | undefined;
  const logger = () => (real ??= createLogger(options));
  return new Proxy({} as Logger, {
    get: (_, key) => {
      const target = logger();
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set: (_, key, value) => Reflect.set(logger(), key, value),
    has: (_, key) => Reflect.has(logger(), key),
  });
}

let pinoModule: typeof Pino | undefined;
/** pino (CommonJS), required when the first logger is made rather than when this module loads. */
function loadPino(): typeof Pino {
  return (pinoModule ??= (createRequire(import.meta.url)('pino') as { pino: typeof Pino }).pino);
}

/** The errors of a stderr nobody reads any more: a closed pipe (EPIPE), a closed descriptor (`2>&-`). */
const GONE = new Set(['EPIPE', 'EBADF']);

/**
 * Lines to file descriptor 2, written synchronously (a line is out before a `process.exit`
 * that follows it). When the reader of stderr has gone, lines are dropped from then on: a
 * worker whose log pipe broke goes on monitoring instead of dying of an unhandled 'error'
 * (and sonic-boom would otherwise keep every unwritten line in memory to retry it).
 */
function stderrDestination(pretty: boolean): DestinationStream {
  const stream = pretty ? prettyStream() : loadPino().destination({ dest: 2, sync: true });
  let gone = false;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (!GONE.has(err.code ?? '')) throw err;
    gone = true;
  });
  return { write: (line: string) => void (gone || stream.write(line)) };
}

/**
 * pino-pretty (the pino project's own formatter), loaded only when stderr is a terminal:
 * a service writing JSON to journald never pays its start-up.
 */
function prettyStream(): NodeJS.WritableStream {
  const require = createRequire(import.meta.url);
  const build = require('pino-pretty') as (options: Record<string, unknown>) => NodeJS.WritableStream;
  // Colours as the terminal on stderr allows them (NO_COLOR, FORCE_COLOR and TERM included), one line per record.
  const colorize = typeof process.stderr.hasColors === 'function' && process.stderr.hasColors();
  return build({ destination: 2, sync: true, colorize, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
}
