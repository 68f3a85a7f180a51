import { mailFailure } from '../contacts/email.ts';
import { errorText, redact } from '../contacts/outcome.ts';
import type { ContactContext, SendOutcome } from '../contacts/types.ts';
import { basisWords } from '../decide/probe-score.ts';
import type { Logger } from '../log.ts';
import { admitNotice, DEFAULT_MAX_PER_WINDOW, initialNoticeState, mailFailed, type HeldCounts, type NoticePolicy, type NoticeState } from './policy.ts';
import { ADMIN_NOTICE_KINDS, type AdminNotice } from './types.ts';
import { clip } from '../text.ts';

export interface AdminNotifierOptions {
  /** `[smtp]` (host, from, admin, adminInterval, credentials) and the mail transport. */
  ctx: ContactContext;
  log: Logger;
  /** Defaults: `intervalMs` = `[smtp] adminInterval`, `maxPerWindow` = 10. */
  policy?: Partial<NoticePolicy>;
  /** Clock of the rate limit (default `ctx.now`). */
  now?: () => number;
  /** Waits before the second, third, ... try of a mail (default 1 s, 2 s: three tries). */
  retryDelaysMs?: readonly number[];
}

export interface AdminNotifier {
  /** Logs the notice and, when the rate limit admits it, mails it in the background. Never throws. */
  notify(notice: AdminNotice): void;
  /** Resolves when no mail is in flight (retries included). */
  idle(): Promise<void>;
}

const DEFAULT_RETRY_DELAYS_MS = [1000, 2000];
const SUBJECT_MAX_CHARS = 200;

/**
 * Admin notices: every one is logged (one warn line); with `[smtp] admin`, `host` and
 * `from` set, those the rate limit admits are also mailed to the admin address.
 */
