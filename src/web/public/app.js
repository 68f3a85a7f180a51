// bearmon dashboard: plain JavaScript, no build step. Data from the JSON API (docs/API.md),
// live updates from /api/events (Server-Sent Events), charts with uPlot (served locally).
'use strict';
(function () {
  const MAX_ROWS = 1000;
  const checks = new Map();
  let selected = null;
  let summary = null;
  let range = '24h';
  const $ = (sel) => document.querySelector(sel);
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const age = (ms) => (ms == null ? '-' : ms < 1000 ? `${ms | 0}ms` : ms < 120000 ? `${Math.round(ms / 1000)}s` : ms < 7200000 ? `${Math.round(ms / 60000)}m` : `${Math.round(ms / 3600000)}h`);
  const pct = (u) => (u == null ? '–' : u >= 1 ? '100%' : `${(u * 100).toFixed(2)}%`);
  const time = (iso) => String(iso).replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');

  async function api(path, options) {
    const res = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' }, ...options });
    if (res.status === 401) {
      location.href = '/login';
      throw new Error('logged out');
    }
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    return body;
  }

  function banner(text) {
    const el = $('#banner');
    el.hidden = !text;
    el.textContent = text || '';
  }

  // --- checks ------------------------------------------------------------------------------
  function pendingText(c) {
    if (!c.pending) return '';
    const p = c.pending;
    const last = p.lastRound ? `; round ${p.lastRound.round} confirmed by <span data-confirmed="${esc(p.lastRound.workers.join(','))}">${esc(p.lastRound.workers.join(', '))}</span>` : '';
    return `<span data-agree="${esc(p.agreeing.join(','))}">${esc(p.suspected)}? round ${p.round}/${p.rounds ?? '?'}: ${p.agreeing.length}/${p.of ?? '?'} agree (${esc(p.agreeing.join(', ') || '–')})</span>${last}`;
  }
  function resultsText(c) {
    const now = Date.now();
    return c.lastResults
      .map((r) => `<span class="result ${esc(r.status)}" title="${esc(r.message)}">${esc(r.worker)}: ${esc(r.status)} ${r.latencyMs}ms, <span data-at="${esc(r.at)}">${age(now - Date.parse(r.at))}</span> ago</span>`)
      .join('');
  }
  /** A partial outage next to the state: "partial: eu" (the regions seeing the check offline). */
  function partialBadge(c) {
    if (!c.partial) return '';
    const title = `partially down since ${c.partial.since}: offline from ${c.partial.down.join(', ')}, online from ${c.partial.up.join(', ')}`;
    return ` <span class="state state-partial" title="${esc(title)}">partial: ${esc(c.partial.down.join(', '))}</span>`;
  }
  function rowHtml(c) {
    const u = c.uptime || {};
    return `<tr data-check-id="${c.id}" data-state="${esc(c.state)}"><td>${c.id}</td><td class="name">${esc(c.name)}</td><td>${esc(c.type)}</td><td><span class="state state-${esc(c.state)}">${esc(c.state)}</span>${partialBadge(c)}${c.problem ? ` <span class="muted">${esc(c.problem)}</span>` : ''}</td><td class="pending">${pendingText(c)}</td><td>${resultsText(c)}</td><td>${pct(u['24h'])}</td><td>${pct(u['7d'])}</td><td>${pct(u['30d'])}</td><td>${pct(u['90d'])}</td></tr>`;
  }
  function visible() {
    const name = $('#filter-name').value.trim().toLowerCase();
    const state = $('#filter-state').value;
    return [...checks.values()].filter((c) => (!name || c.name.toLowerCase().includes(name)) && (!state || c.state === state)).sort((a, b) => a.id - b.id);
  }
  function renderChecks() {
    const list = visible();
    const shown = list.slice(0, MAX_ROWS);
    $('#checks tbody').innerHTML = shown.map(rowHtml).join('');
    $('#count').textContent = `(${list.length} of ${checks.size})`;
    const more = $('#more');
    more.hidden = list.length <= MAX_ROWS;
    more.textContent = `Showing the first ${MAX_ROWS}; filter to narrow.`;
  }
  function patchCheck(c) {
    checks.set(c.id, c);
    const row = document.querySelector(`tr[data-check-id="${c.id}"]`);
    const name = $('#filter-name').value.trim().toLowerCase();
    const state = $('#filter-state').value;
    const wanted = (!name || c.name.toLowerCase().includes(name)) && (!state || c.state === state);
    if (row && wanted) row.outerHTML = rowHtml(c);
    else if (row || wanted) renderChecks();
  }

  function renderPaused(paused) {
    const el = $('#paused');
    el.hidden = paused.length === 0;
    el.innerHTML = `Paused (not monitored): ${paused.map((c) => `<span data-paused="${c.id}">${esc(c.name)} <button data-resume="${c.id}">Resume</button></span>`).join(' ')}`;
  }
  async function loadPaused() {
    // Any small answer carries the paused list (it is not filtered by state).
    renderPaused((await api('/api/checks?state=misconfigured')).paused);
  }

  // --- controller, workers, outbox, incidents ------------------------------------------------
  function renderSummary() {
    const s = summary;
    if (!s) return;
    $('#controller').textContent = s.reachable
      ? `controller ${s.controller} (view ${s.view}), confirmations ${s.confirmations}, quorum ${s.quorum ? 'ok' : 'LOST'}`
      : 'controller unreachable';
    banner(!s.reachable ? `The controller does not answer: ${s.error}` : s.quorum === false ? `Quorum lost: fewer than ${s.confirmations} live workers; no check can change state.` : '');
  }
  async function loadWorkers() {
    const w = await api('/api/workers');
    $('#workers tbody').innerHTML = w.workers
      .map((x) => `<tr data-worker="${esc(x.id)}"><td>${esc(x.id)}</td><td>${x.alive ? 'yes' : 'no'}</td><td>${x.alive ? `${x.inFlight}/${x.capacity}` : '–'}</td><td>${x.alive ? `${age(x.lastSeenMs)} ago` : '–'}</td><td>${x.alive ? age(x.upMs) : '–'}</td><td class="disagreements">${x.disagreements24h}</td></tr>`)
      .join('');
  }
  async function loadOutbox() {
    const o = await api('/api/outbox');
    const s = o.summary;
    $('#outbox-summary').textContent = s ? `${s.pending} pending, ${s.sending} sending; last 24 h: ${s.lastDay.delivered} delivered, ${s.lastDay.failed} failed, ${s.lastDay.unconfirmed} unconfirmed` : '';
    $('#outbox tbody').innerHTML = o.notifications
      .map((n) => `<tr data-notification="${n.id}"><td>${n.id}</td><td>${esc(n.checkName)}</td><td>${esc(n.contactType)} ${esc(n.contact)}</td><td>${esc(n.status)}</td><td>${esc(n.state)}</td><td>${n.attempts}</td><td>${esc(n.outcome)}</td><td>${n.state === 'failed' || n.state === 'unconfirmed' ? `<button data-retry="${n.id}">Retry</button>` : ''}</td></tr>`)
      .join('');
  }
  function incidentHtml(i, open) {
    const notes = (i.notifications || []).map((n) => `<li>${esc(n.contactType)} ${esc(n.contact)}: ${esc(n.state)} after ${n.attempts} attempt(s)${n.outcome ? ` — ${esc(n.outcome)}` : ''}</li>`).join('');
    return `<li data-incident="${i.id}"><details${open ? ' open' : ''}><summary>${esc(time(i.at))} <b>${esc(i.check ?? `check ${i.checkId}`)}</b> went <span class="state state-${esc(i.to)}">${esc(i.to)}</span></summary>
<pre class="evidence">${i.evidence ? esc(i.evidence.explanation) : 'No evidence in the result log (older than its retention, or recorded by another tool).'}</pre>
<div>Notified: ${notes ? `<ul class="notified">${notes}</ul>` : '<span class="muted">nobody</span>'}</div></details></li>`;
  }
  async function loadIncidents() {
    const r = await api('/api/incidents?limit=50');
    $('#incidents').innerHTML = r.incidents.length ? r.incidents.map((i) => incidentHtml(i, false)).join('') : '<li class="muted">No incidents.</li>';
  }

  // --- one check -----------------------------------------------------------------------------
  async function openCheck(id) {
    selected = id;
    const el = $('#detail');
    el.hidden = false;
    const [d, h] = await Promise.all([api(`/api/checks/${id}`), api(`/api/checks/${id}/history?range=${range}`)]);
    if (selected !== id) return;
    const c = d.check;
    el.innerHTML = `<div class="toolbar"><h2>${esc(c.name)} <span class="state state-${esc(c.state)}">${esc(c.state)}</span>${partialBadge(c)}</h2>
<button data-range="24h"${range === '24h' ? ' disabled' : ''}>24 h</button><button data-range="7d"${range === '7d' ? ' disabled' : ''}>7 d</button>
<button data-pause="${c.id}">Pause</button><button data-close>Close</button></div>
<p class="muted">${esc(c.type)}, every ${c.interval ?? '?'} s · uptime 24 h ${pct(c.uptime['24h'])}, 7 d ${pct(c.uptime['7d'])}, 30 d ${pct(c.uptime['30d'])}, 90 d ${pct(c.uptime['90d'])}</p>
<div>${resultsText(c)}</div>
<h3>Response time (${range})</h3><div id="chart" class="chart"></div>
<h3>Incidents</h3><ul class="incident-list">${d.incidents.length ? d.incidents.map((i, n) => incidentHtml(i, n === 0)).join('') : '<li class="muted">No incidents.</li>'}</ul>`;
    drawChart(h);
  }
  function drawChart(h) {
    const target = $('#chart');
    if (!target) return;
    const workers = [...new Set(h.latency.map((p) => p.worker))].sort();
    if (workers.length === 0 || typeof uPlot === 'undefined') {
      target.innerHTML = '<p class="muted">No latency history for this period.</p>';
      return;
    }
    const times = [...new Set(h.latency.map((p) => Date.parse(p.bucketStart) / 1000))].sort((a, b) => a - b);
    const index = new Map(times.map((t, i) => [t, i]));
    const series = workers.map(() => times.map(() => null));
    for (const p of h.latency) series[workers.indexOf(p.worker)][index.get(Date.parse(p.bucketStart) / 1000)] = p.avgMs;
    const colors = ['#2a6fdb', '#d73a31', '#2e9e44', '#c89b00', '#7d5bbe', '#13a3a3', '#b5487a'];
    new uPlot(
      { width: Math.min(1100, target.clientWidth || 900), height: 220, series: [{}, ...workers.map((w, i) => ({ label: w, stroke: colors[i % colors.length], spanGaps: false, value: (u, v) => (v == null ? '–' : `${v.toFixed(1)} ms`) }))], axes: [{}, { label: 'ms' }] },
      [times, ...series],
      target,
    );
  }

  // --- live ----------------------------------------------------------------------------------
  function connect() {
    const source = new EventSource('/api/events');
    source.addEventListener('open', () => $('#live').classList.add('on'));
    source.addEventListener('error', () => $('#live').classList.remove('on'));
    source.addEventListener('status', (e) => {
      summary = JSON.parse(e.data);
      renderSummary();
    });
    source.addEventListener('checks', (e) => {
      const { changed, removed } = JSON.parse(e.data);
      for (const id of removed) checks.delete(id);
      if (changed.length > 50 || removed.length > 0) {
        for (const c of changed) checks.set(c.id, c);
        renderChecks();
      } else for (const c of changed) patchCheck(c);
      if (selected !== null && changed.some((c) => c.id === selected)) void openCheck(selected).catch(() => {});
    });
    source.addEventListener('bus', (e) => {
      const ev = JSON.parse(e.data);
      if (ev.family === 'transition') {
        // The incident is in MySQL once the controller recorded it ("recorded" decision follows).
      }
      if (ev.family === 'decision' && ev.type === 'recorded') {
        void loadIncidents().catch(() => {});
        void loadOutbox().catch(() => {});
        if (selected === ev.checkId) void openCheck(selected).catch(() => {});
      }
    });
    return source;
  }

  // --- events --------------------------------------------------------------------------------
  document.addEventListener('click', (e) => {
    const t = e.target;
    if (!(t instanceof Element)) return;
    const row = t.closest('tr[data-check-id]');
    if (row) return void openCheck(Number(row.getAttribute('data-check-id'))).catch((err) => banner(err.message));
    if (t.matches('[data-close]')) {
      selected = null;
      $('#detail').hidden = true;
    } else if (t.matches('[data-range]')) {
      range = t.getAttribute('data-range');
      void openCheck(selected).catch((err) => banner(err.message));
    } else if (t.matches('[data-pause]')) {
      if (!confirm('Pause this check? It stops being monitored until resumed (bearmon check enable).')) return;
      void api(`/api/checks/${t.getAttribute('data-pause')}/pause`, { method: 'POST' }).then(
        (r) => {
          banner(`Paused ${r.name}: ${r.controller}`);
          selected = null;
          $('#detail').hidden = true;
          return loadPaused();
        },
        (err) => banner(err.message),
      );
    } else if (t.matches('[data-resume]')) {
      void api(`/api/checks/${t.getAttribute('data-resume')}/resume`, { method: 'POST' }).then(
        (r) => {
          banner(`Resumed ${r.name}: ${r.controller}`);
          return loadPaused();
        },
        (err) => banner(err.message),
      );
    } else if (t.matches('[data-retry]')) {
      void api(`/api/notifications/${t.getAttribute('data-retry')}/retry`, { method: 'POST' }).then(() => loadOutbox(), (err) => banner(err.message));
    }
  });
  $('#filter-name').addEventListener('input', renderChecks);
  $('#filter-state').addEventListener('change', renderChecks);
  setInterval(() => {
    const now = Date.now();
    for (const el of document.querySelectorAll('[data-at]')) el.textContent = age(now - Date.parse(el.getAttribute('data-at')));
  }, 1000);
  setInterval(() => void loadWorkers().catch(() => {}), 10000);

  (async () => {
    const list = await api('/api/checks');
    summary = list.controller;
    renderSummary();
    for (const c of list.checks) checks.set(c.id, c);
    renderChecks();
    renderPaused(list.paused);
    document.body.dataset.ready = 'true';
    connect();
    await Promise.all([loadWorkers(), loadOutbox(), loadIncidents()]);
  })().catch((err) => banner(err.message));
})();
