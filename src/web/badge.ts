/**
 * Shields-style SVG badges ("label | value") for the public status page. Text is escaped
 * and widths estimated from character counts (Verdana 11px averages ~6.5 px per char).
 */
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export const BADGE_COLORS = { online: '#2e9e44', offline: '#d73a31', pending: '#dfb317', misconfigured: '#7d5bbe', unknown: '#9f9f9f' } as const;

export function badgeSvg(label: string, value: string, color: string): string {
  const w = (s: string) => Math.round(s.length * 6.5 + 10);
  const lw = w(label);
  const vw = w(value);
  const total = lw + vw;
  const l = escape(label);
  const v = escape(value);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${total}" height="20" role="img" aria-label="${l}: ${v}"><title>${l}: ${v}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="${total}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="${lw}" height="20" fill="#555"/><rect x="${lw}" width="${vw}" height="20" fill="${color}"/><rect width="${total}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="${lw / 2}" y="14">${l}</text><text x="${lw + vw / 2}" y="14">${v}</text></g></svg>`;
}

/** Uptime as the badge and the status page print it: 99.95 %, 100 %, or "unknown". */
export function formatUptime(uptime: number | null): string {
  if (uptime === null) return 'unknown';
  const pct = uptime * 100;
  if (pct >= 100) return '100%';
  return `${pct >= 99.99 ? pct.toFixed(3) : pct.toFixed(2)}%`;
}

export function uptimeColor(uptime: number | null): string {
  if (uptime === null) return BADGE_COLORS.unknown;
  if (uptime >= 0.999) return BADGE_COLORS.online;
  if (uptime >= 0.99) return '#97ca00';
  if (uptime >= 0.95) return BADGE_COLORS.pending;
  return BADGE_COLORS.offline;
}

/**
 * Uptime as a fraction 0..1. The history gives a fraction; a value above 1 can only be a
 * percentage and is read as one.
 */
export function normalizeUptime(uptime: number | null | undefined): number | null {
  if (uptime === null || uptime === undefined || !Number.isFinite(uptime) || uptime < 0) return null;
  return uptime > 1 ? Math.min(1, uptime / 100) : uptime;
}
