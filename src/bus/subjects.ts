/**
 * Every NATS subject bearmon uses, in one table. Each family has one builder that
 * validates its tokens, so no code assembles a subject by hand and no id can smuggle a
 * `.`, `*` or `>` into a subject. `nats sub 'bearmon.>'` shows all of it.
 *
 * Every subject names its publisher (SPEC §8): nats.conf lets each credential publish only
 * under its own name, so the subject — not the payload — says who spoke, and every reader
 * checks the payload's claims against it (src/bus/trust.ts).
 */
export const PREFIX = 'bearmon';

/** Who may publish a family: a worker (its own id in the subject), the controller (its worker id in the subject), the viewserver, an operator. */
export type Publisher = 'worker' | 'controller' | 'viewserver' | 'operator';

export const SUBJECTS = {
  /** A worker's verdict on one run: bearmon.result.<worker>.<check>. Logged. */
  result: { pattern: `${PREFIX}.result.{worker}.{check}`, publisher: 'worker' },
  /** A check's configuration as the controller loaded it: bearmon.check.<controller>.<check>. Logged. */
  check: { pattern: `${PREFIX}.check.{controller}.{check}`, publisher: 'controller' },
  /** A status flip derived by the machine: bearmon.transition.<controller>.<check>. Logged. */
  transition: { pattern: `${PREFIX}.transition.{controller}.{check}`, publisher: 'controller' },
  /** Intermediate facts (pending, round, cancelled, rejected, recorded): bearmon.decision.<controller>.<check>. Logged. */
  decision: { pattern: `${PREFIX}.decision.{controller}.{check}`, publisher: 'controller' },
  /** Notification outcomes: bearmon.notify.<controller>.<check>. Logged. */
  notify: { pattern: `${PREFIX}.notify.{controller}.{check}`, publisher: 'controller' },
  /** A run handed to a worker, and its expiry (logged before the worker is told): bearmon.assign.<controller>.<check>. Logged. */
  assign: { pattern: `${PREFIX}.assign.{controller}.{check}`, publisher: 'controller' },
  /** The run request itself, to one worker, from the controller: bearmon.run.<worker>.<controller>. Not logged. */
  run: { pattern: `${PREFIX}.run.{worker}.{controller}`, publisher: 'controller' },
  /** A worker's liveness and free capacity, every second: bearmon.worker.<worker>. Not logged. */
  worker: { pattern: `${PREFIX}.worker.{worker}`, publisher: 'worker' },
  /** The viewserver's liveness probe of one worker: bearmon.ping.<worker>, its reply subject a pong subject. Not logged. */
  ping: { pattern: `${PREFIX}.ping.{worker}`, publisher: 'viewserver' },
  /** A worker's answer to one ping: bearmon.pong.<worker>.<nonce>. Not logged. */
  pong: { pattern: `${PREFIX}.pong.{worker}.{nonce}`, publisher: 'worker' },
  /** The current view {view, controller}: bearmon.view.current (viewserver only; logged); bearmon.view.get asks for it again (anyone). */
  view: { pattern: `${PREFIX}.view.{current|get}`, publisher: 'viewserver' },
  /** Requests to the controller (request/reply): bearmon.control.status, bearmon.control.reload. */
  control: { pattern: `${PREFIX}.control.{command}`, publisher: 'operator' },
} as const satisfies Record<string, { pattern: string; publisher: Publisher }>;

export type SubjectFamily = keyof typeof SUBJECTS;

/** Families a controller publishes into the result log, each `bearmon.<family>.<controller>.<check>`. */
export const CONTROLLER_LOG_FAMILIES = ['check', 'transition', 'decision', 'notify', 'assign'] as const satisfies readonly SubjectFamily[];
export type ControllerLogFamily = (typeof CONTROLLER_LOG_FAMILIES)[number];

/** Families kept in the result log (JetStream). */
export const LOGGED_FAMILIES = ['result', ...CONTROLLER_LOG_FAMILIES] as const satisfies readonly SubjectFamily[];

export const CONTROL_COMMANDS = ['status', 'reload'] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

const ID = /^[A-Za-z0-9_-]{1,64}$/;

export class SubjectError extends Error {}

export function workerToken(worker: string): string {
  if (typeof worker !== 'string' || !ID.test(worker)) throw new SubjectError(`worker id ${JSON.stringify(worker)} must be 1-64 letters, digits, _ or -`);
  return worker;
}

export function checkToken(check: number): string {
  if (!Number.isSafeInteger(check) || check < 1) throw new SubjectError(`check id ${JSON.stringify(check)} must be a positive integer`);
  return String(check);
}

const nonceToken = (nonce: string) => {
  if (!ID.test(nonce)) throw new SubjectError(`nonce ${JSON.stringify(nonce)} must be 1-64 letters, digits, _ or -`);
  return nonce;
};

