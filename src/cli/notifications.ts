import type { Config } from '../config/schema.ts';
import { createCluster } from '../db/cluster.ts';
import { errorMessage } from '../db/errors.ts';
import { createOutbox, type Outbox, type OutboxListing, type OutboxState } from '../db/outbox.ts';
import { createLogger, type Logger } from '../log.ts';
import { showValue } from '../validation.ts';
import { clip, oneLine } from '../text.ts';
import { renderTable } from './table.ts';

/** Exit codes of `bearmon notifications list|retry`, so scripts can branch on the outcome. */
export const NOTIFICATIONS_EXIT = { ok: 0, notRetried: 1, badInput: 2, databaseError: 3 } as const;

export const OUTBOX_STATES: readonly OutboxState[] = ['pending', 'sending', 'delivered', 'failed', 'unconfirmed', 'held', 'skipped'];

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 10_000;
/** Outcome text in the one-line form; --json has it whole. */
const OUTCOME_WIDTH = 120;
/** `bearmon_notifications.id` is a BIGINT; ids beyond 2^53 cannot be typed exactly anyway. */
const MAX_ID = Number.MAX_SAFE_INTEGER;
/** `checks.id` is an INT. */
const MAX_CHECK_ID = 2_147_483_647;

export interface NotificationsListOptions {
  state?: string;
  check?: string;
  limit?: string;
  json?: boolean;
}

export interface NotificationsRetryOptions {
  json?: boolean;
}

export interface NotificationsDeps {
  config: Config;
  /** Default: silent, or debug lines on stderr with `[default] debug`; stdout holds only the result. */
  log?: Logger;
  /** One line of result (no newline); default stdout. */
  out?: (line: string) => void;
  /** One line of usage or database error; default stderr. */
  err?: (line: string) => void;
  /** When a requeued notification becomes due; default the current time. */
  now?: () => Date;
}

/**
 * Prints outbox rows newest first. Returns the exit code: 0 listed (also none), 2 bad
 * option, 3 the outbox could not be read.
 */
export async function notificationsListCommand(options: NotificationsListOptions, deps: NotificationsDeps): Promise<number> {
  const { out, err } = streams(deps);
  const state = options.state;
  if (state !== undefined && !(OUTBOX_STATES as readonly string[]).includes(state)) {
    err(`bearmon: --state: expected one of ${OUTBOX_STATES.join(', ')} (value ${showValue(state)})`);
    return NOTIFICATIONS_EXIT.badInput;
  }
  const checkId = options.check === undefined ? undefined : parsePositive(options.check, MAX_CHECK_ID);
  if (checkId === null) {
    err(`bearmon: --check: expected a check id, a positive integer (value ${showValue(options.check)})`);
    return NOTIFICATIONS_EXIT.badInput;
  }
  const limit = options.limit === undefined ? DEFAULT_LIMIT : parsePositive(options.limit, MAX_LIMIT);
  if (limit === null) {
    err(`bearmon: --limit: expected an integer from 1 to ${MAX_LIMIT} (value ${showValue(options.limit)})`);
    return NOTIFICATIONS_EXIT.badInput;
  }

  let rows: OutboxListing[];
  try {
    rows = await withOutbox(deps, (outbox) =>
      outbox.list({ limit, ...(state !== undefined ? { state: state as OutboxState } : {}), ...(checkId !== undefined ? { checkId } : {}) }),
    );
  } catch (e) {
    err(`bearmon: notifications: cannot read the outbox (bearmon_notifications): ${errorMessage(e)}`);
    return NOTIFICATIONS_EXIT.databaseError;
  }
  if (options.json) {
    for (const row of rows) out(JSON.stringify(listingJson(row)));
  } else if (rows.length === 0) {
    out('no notifications');
  } else {
    out(listingTable(rows));
  }
  return NOTIFICATIONS_EXIT.ok;
}

/**
 * Puts a failed or unconfirmed notification back to pending, due now. Returns the exit
 * code: 0 requeued, 1 not in a state to retry (queued, being sent, delivered), 2 bad or
 * unknown id, 3 database error.
 */
