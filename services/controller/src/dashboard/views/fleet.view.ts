import { HOST_STATES, type Host, type HostDetail, type HostState } from '@hitless/protocol'
import { formatDuration, formatLabels, timeEl } from '../format.js'
import { html, type SafeHtml } from '../html.js'
import { canOperate, csrfField, type Viewer } from '../layout.js'
import { HOST_TONE, hostBadge, updateBadge, verdictBadge } from '../status-tone.js'

const countBy = <T>(items: T[], key: (t: T) => string) => {
  const m = new Map<string, number>()
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1)
  return [...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
}

/** Fleet: hosts by state (tiles), by kernel and hardware, and every host with its labels. */
export function fleetView(
  all: Host[],
  shown: Host[],
  filter: { state?: string; selector?: string },
): SafeHtml {
  const byState = new Map(countBy(all, (h) => h.state))
  return html`<h1>Fleet</h1>
<section id="fleet-summary" data-live aria-labelledby="by-state">
  <h2 id="by-state" class="visually-hidden">Hosts by state</h2>
  <ul class="tiles">
    ${HOST_STATES.map(
      (s) => html`<li class="tile tone-${HOST_TONE[s]}">
      <a href="/ui/fleet?state=${s}"><span class="tile-n">${byState.get(s) ?? 0}</span>
      <span class="tile-label">${s.toLowerCase().replace('_', ' ')}</span></a></li>`,
    )}
  </ul>
  <div class="columns">
    <div class="card">
      <h2>Kernels</h2>
      ${distribution(
        countBy(all, (h) => h.kernel),
        all.length,
      )}
    </div>
    <div class="card">
      <h2>Hardware</h2>
      ${distribution(
        countBy(all, (h) => h.hardware),
        all.length,
      )}
    </div>
  </div>
</section>
<section class="card" aria-labelledby="hosts-h">
  <h2 id="hosts-h">Hosts</h2>
  <form method="get" action="/ui/fleet" class="filters">
    <label>State
      <select name="state">
        <option value="">any</option>
        ${HOST_STATES.map((s) => html`<option value="${s}"${filter.state === s ? ' selected' : ''}>${s.toLowerCase()}</option>`)}
      </select>
    </label>
    <label>Labels <input name="selector" value="${filter.selector ?? ''}" placeholder="rack=r1,zone=z2" size="22"></label>
    <button type="submit">Filter</button>
    ${(filter.state || filter.selector) && html`<a href="/ui/fleet">Clear</a>`}
  </form>
  <div id="fleet-table" data-live class="table-wrap">
    ${
      shown.length === 0
        ? html`<p class="empty">No host matches.${all.length === 0 ? ' Start an agent to enrol hosts (README, “npm start”).' : ''}</p>`
        : html`<table>
      <caption class="visually-hidden">${shown.length} hosts</caption>
      <thead><tr><th scope="col">Host</th><th scope="col">State</th><th scope="col">Kernel</th><th scope="col">Hardware</th><th scope="col">Labels</th><th scope="col">Last heartbeat</th></tr></thead>
      <tbody>${shown.map(
        (h) => html`<tr>
        <th scope="row"><a href="/ui/hosts/${encodeURIComponent(h.id)}">${h.name}</a></th>
        <td>${hostBadge(h.state)}</td><td><code>${h.kernel}</code></td><td>${h.hardware}</td>
        <td>${Object.entries(h.labels).map(([k, v]) => html`<span class="label">${k}=${v}</span> `)}</td>
        <td>${timeEl(h.lastHeartbeat)}</td></tr>`,
      )}</tbody></table>`
    }
  </div>
</section>`
}

function distribution(rows: [string, number][], total: number): SafeHtml {
  if (!rows.length) return html`<p class="empty">No hosts.</p>`
  return html`<table class="dist">
  <thead><tr><th scope="col">Value</th><th scope="col">Hosts</th><th scope="col"><span class="visually-hidden">Share</span></th></tr></thead>
  <tbody>${rows.map(
    ([k, n]) => html`<tr><th scope="row"><code>${k}</code></th><td class="num">${n}</td>
    <td class="dist-bar-cell"><span class="dist-bar" style="width:${((n / Math.max(total, 1)) * 100).toFixed(1)}%"></span></td></tr>`,
  )}</tbody></table>`
}

/** One host: identity, labels, and its update history. */
export function hostView(h: HostDetail, viewer: Viewer): SafeHtml {
  return html`<p class="crumbs"><a href="/ui/fleet">Fleet</a> / ${h.name}</p>
<h1>${h.name} ${hostBadge(h.state as HostState)}</h1>
<div id="host-facts" data-live class="card">
  <dl class="facts">
    <div><dt>Kernel</dt><dd><code>${h.kernel}</code></dd></div>
    <div><dt>Hardware</dt><dd>${h.hardware}</dd></div>
    <div><dt>Labels</dt><dd>${formatLabels(h.labels) || '—'}</dd></div>
    <div><dt>Agent</dt><dd><code>${h.agentId}</code></dd></div>
    <div><dt>Boot ID</dt><dd><code>${h.bootId}</code></dd></div>
    <div><dt>Last heartbeat</dt><dd>${timeEl(h.lastHeartbeat)}</dd></div>
  </dl>
  ${
    canOperate(viewer) &&
    (h.state === 'READY' || h.state === 'CORDONED') &&
    html`<form method="post" action="/ui/hosts/${encodeURIComponent(h.id)}/${h.state === 'CORDONED' ? 'uncordon' : 'cordon'}" class="actions">
    ${csrfField(viewer)}<button type="submit" id="cordon-button">${h.state === 'CORDONED' ? 'Uncordon' : 'Cordon'}</button>
    <span class="muted">${h.state === 'CORDONED' ? 'Lets rollouts take this host again.' : 'Keeps rollouts from starting this host.'}</span>
  </form>`
  }
</div>
<section class="card" aria-labelledby="history-h">
  <h2 id="history-h">Updates</h2>
  <div id="host-updates" data-live class="table-wrap">
  ${
    h.updates.length === 0
      ? html`<p class="empty">This host has not been updated yet.</p>`
      : html`<table><thead><tr><th scope="col">Update</th><th scope="col">State</th><th scope="col">Verdict</th><th scope="col">Kernel</th><th scope="col">Blackout</th><th scope="col">Started</th></tr></thead>
    <tbody>${h.updates.map(
      (
        u,
      ) => html`<tr><th scope="row"><a href="/ui/updates/${encodeURIComponent(u.id)}">attempt ${u.attempt}</a> <span class="muted">of <a href="/ui/rollouts/${encodeURIComponent(u.rolloutId)}">rollout</a></span></th>
      <td>${updateBadge(u.state)}</td><td>${verdictBadge(u.verdict)}</td>
      <td><code>${u.fromKernel ?? '?'}</code> → <code>${u.toKernel}</code></td>
      <td class="num">${formatDuration(u.blackoutMs)}</td><td>${timeEl(u.startedAt)}</td></tr>`,
    )}</tbody></table>`
  }
  </div>
</section>`
}
