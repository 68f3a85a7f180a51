const UNREACHABLE_CODE = 'BEARMON_NO_DATABASE_REACHABLE';

/**
 * Error codes meaning "this server cannot be reached or the connection died": the query may
 * succeed on another DSN or later, unlike an SQL error, which would fail the same way again.
 */
const CONNECTION_ERROR_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT', // a query timeout: mysql2 gives up on the connection
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ER_SERVER_SHUTDOWN',
  UNREACHABLE_CODE,
]);

/** Server errors mysql2 may leave without a code: shutdown in progress, MariaDB's connection killed. */
const CONNECTION_ERRNOS = new Set([1053, 1927]);

/** Thrown when every configured database failed with a connection error. */
export class DatabaseUnreachableError extends Error {
  readonly code = UNREACHABLE_CODE;

  constructor(readonly failures: readonly { database: string; error: string }[]) {
    super(`no database reachable: ${failures.map((f) => `${f.database}: ${f.error}`).join('; ')}`);
    this.name = 'DatabaseUnreachableError';
  }
}

/**
 * A transition names a check that is no longer in `checks` (deleted from the front-end):
 * writing it again would fail the same way, so it is dropped at once.
 */
export class CheckMissingError extends Error {
  readonly permanent = true;

  constructor(readonly checkId: number) {
    super(`check ${checkId} no longer exists in checks`);
    this.name = 'CheckMissingError';
  }
}

/** A write from a controller whose view has been superseded: it must never land. */
export class FencedError extends Error {
  readonly permanent = true;

  constructor(
    readonly view: number,
    readonly current: number,
  ) {
    super(`write refused: view ${view} has been replaced by view ${current}`);
    this.name = 'FencedError';
  }
}

/** A request the store refuses before sending anything (e.g. a transition key too long). */
export class InvalidRequestError extends Error {
  readonly permanent = true;

  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, errno, message } = err as { code?: unknown; errno?: unknown; message?: unknown };
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
  if (typeof errno === 'number' && CONNECTION_ERRNOS.has(errno)) return true;
  // mysql2 reports a command on a dead connection without a code.
  return typeof message === 'string' && /closed state/.test(message);
}

/** True when retrying cannot help: the writer drops such a transition at once. */
export function isPermanentError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true;
}

export function errorMessage(err: unknown): string {
  if (err instanceof DatabaseUnreachableError) return err.message;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
