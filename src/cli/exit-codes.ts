import type { Command } from 'commander';
import { isConnectionError } from '../db/errors.ts';

// Light on purpose (no NATS client, no zod): main.ts imports this before any command runs,
// and a command's start-up time is part of its answer time. Errors are told by their class
// names, which the tests check against errors that real servers produced.

/**
 * The exit codes of every `bearmon` command (docs/CLI.md), so a script can tell "the
 * answer is no" from "I could not ask".
 */
export const EXIT = {
  /** Done; the answer is yes (online, delivered, listed). */
  ok: 0,
  /** The command's negative answer: offline, failed, not found, records skipped. */
  negative: 1,
  /** Usage or bad input: an unknown option, a value that cannot be read. The command did nothing. */
  usage: 2,
  /** A service could not be reached: NATS, MySQL, or the controller behind NATS. */
  unavailable: 3,
  /** Configuration: invalid, or credentials the server refuses (sysexits EX_CONFIG). */
  config: 78,
} as const;

/** A value on the command line the command cannot use; main.ts prints its message and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** NATS.js errors meaning no server was reached, or no controller answered a request (NoRespondersError is named `NoResponders`). */
const NATS_UNAVAILABLE = new Set(['ConnectionError', 'ClosedConnectionError', 'TimeoutError', 'NoResponders', 'NoRespondersError']);
/** The server refused the credentials, or this user may not use the subject: the configured identity is wrong. */
const NATS_REFUSED = new Set(['AuthorizationError', 'UserAuthenticationExpiredError', 'PermissionViolationError']);
/** MySQL refused the configured user or its rights on the database. */
const MYSQL_REFUSED = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR']);

/** Commander's errors carry their own exit code: 0 for --help and --version, 1 for usage errors. */
interface CommanderLike {
  code: string;
  exitCode: number;
}
const isCommanderError = (err: unknown): err is CommanderLike =>
  typeof err === 'object' && err !== null && typeof (err as CommanderLike).code === 'string' && (err as CommanderLike).code.startsWith('commander.') && typeof (err as CommanderLike).exitCode === 'number';

/** The error and its causes, outermost first (NATS wraps "no responders" in a RequestError). */
function* chain(err: unknown): Generator<unknown> {
  const seen = new Set<unknown>();
  for (let e = err; typeof e === 'object' && e !== null && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    yield e;
  }
}

/**
 * The exit code for an error that ended a command (main.ts's last catch): 2 usage, 3 NATS
 * or MySQL unreachable, 78 configuration or refused credentials, otherwise 1.
 */
export function exitCodeFor(err: unknown): number {
  if (isCommanderError(err)) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  for (const e of chain(err)) {
    const { code, name } = e as { code?: unknown; name?: unknown };
    const type = typeof name === 'string' ? name : '';
    if (e instanceof UsageError) return EXIT.usage;
    // src/config/load.ts's ConfigError (not imported: it would bring zod along).
    if ((e as object).constructor?.name === 'ConfigError') return EXIT.config;
    if (NATS_REFUSED.has(type)) return EXIT.config;
    if (typeof code === 'string' && MYSQL_REFUSED.has(code)) return EXIT.config;
    if (NATS_UNAVAILABLE.has(type)) return EXIT.unavailable;
    // Socket errors (ECONNREFUSED, ENOTFOUND, ...) and MySQL's lost connections, from either client.
    if (isConnectionError(e)) return EXIT.unavailable;
  }
  return EXIT.negative;
}

/** Whether main.ts should print the error: commander has already printed its own. */
export function printedAlready(err: unknown): boolean {
  return isCommanderError(err);
}

/**
 * Commander ends a usage error (unknown option or command, missing argument) with exit 1,
 * which would read as the command's negative answer: this makes it 2 for `program` and
 * every command under it. Call it after every command is defined. Commander has printed
 * the error (and the help) before; --help and --version keep their 0.
 */
export function useUsageExitCode(program: Command): void {
  const visit = (command: Command) => {
    command.exitOverride((err) => {
      if (err.exitCode !== 0) process.exit(EXIT.usage);
      // Returning lets commander end as it would have (exit 0).
    });
    for (const sub of command.commands) visit(sub);
  };
  visit(program);
}