const logged = (family: ControllerLogFamily) => (controller: string, check: number) => `${PREFIX}.${family}.${workerToken(controller)}.${checkToken(check)}`;

export const subject = {
  result: (worker: string, check: number) => `${PREFIX}.result.${workerToken(worker)}.${checkToken(check)}`,
  check: logged('check'),
  transition: logged('transition'),
  decision: logged('decision'),
  notify: logged('notify'),
  assign: logged('assign'),
  run: (worker: string, controller: string) => `${PREFIX}.run.${workerToken(worker)}.${workerToken(controller)}`,
  worker: (worker: string) => `${PREFIX}.worker.${workerToken(worker)}`,
  ping: (worker: string) => `${PREFIX}.ping.${workerToken(worker)}`,
  pong: (worker: string, nonce: string) => `${PREFIX}.pong.${workerToken(worker)}.${nonceToken(nonce)}`,
  view: (kind: 'current' | 'get') => `${PREFIX}.view.${kind === 'get' ? 'get' : 'current'}`,
  control: (command: ControlCommand) => {
    if (!CONTROL_COMMANDS.includes(command)) throw new SubjectError(`unknown control command ${JSON.stringify(command)}`);
    return `${PREFIX}.control.${command}`;
  },
} as const satisfies Record<SubjectFamily, (...args: never[]) => string>;

/** Wildcards for subscriptions, one per use. */
export const wildcard = {
  /** Everything of a family, e.g. `bearmon.result.>`. */
  family: (family: SubjectFamily) => `${PREFIX}.${family}.>`,
  /** Run requests to one worker, from any controller (the view says which one counts). */
  runsFor: (worker: string) => `${PREFIX}.run.${workerToken(worker)}.*`,
  /** Every worker's results (the controller): bearmon.result.*.*. */
  results: () => `${PREFIX}.result.*.*`,
  /** Pongs of every worker (the viewserver). */
  pongs: () => `${PREFIX}.pong.>`,
  /** Every heartbeat. */
  heartbeats: () => `${PREFIX}.worker.*`,
} as const;

/** Wildcard covering a whole family, e.g. `bearmon.result.>`. */
export function familyWildcard(family: SubjectFamily): string {
  return wildcard.family(family);
}

/** Wildcard for one check in a logged family (used by `--check`): the publisher is any. */
export function checkFilter(family: (typeof LOGGED_FAMILIES)[number], check: number): string {
  return `${PREFIX}.${family}.*.${checkToken(check)}`;
}

/** Which family a subject belongs to, or undefined for foreign subjects. */
export function familyOf(name: string): SubjectFamily | undefined {
  const [prefix, family] = name.split('.');
  if (prefix !== PREFIX || !family || !Object.hasOwn(SUBJECTS, family)) return undefined;
  return family as SubjectFamily;
}

/**
 * A logged subject taken apart: its family, who published it (the worker of a result, the
 * controller of the others) and the check. Undefined when the subject does not have the
 * family's shape — which a reader treats as untrusted.
 */
export interface LoggedSubject {
  family: (typeof LOGGED_FAMILIES)[number];
  publisher: string;
  checkId: number;
}

export function parseLoggedSubject(name: string): LoggedSubject | undefined {
  const parts = name.split('.');
  if (parts.length !== 4 || parts[0] !== PREFIX) return undefined;
  const [, family, publisher, check] = parts as [string, string, string, string];
  if (!(LOGGED_FAMILIES as readonly string[]).includes(family) || !ID.test(publisher) || !/^[1-9]\d{0,15}$/.test(check)) return undefined;
  const checkId = Number(check);
  if (!Number.isSafeInteger(checkId)) return undefined;
  return { family: family as LoggedSubject['family'], publisher, checkId };
}

/** The controller named in a run request's subject (bearmon.run.<worker>.<controller>), if the subject is addressed to `worker`. */
export function runSender(name: string, worker: string): string | undefined {
  const parts = name.split('.');
  if (parts.length !== 4 || parts[0] !== PREFIX || parts[1] !== 'run' || parts[2] !== worker || !ID.test(parts[3]!)) return undefined;
  return parts[3];
}

/** The worker and nonce of a pong subject (bearmon.pong.<worker>.<nonce>). */
export function pongOf(name: string): { worker: string; nonce: string } | undefined {
  const parts = name.split('.');
  if (parts.length !== 4 || parts[0] !== PREFIX || parts[1] !== 'pong' || !ID.test(parts[2]!) || !ID.test(parts[3]!)) return undefined;
  return { worker: parts[2]!, nonce: parts[3]! };
}

/** The worker of a heartbeat subject (bearmon.worker.<worker>). */
export function heartbeatOf(name: string): string | undefined {
  const parts = name.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX || parts[1] !== 'worker' || !ID.test(parts[2]!)) return undefined;
  return parts[2];
}