export async function notificationsRetryCommand(idText: string, options: NotificationsRetryOptions, deps: NotificationsDeps): Promise<number> {
  const { out, err } = streams(deps);
  const print = (report: object, text: string) => out(options.json ? JSON.stringify(report) : text);
  const id = parsePositive(idText, MAX_ID);
  if (id === null) {
    err(`bearmon: notification id: expected a positive integer (value ${showValue(idText)})`);
    return NOTIFICATIONS_EXIT.badInput;
  }
  const at = (deps.now ?? (() => new Date()))();

  let result: Awaited<ReturnType<Outbox['requeue']>>;
  try {
    result = await withOutbox(deps, (outbox) => outbox.requeue(id, at));
  } catch (e) {
    err(`bearmon: notification ${id}: cannot update the outbox (bearmon_notifications): ${errorMessage(e)}`);
    return NOTIFICATIONS_EXIT.databaseError;
  }

  if (!result.row) {
    print({ id, requeued: false, error: 'no such notification' }, `notification ${id}: no such notification`);
    return NOTIFICATIONS_EXIT.badInput;
  }
  const row = result.row;
  const what = `notification ${id} (${describe(row)})`;
  if (!result.requeued) {
    const reason = notRetriedReason(row.state);
    print({ id, requeued: false, state: row.state, reason }, `${what}: not retried: ${reason} (state ${row.state})`);
    return NOTIFICATIONS_EXIT.notRetried;
  }
  const report = {
    id,
    requeued: true,
    previousState: result.before.state,
    state: row.state,
    attempts: row.attempts,
    nextAttempt: row.attempts + 1,
    nextAttemptAt: row.nextAttemptAt.toISOString(),
    outcome: row.outcome,
  };
  print(
    report,
    `${what}: ${result.before.state} -> pending, due ${isoSeconds(row.nextAttemptAt)}; the controller makes attempt ${row.attempts + 1} at its next poll`,
  );
  return NOTIFICATIONS_EXIT.ok;
}

function notRetriedReason(state: OutboxState): string {
  if (state === 'delivered') return 'already delivered';
  if (state === 'sending') return 'already being sent';
  return 'already queued';
}

/** The id in plain decimal digits, from 1 to `max`; null otherwise. */
export function parsePositive(text: string, max: number): number | null {
  if (!/^\d{1,16}$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= max ? n : null;
}

/**
 * Contact data fit to print: an address or number as stored; of a URL only scheme://host,
 * since a webhook's path, query or user info often is its secret; anything else not at all.
 */
export function safeContactData(contact: OutboxListing['contact']): string | null {
  if (!contact) return null;
  if (contact.type === 'email' || contact.type === 'sms' || contact.type === 'voice') return contact.data;
  try {
    const url = new URL(contact.data.trim());
    return url.host ? `${url.protocol}//${url.host}` : null;
  } catch {
    return null;
  }
}

/** The row's fields for --json; check data is left out (an HTTP check's URL may hold a token), contact data reduced. */
function listingJson(row: OutboxListing) {
  return {
    id: row.id,
    key: row.key,
    transitionKey: row.transitionKey,
    createdAt: row.createdAt.toISOString(),
    checkId: row.check.id,
    checkName: row.check.name,
    checkType: row.check.type,
    alertId: row.alertId,
    contactId: row.contactId,
    contactType: row.contact?.type ?? null,
    contactData: safeContactData(row.contact),
    status: row.status,
    message: row.message,
    workers: row.workers,
    transitionAt: row.transitionAt.toISOString(),
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.nextAttemptAt.toISOString(),
    claimedView: row.claimedView,
    claimedBy: row.claimedBy,
    claimedAt: row.claimedAt?.toISOString() ?? null,
    outcome: row.outcome,
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}

/** The rows as a table: ID CREATED CHECK CONTACT STATUS STATE ATTEMPTS DUE OUTCOME, one row each. */
function listingTable(rows: OutboxListing[]): string {
  return renderTable(
    ['ID', 'CREATED', 'CHECK', 'CONTACT', 'STATUS', 'STATE', 'ATTEMPTS', 'DUE', 'OUTCOME'],
    rows.map((row) => [
      row.id,
      isoSeconds(row.createdAt),
      `${row.check.id} (${row.check.name})`,
      `${row.contactId} (${row.contact ? clip(row.contact.type, 32) : 'missing'})`,
      row.status,
      row.state,
      row.attempts,
      // A held row is due when its maintenance window ends.
      row.state === 'pending' || row.state === 'held' ? isoSeconds(row.nextAttemptAt) : undefined,
      // An outcome can be kilobytes (a mail server's whole answer): a row stays one line; --json has it whole.
      row.outcome === null ? undefined : clip(oneLine(row.outcome), OUTCOME_WIDTH),
    ]),
    { align: ['right', 'left', 'left', 'left', 'left', 'left', 'right'] },
  );
}

function describe(row: OutboxListing): string {
  return `check ${row.check.id} (${clip(oneLine(row.check.name), 64)}) contact ${row.contactId} (${row.contact ? clip(oneLine(row.contact.type), 32) : 'missing'})`;
}

const isoSeconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

function streams(deps: NotificationsDeps) {
  return {
    out: deps.out ?? ((line: string) => void process.stdout.write(`${line}\n`)),
    err: deps.err ?? ((line: string) => void process.stderr.write(`${line}\n`)),
  };
}

async function withOutbox<T>(deps: NotificationsDeps, work: (outbox: Outbox) => Promise<T>): Promise<T> {
  const log = deps.log ?? defaultLogger(deps.config);
  const cluster = createCluster({ dsns: deps.config.controller.database, log, connectionLimit: 1 });
  try {
    return await work(createOutbox(cluster));
  } finally {
    await cluster.close();
  }
}

function defaultLogger(config: Config): Logger {
  return createLogger({
    level: config.default.debug ? 'debug' : 'silent',
    destination: { write: (line: string) => void process.stderr.write(line) },
  });
}
