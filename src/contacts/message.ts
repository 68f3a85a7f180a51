import type { Notification } from './types.ts';
import { clip } from '../text.ts';
import { outageDuration } from '../notify/reminders.ts';

/** SMS bodies stay within two segments; the mail carries the full text. */
export const SMS_MAX_CHARS = 320;
/** A spoken reason longer than this is noise on a phone call. */
export const VOICE_REASON_MAX_CHARS = 300;

/** Header-safe: a check name with a line break must not start a new header or SMS line. */
function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
}

const regions = (list: readonly string[]) => list.join(', ');

/**
 * A partial outage (issue 17): "Check [web] is partially down: offline from eu-west (online
 * from us-east, ap-south): HTTP 500"; its end "Check [web] is no longer partially down: online
 * from every region again (partially down for 5m)."
 */
function partialHeadline(n: Notification & { partial: NonNullable<Notification['partial']> }, name: string, lasted: string | undefined): string {
  const { phase, down, up } = n.partial;
  if (phase === 'ended') {
    // Recovered: no region down; the check itself went offline: no region up (its offline alert says the rest).
    const where = down.length === 0 ? ': online from every region again' : up.length === 0 ? `: the check itself is offline now (was offline from ${regions(down)})` : ` (offline from ${regions(down)})`;
    return `Check [${name}] is no longer partially down${where}${lasted ? ` (partially down for ${lasted})` : ''}.`;
  }
  const message = oneLine(n.message);
  return `Check [${name}] is partially down: offline from ${regions(down) || '?'}${up.length > 0 ? ` (online from ${regions(up)})` : ''}${message ? `: ${message}` : ''}`;
}

/**
 * gobearmon's one-liner: "Check [web] is now offline: HTTP 500". A recovery says how long the
 * outage lasted, a reminder that the check is still offline and for how long.
 */
export function headline(n: Notification): string {
  const name = oneLine(n.check.name);
  const lasted = n.offlineSince ? outageDuration(n.at.getTime() - n.offlineSince.getTime()) : undefined;
  if (n.partial) return partialHeadline({ ...n, partial: n.partial }, name, lasted);
  if (n.status === 'online') return lasted ? `Check [${name}] is now online (offline for ${lasted}).` : `Check [${name}] is now online.`;
  if (n.reminder) return `Check [${name}] is still offline (for ${lasted ?? 'a while'}, reminder ${n.reminder}): ${oneLine(n.message)}`;
  return `Check [${name}] is now ${n.status}: ${oneLine(n.message)}`;
}

/** gobearmon's subject: "Check offline: web"; "Check partially down: web", "Check no longer partially down: web". */
export function mailSubject(n: Notification): string {
  if (n.partial) return `Check ${n.partial.phase === 'began' ? '' : 'no longer '}partially down: ${oneLine(n.check.name)}`;
  return `Check ${n.reminder ? 'still offline' : n.status}: ${oneLine(n.check.name)}`;
}

/** gobearmon's body (headline, then ID, name, type, data) plus the time and the confirming workers. */
export function mailBody(n: Notification): string {
  return [
    headline(n),
    '',
    `ID: ${n.check.id}`,
    `Name: ${n.check.name}`,
    `Type: ${n.check.type}`,
    `Data: ${n.check.data}`,
    `Time: ${n.at.toISOString()}`,
    ...regionLines(n),
    `Confirmed by: ${n.workers.length > 0 ? n.workers.join(', ') : '-'}`,
    `Notification: ${n.id}`,
    '',
    'bearmon',
  ].join('\n');
}

export function smsText(n: Notification): string {
  return clip(headline(n), SMS_MAX_CHARS);
}

/** Spoken text of a voice call; pauses (" . ") help text-to-speech, as gobearmon's did. */
export function voiceText(n: Notification): string {
  const reason = clip(oneLine(n.message), VOICE_REASON_MAX_CHARS);
  if (n.partial?.phase === 'ended') return `This is a monitoring call from bearmon. The check . ${oneLine(n.check.name)} . is no longer partially down.`;
  if (n.partial) {
    return `This is a monitoring call from bearmon. The check . ${oneLine(n.check.name)} . is partially down . offline from ${regions(n.partial.down)} . Reason: ${reason}`;
  }
  return `This is a monitoring call from bearmon. The check . ${oneLine(n.check.name)} . is ${n.reminder ? 'still' : 'now'} ${n.status} . Reason: ${reason}`;
}

/**
 * Chat and push messages: the headline's facts beyond the headline (when, who confirmed it,
 * the id to find it in the outbox). Plain text: each contact type escapes for its markup.
 */
export function detailLines(n: Notification): string[] {
  return [`Time: ${n.at.toISOString()}`, ...regionLines(n), `Confirmed by: ${n.workers.length > 0 ? n.workers.join(', ') : '-'}`, `Notification: ${n.id}`];
}

/** A partial outage's regions, one line each way (none for a status change). */
function regionLines(n: Notification): string[] {
  if (!n.partial) return [];
  return [`Offline from: ${regions(n.partial.down) || '-'}`, `Online from: ${regions(n.partial.up) || '-'}`];
}
