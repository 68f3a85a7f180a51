/**
 * Reminders (issue 15): while a check stays offline, an alert with `remind_every` and
 * `remind_max` repeats its offline notification. Slot n of an outage is due at
 * offlineSince + n × every, for n = 1 … max. Pure: the controller reads the outage and what
 * is queued from MySQL, this decides, and each slot becomes an outbox row whose key names it
 * (so a second controller queueing the same slot inserts nothing).
 */

/** Slot numbers beyond this are never queued: the key (transition key + `:reminder:<n>/<contact>`) must fit its column. */
export const REMIND_MAX_CAP = 1000;

/**
 * The reminder slots to queue at `now`: the latest slot reached, when it is later than the
 * highest slot already queued (`alreadyQueued`, 0 for none). Slots passed while no controller
 * was running are not sent in a burst: one reminder says the check is still offline.
 * Values read from MySQL are untrusted: anything not a positive number means no reminders.
 */
export function dueReminders(now: number, offlineSince: number, everyMs: number, max: number, alreadyQueued: number): number[] {
  if (!Number.isFinite(everyMs) || everyMs <= 0 || !Number.isFinite(max) || max < 1 || !Number.isFinite(offlineSince)) return [];
  const reached = Math.min(Math.floor(max), REMIND_MAX_CAP, Math.floor((now - offlineSince) / everyMs));
  return reached > alreadyQueued ? [reached] : [];
}

/** The outbox key of reminder `slot` of one notification (transition key + '/' + contact id is the first one's). */
export function reminderKey(transitionKey: string, slot: number, contactId: number): string {
  return `${transitionKey}:reminder:${slot}/${contactId}`;
}

/** How long an outage lasted, as people say it: 4500000 → "1h 15m", 7000 → "7s", 0 → "0s". */
export function outageDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const parts: [number, string][] = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const shown = parts.filter(([n]) => n > 0).map(([n, unit]) => `${n}${unit}`);
  return shown.length > 0 ? shown.join(' ') : '0s';
}
