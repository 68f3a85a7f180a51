/**
 * Server-rendered pages: the login form and the public status page (plain HTML and CSS,
 * no script: it renders at once and shows only what it is given — names, states, uptime,
 * incident times).
 */
import { formatUptime } from './badge.ts';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface PublicCheck {
  id: number;
  name: string;
  state: string;
  uptime: Record<'24h' | '7d' | '30d' | '90d', number | null>;
}

export interface PublicStatus {
  at: string;
  checks: (PublicCheck & { days: { day: string; uptime: number | null }[] })[];
  incidents: { check: string; to: string; at: string }[];
}

const head = (title: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title><link rel="stylesheet" href="/assets/style.css"></head>`;

export function renderLoginPage(options: { failed: boolean; configured: boolean }): string {
  return `${head('bearmon — log in')}<body class="login"><form method="post" action="/login" class="card">
<h1>bearmon</h1>
${options.failed ? '<p class="error" role="alert">Wrong user or password.</p>' : ''}
${options.configured ? '' : '<p class="error">No password is configured ([web] passwordHash; make one with <code>bearmon web hash-password</code>).</p>'}
<label>User <input name="user" autocomplete="username" required maxlength="200"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="200"></label>
<button type="submit">Log in</button>
<p class="muted"><a href="/status">Public status page</a></p>
</form></body></html>`;
}

function dayClass(uptime: number | null): string {
  if (uptime === null) return 'none';
  if (uptime >= 0.999) return 'up';
  if (uptime >= 0.95) return 'partial';
  return 'down';
}

export function renderStatusPage(status: PublicStatus): string {
  const allUp = status.checks.every((c) => c.state === 'online');
  const rows = status.checks
    .map((c) => {
      const bars = c.days
        .map((d) => `<span class="bar ${dayClass(d.uptime)}" title="${esc(d.day)}: ${esc(formatUptime(d.uptime))}"></span>`)
        .join('');
      return `<section class="check" data-check="${esc(c.name)}">
<div class="check-head"><h2>${esc(c.name)}</h2><span class="state state-${esc(c.state)}">${esc(c.state)}</span></div>
<div class="bars" aria-label="uptime per day, last 90 days">${bars}</div>
<div class="bars-legend"><span>90 days ago</span><span>uptime 90 d: ${esc(formatUptime(c.uptime['90d']))} · 24 h: ${esc(formatUptime(c.uptime['24h']))}</span><span>today</span></div>
</section>`;
    })
    .join('\n');
  const incidents = status.incidents.length
    ? `<ul class="incidents">${status.incidents.map((i) => `<li><time datetime="${esc(i.at)}">${esc(i.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}</time> <b>${esc(i.check)}</b> went <span class="state state-${esc(i.to)}">${esc(i.to)}</span></li>`).join('')}</ul>`
    : '<p class="muted">No incidents in the last 90 days.</p>';
  return `${head('Status')}<body class="status-page"><main>
<h1>Status</h1>
<p class="summary ${allUp ? 'ok' : 'bad'}">${status.checks.length === 0 ? 'No public checks.' : allUp ? 'All systems operational' : 'Some systems are not operational'}</p>
${rows}
<h2>Recent incidents</h2>
${incidents}
<p class="muted">Updated ${esc(status.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))} · <a href="/status.json">status.json</a></p>
</main></body></html>`;
}
