/**
 * Who is told about a transition (SPEC §4): every enabled alert of the check whose type
 * is `both` or the new status notifies its contact. Pure: the rows come from MySQL
 * (untrusted, read in the transition's transaction), the decision is made here.
 */

/** One `alerts` row of the check, joined with its contact (absent when the contact row is missing). */
export interface AlertRow {
  alertId: number;
  contactId: number;
  /** `alerts.type`: 'online' | 'offline' | 'both', or whatever the front-end wrote (even NULL). */
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

/** Does this alert ask to hear about a change to `to`? */
export function wants(alert: Pick<AlertRow, 'type' | 'enabled'>, to: 'online' | 'offline'): boolean {
  const enabled = Number(alert.enabled) === 1;
  const matches = alert.type === 'both' || alert.type === to;
  return enabled && matches;
}

/**
 * The contacts to notify, one route per contact (two alerts of one check naming the same
 * contact send one message), in alert id order so the outbox is deterministic.
 */
export function route(alerts: readonly AlertRow[], to: 'online' | 'offline'): Route[] {
  const routes = new Map<number, Route>();
  const ordered = [...alerts].sort((a, b) => a.alertId - b.alertId);
  for (const alert of ordered) {
    if (!wants(alert, to) || routes.has(alert.contactId)) continue;
    routes.set(alert.contactId, { alertId: alert.alertId, contactId: alert.contactId, contact: alert.contact });
  }
  return [...routes.values()];
}
