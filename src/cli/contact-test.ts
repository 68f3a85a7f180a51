import type { Config } from '../config/schema.ts';
import { createContactContext, createContactRegistry, prepareContact, sendNotification } from '../contacts/registry.ts';
import type { Charge, ContactContext, Notification } from '../contacts/types.ts';
import { createCluster } from '../db/cluster.ts';
import { readContact, type ContactRow } from '../db/contacts.ts';
import { errorMessage } from '../db/errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { showValue } from '../validation.ts';

/** Exit codes of `bearmon contact test`, so scripts can branch on the outcome. */
export const CONTACT_TEST_EXIT = { delivered: 0, failed: 1, badInput: 2, databaseError: 3 } as const;

/** The largest `contacts.id` (INT). */
const MAX_ID = 2_147_483_647;

export const TEST_MESSAGE = 'This is a test notification from bearmon; no check changed state.';

export interface ContactTestOptions {
  json?: boolean;
}

export interface ContactTestDeps {
  config: Config;
  /** Parts of the production contact context to replace (tests: a local Twilio, a clock). */
  context?: Partial<Omit<ContactContext, 'smtp' | 'twilio' | 'log'>>;
  /** Default: silent, or debug lines on stderr with `[default] debug`; stdout holds only the result. */
  log?: Logger;
  /** One line of result (no newline); default stdout. */
  out?: (line: string) => void;
  /** One line of usage or database error; default stderr. */
  err?: (line: string) => void;
}

/** What one test send came to: printed as a line, or as one JSON object with --json. */
interface Report {
  contactId: number;
  type?: string;
  ok: boolean;
  detail?: string;
  error?: string;
  retry: boolean;
  charge?: Charge;
  /** Present with a charge: a test send is never written to `charges`. */
  chargeRecorded?: false;
}

/**
 * Sends a test notification through one `contacts` row and prints the outcome. Returns the
 * exit code: 0 delivered, 1 the send failed, 2 bad input (id, unknown contact, data the
 * contact type cannot use), 3 the contact could not be read from MySQL.
 */
export async function contactTestCommand(idText: string, options: ContactTestOptions, deps: ContactTestDeps): Promise<number> {
  const out = deps.out ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const err = deps.err ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const print = (report: Report, text: string) => out(options.json ? JSON.stringify(report) : text);

  const id = parseContactId(idText);
  if (id === null) {
    err(`bearmon: contact id: expected a positive integer (value ${showValue(idText)})`);
    return CONTACT_TEST_EXIT.badInput;
  }
  const log = deps.log ?? defaultLogger(deps.config);

  let row: ContactRow | null;
  try {
    row = await fetchContact(deps.config, log, id);
  } catch (e) {
    err(`bearmon: contact ${id}: cannot read the contacts table: ${errorMessage(e)}`);
    return CONTACT_TEST_EXIT.databaseError;
  }
  if (!row) {
    print({ contactId: id, ok: false, error: 'no such contact', retry: false }, `contact ${id}: no such contact`);
    return CONTACT_TEST_EXIT.badInput;
  }

  const type = typeLabel(row.type);
  const prefix = `contact ${id} (${type})`;
  const prepared =
    typeof row.type === 'string'
      ? prepareContact(createContactRegistry(), row.type, row.data)
      : ({ ok: false, message: `type: expected a string (value ${showValue(row.type)})` } as const);
  if (!prepared.ok) {
    print({ contactId: id, type, ok: false, error: prepared.message, retry: false }, `${prefix}: ${prepared.message}`);
    return CONTACT_TEST_EXIT.badInput;
  }

  const ctx = createContactContext(deps.config, log.child({ contactId: id }), deps.context);
  const outcome = await sendNotification(prepared, testNotification(id, ctx.now()), ctx);
  if (outcome.ok) {
    const report: Report = { contactId: id, type, ok: true, detail: outcome.detail, retry: false };
    let text = `${prefix}: delivered: ${outcome.detail}`;
    if (outcome.charge) {
      Object.assign(report, { charge: outcome.charge, chargeRecorded: false });
      text += ' (a test send is not recorded in charges)';
    }
    print(report, text);
    return CONTACT_TEST_EXIT.delivered;
  }
  const retry = outcome.retry ? 'would be retried' : 'will not succeed on retry';
  print({ contactId: id, type, ok: false, error: outcome.error, retry: outcome.retry }, `${prefix}: failed (${retry}): ${outcome.error}`);
  return CONTACT_TEST_EXIT.failed;
}

/** A positive INT, written in plain decimal digits; null otherwise. */
export function parseContactId(text: string): number | null {
  if (!/^\d{1,10}$/.test(text)) return null;
  const id = Number(text);
  return id >= 1 && id <= MAX_ID ? id : null;
}

/** Marked as a test everywhere a receiver looks: the check's name and type, the message, the id. */
export function testNotification(contactId: number, now: number): Notification {
  return {
    id: `test-${contactId}-${now}`,
    check: { id: 0, name: 'bearmon contact test', type: 'test', data: '' },
    status: 'offline',
    message: TEST_MESSAGE,
    at: new Date(now),
    workers: [],
  };
}

async function fetchContact(config: Config, log: Logger, id: number): Promise<ContactRow | null> {
  const cluster = createCluster({ dsns: config.controller.database, log, connectionLimit: 1 });
  try {
    return await readContact(cluster, id);
  } finally {
    await cluster.close();
  }
}

/** The type as stored when it is a plain name; anything else (control characters, NULL) as JSON. */
function typeLabel(type: unknown): string {
  return typeof type === 'string' && /^[A-Za-z0-9_.-]{1,32}$/.test(type) ? type : showValue(type, 40);
}

function defaultLogger(config: Config): Logger {
  return createLogger({
    level: config.default.debug ? 'debug' : 'silent',
    destination: { write: (line: string) => void process.stderr.write(line) },
  });
}