export function createAdminNotifier(options: AdminNotifierOptions): AdminNotifier {
  const { ctx, log } = options;
  const now = options.now ?? ctx.now;
  const policy: NoticePolicy = { intervalMs: ctx.smtp.adminInterval, maxPerWindow: DEFAULT_MAX_PER_WINDOW, ...options.policy };
  const retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const mailable = Boolean(ctx.smtp.admin && ctx.smtp.host && ctx.smtp.from);
  let state: NoticeState = initialNoticeState;
  let toldOnlyLogged = false;
  const inFlight = new Set<Promise<void>>();

  function notify(notice: AdminNotice): void {
    try {
      const safe = redactNotice(ctx, notice);
      const text = `admin notice: ${summary(safe)}`;
      if (!mailable) {
        log.warn({ notice: safe, mail: 'off' }, text);
        if (!toldOnlyLogged) {
          toldOnlyLogged = true;
          log.warn({ admin: ctx.smtp.admin ?? null, host: ctx.smtp.host ?? null, from: ctx.smtp.from ?? null }, 'admin notices are only logged: mailing them needs [smtp] admin, host and from');
        }
        return;
      }
      const decision = admitNotice(state, safe, now(), policy);
      state = decision.state;
      if (!decision.admit) return void log.warn({ notice: safe, mail: 'held', reason: decision.reason, held: state.held }, text);
      log.warn({ notice: safe, mail: 'sending', to: ctx.smtp.admin, heldBack: decision.heldByKind }, text);
      const sending = deliver(safe, decision.heldByKind).finally(() => inFlight.delete(sending));
      inFlight.add(sending);
    } catch (err) {
      // A notice must never take its caller down; this would be a bug in formatting or logging.
      log.error({ err: redact(ctx, errorText(err)) }, 'admin notice failed');
    }
  }

  /** Tries the mail up to 1 + retryDelaysMs.length times; a permanent failure (5xx) is not retried. Never rejects. */
  async function deliver(notice: AdminNotice, held: HeldCounts): Promise<void> {
    const fields = { kind: notice.kind, to: ctx.smtp.admin };
    let outcome: SendOutcome = { ok: false, retry: false, error: 'not sent' };
    let attempt = 0;
    try {
      for (attempt = 1; ; attempt++) {
        outcome = await sendOnce(notice, held);
        if (outcome.ok) return void log.info({ ...fields, attempt, detail: outcome.detail }, 'admin notice mailed');
        const delay = retryDelaysMs[attempt - 1];
        if (!outcome.retry || delay === undefined) break;
        log.warn({ ...fields, attempt, retryInMs: delay, error: outcome.error }, 'admin notice mail failed; trying again');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    } catch (err) {
      outcome = { ok: false, retry: false, error: redact(ctx, errorText(err)) };
    }
    state = mailFailed(state, notice, held);
    log.error({ ...fields, attempts: attempt, error: outcome.ok ? undefined : outcome.error }, 'admin notice could not be mailed');
  }

  async function sendOnce(notice: AdminNotice, held: HeldCounts): Promise<SendOutcome> {
    const { host, port, from, admin } = ctx.smtp;
    const server = `${host}:${port}`;
    let transport;
    try {
      transport = ctx.createMailTransport(ctx.smtp);
    } catch (err) {
      return { ok: false, retry: false, error: redact(ctx, `cannot set up SMTP transport: ${errorText(err)}`) };
    }
    try {
      const info = await transport.sendMail({
        from,
        to: admin,
        subject: adminMailSubject(notice),
        text: adminMailBody(notice, { at: ctx.now(), held, policy }),
        date: new Date(ctx.now()),
        headers: { 'X-Bearmon-Admin-Notice': notice.kind },
      });
      return { ok: true, detail: redact(ctx, `mail to ${admin} accepted by ${server}: ${info.response ?? 'no response text'}`) };
    } catch (err) {
      return mailFailure(ctx, server, err);
    } finally {
      transport.close();
    }
  }

  return {
    notify,
    idle: async () => {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}

/** One line, as in the subject and the log: "quorum lost: 1 live worker(s), confirmations 2". */
export function summary(notice: AdminNotice): string {
  switch (notice.kind) {
    case 'quorum-lost':
      return `quorum lost: ${notice.alive} live worker(s)${notice.quarantined?.length ? ` whose votes count (${notice.quarantined.length} quarantined)` : ''}, confirmations ${notice.confirmations}`;
    case 'quorum-restored':
      return `quorum restored: ${notice.alive} live worker(s)`;
    case 'reload-failed':
      return `configuration reload failed ${notice.consecutive} time(s) in a row`;
    case 'notification-failed':
      return `notification failed: check ${notice.checkName} (#${notice.checkId}) to ${notice.contactType} contact #${notice.contactId}`;
    case 'outbox-failed':
      return `notifications not queued for check #${notice.checkId}`;
    case 'no-controller':
      return notice.previous === null ? 'no controller: no candidate alive' : `no controller: ${notice.previous} lost, no candidate alive`;
    case 'overloaded':
      return `overloaded: ${notice.backlog} check(s) waiting for a free worker slot`;
    case 'regions-short':
      return `regions short: live workers span ${notice.regions.length} region(s), a check asks for ${notice.needed}`;
    case 'regions-restored':
      return `regions restored: live workers span ${notice.regions.length} region(s)`;
    case 'probe-flagged':
      return `faulty probe: worker ${notice.worker} contradicts the others in ${Math.round(notice.ratio * 100)} % of ${notice.samples} verdicts${notice.excluded ? ', quarantined' : ''}`;
    case 'probe-released':
      return `worker ${notice.worker} agrees with the others again${notice.excluded ? ', votes count again' : ''}`;
  }
}

/** Header-safe: control characters (a line break could start a new header) become blanks. */
export function adminMailSubject(notice: AdminNotice): string {
  const text = `[bearmon] ${summary(notice)}`.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]+/g, ' ').trim();
  return clip(text, SUBJECT_MAX_CHARS);
}

/** What happened and what it means, the facts, the time, and what the rate limit held back. */
export function adminMailBody(notice: AdminNotice, context: { at: number; held: HeldCounts; policy: NoticePolicy }): string {
  const { explanation, facts } = describe(notice);
  const held = ADMIN_NOTICE_KINDS.filter((kind) => (context.held[kind] ?? 0) > 0);
  const every = duration(context.policy.intervalMs);
  return [
    explanation,
    '',
    `Kind: ${notice.kind}`,
    ...facts.map(([label, value]) => `${label}: ${value}`),
    `Time: ${new Date(context.at).toISOString()}`,
    '',
    ...(held.length > 0 ? ['Held back since the last admin mail:', ...held.map((kind) => `  ${kind}: ${context.held[kind]}`), ''] : []),
    `Rate limit: the same notice is mailed at most once per ${every}, and at most ${context.policy.maxPerWindow} admin mails go out per ${every}; what is held back is logged and counted in the next mail.`,
    '',
    'bearmon',
  ].join('\n');
}

function describe(notice: AdminNotice): { explanation: string; facts: [string, string | number][] } {
  switch (notice.kind) {
    case 'quorum-lost':
      return {
        explanation: `Quorum lost: ${notice.alive} live worker(s), but a change of state needs ${notice.confirmations} confirmations from distinct workers. No check can go offline or online until enough workers are back.`,
        facts: [['Live workers', notice.alive], ['Confirmations', notice.confirmations], ...(notice.quarantined?.length ? [['Quarantined (votes do not count)', notice.quarantined.join(', ')] as [string, string]] : [])],
      };
    case 'quorum-restored':
      return { explanation: `Quorum restored: ${notice.alive} live worker(s). Checks can change state again.`, facts: [['Live workers', notice.alive]] };
    case 'reload-failed':
      return {
        explanation: `The controller could not reload checks, contacts and alerts ${notice.consecutive} time(s) in a row. Monitoring goes on with the last configuration it loaded.`,
        facts: [['Consecutive failures', notice.consecutive], ['Error', notice.error]],
      };
    case 'notification-failed':
      return {
        explanation: `A notification ended without a confirmed delivery after ${notice.attempts} attempt(s); bearmon will not send it again.`,
        facts: [
          ['Check', `${notice.checkName} (#${notice.checkId})`],
          ['Contact', `#${notice.contactId} (${notice.contactType})`],
          ['Notification', notice.notificationId],
          ['Attempts', notice.attempts],
          ['Error', notice.error],
        ],
      };
    case 'outbox-failed':
      return {
        explanation: `A transition of check #${notice.checkId} was recorded, but the notifications it owes could not be written to the outbox: its contacts were not notified.`,
        facts: [['Check', `#${notice.checkId}`], ['Transition', notice.transitionKey], ['Error', notice.error]],
      };
    case 'no-controller':
      return {
        explanation: `${notice.previous === null ? 'There is no controller' : `The controller ${notice.previous} was lost`} and no candidate able to control answers the viewserver. No check is scheduled and no notification is sent until one does.`,
        facts: [['Previous controller', notice.previous ?? '-']],
      };
    case 'overloaded':
      return {
        explanation: `More runs are due than the live workers have free slots for (${notice.capacity} in all): ${notice.backlog} check(s) wait, the oldest ${Math.round(notice.oldestLateMs / 1000)} s late. Every check still runs, in turn, as slots free up; add workers or raise [worker] numThreads.`,
        facts: [['Waiting checks', notice.backlog], ['Oldest late by', `${Math.round(notice.oldestLateMs / 1000)} s`], ['Worker slots', notice.capacity]],
      };
    case 'regions-short':
      return {
        explanation: `The live workers whose votes count span ${notice.regions.length} region(s) (${notice.regions.join(', ') || 'none'}), but a check asks for a change to be seen from ${notice.needed} (checks.min_regions). Such checks cannot go offline or online until workers of enough regions are back (or released from quarantine).`,
        facts: [['Regions', notice.regions.join(', ') || '-'], ['Most regions a check asks for', notice.needed]],
      };
    case 'regions-restored':
      return { explanation: `The live workers span enough regions again (${notice.regions.join(', ')}): every check can change state.`, facts: [['Regions', notice.regions.join(', ')]] };
    case 'probe-flagged':
      return {
        explanation: `Worker ${notice.worker} is a faulty probe: ${Math.round(notice.ratio * 100)} % of its last ${notice.samples} verdicts${basisWords(notice.basis)} contradict the decision the other workers reach (${notice.basis === 'down' ? 'it does not see outages the others see: a captive proxy or a cache in its path is likely' : 'its own network or host is likely broken'}). ${notice.excluded ? 'Its votes no longer count and it gets only audit runs until it agrees again (quarantine = exclude).' : 'Its votes still count ([controller] quarantine = flag).'}`,
        facts: [['Worker', notice.worker], ['Contradictions', `${Math.round(notice.ratio * 100)} % of ${notice.samples}${basisWords(notice.basis)}`], ['Excluded', notice.excluded ? 'yes' : 'no']],
      };
    case 'probe-released':
      return {
        explanation: `Worker ${notice.worker} agrees with the other workers again (${Math.round(notice.ratio * 100)} % contradictions over ${notice.samples} verdicts).${notice.excluded ? ' Its votes count again.' : ''}`,
        facts: [['Worker', notice.worker], ['Contradictions', `${Math.round(notice.ratio * 100)} % of ${notice.samples}`]],
      };
  }
}

/** Every text field with the configured secrets replaced (an error might echo one). */
function redactNotice(ctx: ContactContext, notice: AdminNotice): AdminNotice {
  const copy: Record<string, unknown> = { ...notice };
  for (const [field, value] of Object.entries(copy)) if (typeof value === 'string' && field !== 'kind') copy[field] = redact(ctx, value);
  return copy as AdminNotice;
}

/** 900000 → "15 min". */
function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}
