/**
 * Every NATS subject bearmon uses, in one table. Each family has one builder that
 * validates its tokens, so no code assembles a subject by hand and no id can smuggle a
 * `.`, `*` or `>` into a subject. `nats sub 'bearmon.>'` shows all of it.
 */
export const PREFIX = 'bearmon';

export const SUBJECTS = {
  /** A worker's verdict on one run: bearmon.result.<workerId>.<checkId> (the worker id in the subject lets nats.conf bind it to that worker's credentials). */
  result: `${PREFIX}.result.{worker}.{check}`,
  /** A check's configuration as the controller loaded it: bearmon.check.<checkId>. */
  check: `${PREFIX}.check.{check}`,
  /** A status flip derived by the machine: bearmon.transition.<checkId>. */
  transition: `${PREFIX}.transition.{check}`,
  /** Intermediate facts (pending started, round completed, pending cancelled): bearmon.decision.<checkId>. */
  decision: `${PREFIX}.decision.{check}`,
  /** Notification outcomes: bearmon.notify.<checkId>. */
  notify: `${PREFIX}.notify.{check}`,
  /** The controller handed a run to a worker (logged before the worker is told): bearmon.assign.<checkId>. */
  assign: `${PREFIX}.assign.{check}`,
  /** The run request itself, to one worker: bearmon.run.<workerId>. Not logged. */
  run: `${PREFIX}.run.{worker}`,
  /** A worker's liveness and free capacity, every second: bearmon.worker.<workerId>. Not logged. */
  worker: `${PREFIX}.worker.{worker}`,
  /** Requests to the controller (request/reply): bearmon.control.status, bearmon.control.reload. */
  control: `${PREFIX}.control.{command}`,
  /** The viewserver's liveness probe of one worker (request/reply): bearmon.ping.<workerId>. */
  ping: `${PREFIX}.ping.{worker}`,
  /** The current view {view, controller}: published on change as bearmon.view.current, requested on bearmon.view.get. */
  view: `${PREFIX}.view.{kind}`,
} as const;

export type SubjectFamily = keyof typeof SUBJECTS;

/** Families kept in the result log (JetStream). */
export const LOGGED_FAMILIES = ['result', 'check', 'transition', 'decision', 'notify', 'assign'] as const satisfies readonly SubjectFamily[];

export const CONTROL_COMMANDS = ['status', 'reload'] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

const WORKER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class SubjectError extends Error {}

export function workerToken(worker: string): string {
  if (!WORKER_ID.test(worker)) throw new SubjectError(`worker id ${JSON.stringify(worker)} must be 1-64 letters, digits, _ or -`);
  return worker;
}

export function checkToken(check: number): string {
  if (!Number.isSafeInteger(check) || check < 1) throw new SubjectError(`check id ${JSON.stringify(check)} must be a positive integer`);
  return String(check);
}

export const subject = {
  result: (worker: string, check: number) => `${PREFIX}.result.${workerToken(worker)}.${checkToken(check)}`,
  check: (check: number) => `${PREFIX}.check.${checkToken(check)}`,
  transition: (check: number) => `${PREFIX}.transition.${checkToken(check)}`,
  decision: (check: number) => `${PREFIX}.decision.${checkToken(check)}`,
  notify: (check: number) => `${PREFIX}.notify.${checkToken(check)}`,
  assign: (check: number) => `${PREFIX}.assign.${checkToken(check)}`,
  run: (worker: string) => `${PREFIX}.run.${workerToken(worker)}`,
  worker: (worker: string) => `${PREFIX}.worker.${workerToken(worker)}`,
  ping: (worker: string) => `${PREFIX}.ping.${workerToken(worker)}`,
  view: (kind: 'current' | 'get') => `${PREFIX}.view.${kind === 'get' ? 'get' : 'current'}`,
  control: (command: ControlCommand) => {
    if (!CONTROL_COMMANDS.includes(command)) throw new SubjectError(`unknown control command ${JSON.stringify(command)}`);
    return `${PREFIX}.control.${command}`;
  },
} as const satisfies Record<SubjectFamily, (...args: never[]) => string>;

/** Wildcard covering a whole family, e.g. `bearmon.result.>`. */
export function familyWildcard(family: SubjectFamily): string {
  return `${PREFIX}.${family}.>`;
}

/** Wildcard for one check across families that end in the check id (used by `--check`). */
export function checkFilter(family: SubjectFamily, check: number): string {
  return family === 'result' ? `${PREFIX}.result.*.${checkToken(check)}` : `${PREFIX}.${family}.${checkToken(check)}`;
}

/** Which family a subject belongs to, or undefined for foreign subjects. */
export function familyOf(name: string): SubjectFamily | undefined {
  const [prefix, family] = name.split('.');
  if (prefix !== PREFIX || !family || !(family in SUBJECTS)) return undefined;
  return family as SubjectFamily;
}
