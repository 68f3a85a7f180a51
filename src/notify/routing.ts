/**
 * Who is told about a transition (SPEC §4): every enabled alert of the check whose type
 * is `both` or the new status notifies its contact. A partial outage (some regions see the
 * check offline, others online: issue 17) is told only to `partial` alerts, and a `partial`
 * alert hears of nothing else. Pure: the rows come from MySQL (untrusted, read in the
 * transition's transaction), the decision is made here.
 */

/** What an alert may ask to hear of: a status change to online or offline, or a partial outage (began or ended). */
export type RouteKind = 'online' | 'offline' | 'partial';

/** One `alerts` row of the check, joined with its contact (absent when the contact row is missing). */
export interface AlertRow {
  alertId: number;
  contactId: number;
  /** `alerts.type`: 'online' | 'offline' | 'both' | 'partial', or whatever the front-end wrote (even NULL). */
  type: unknown;
  /** `alerts.enabled`: 1 or 0 (TINYINT). */
  enabled: unknown;
  contact: { type: string; data: string } | null;
}

export interface Route {
  alertId: number;
  contactId: number;
  contact: { type: string; data: string } | null;
}

/** Does this alert ask to hear about a change to `to` (or, for 'partial', of a partial outage)? */
export function wants(alert: Pick<AlertRow, 'type' | 'enabled'>, to: RouteKind): boolean {
  const enabled = Number(alert.enabled) === 1;
  // 'both' means both statuses, as in gobearmon: never a partial outage.
  const matches = (alert.type === 'both' && to !== 'partial') || alert.type === to;
  return enabled && matches;
}

/**
 * The contacts to notify, one route per contact (two alerts of one check naming the same
 * contact send one message), in alert id order so the outbox is deterministic.
 */
export function route(alerts: readonly AlertRow[], to: RouteKind): Route[] {
  const routes = new Map<number, Route>();
  const ordered = [...alerts].sort((a, b) => a.alertId - b.alertId);
  for (const alert of ordered) {
    if (!wants(alert, to) || routes.has(alert.contactId)) continue;
    routes.set(alert.contactId, { alertId: alert.alertId, contactId: alert.contactId, contact: alert.contact });
  }
  return [...routes.values()];
}
