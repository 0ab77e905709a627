import { ACTIVE_ROLLOUT_PHASES, type HostUpdate, type Rollout, UPDATE_STEPS } from '@hitless/protocol'
import { formatDuration, timeEl } from '../format.js'
import { html, type SafeHtml } from '../html.js'
import { canOperate, csrfField, type Viewer } from '../layout.js'
import { phaseBadge, ROLLOUT_TONE, updateBadge, verdictBadge } from '../status-tone.js'
import { buildTimeline, type TimelineRow } from '../step-timeline.js'
import { progressBar, progressOf } from './progress-bar.js'

/** Rollouts, newest first, each with its progress. */
export function rolloutsView(rollouts: Rollout[]): SafeHtml {
  return html`<h1>Rollouts</h1>
<p class="lede">Create rollouts with <code>hitless rollout create</code> or <code>POST /api/v1/rollouts</code>; they appear here as they start.</p>
<div id="rollouts-table" data-live class="card table-wrap">
${
  rollouts.length === 0
    ? html`<p class="empty">No rollout yet.</p>`
    : html`<table>
  <thead><tr><th scope="col">Rollout</th><th scope="col">Phase</th><th scope="col">Kernel</th><th scope="col">Strategy</th><th scope="col" class="w-progress">Progress</th><th scope="col">Created</th></tr></thead>
  <tbody>${rollouts.map(
    (r) => html`<tr data-rollout="${r.id}">
    <th scope="row"><a href="/ui/rollouts/${encodeURIComponent(r.id)}">${r.name}</a>${r.rollbackOf && html` <span class="muted">(rollback)</span>`}</th>
    <td>${phaseBadge(r.phase)}</td><td><code>${r.kernel.version}</code></td><td>${r.strategy}</td>
    <td>${progressBar(progressOf(r.hosts))}</td><td>${timeEl(r.createdAt)}</td></tr>`,
  )}</tbody></table>`
}
</div>`
}

const STEP_SHORT: Record<string, string> = {
  PREFLIGHT: 'preflight',
  SNAPSHOT_PRE: 'snapshot pre',
  PRESERVE: 'preserve',
  KEXEC: 'kexec',
  RESTORE: 'restore',
  SNAPSHOT_POST: 'snapshot post',
  FINISH: 'finish',
}

/** Buttons for what an operator may do now; viewers see none. */
function actions(r: Rollout, v: Viewer): SafeHtml {
  if (!canOperate(v)) return html``
  const can = {
    pause: r.phase === 'RUNNING',
    resume: r.phase === 'PAUSED' || r.phase === 'HALTED',
    abort: ACTIVE_ROLLOUT_PHASES.includes(r.phase),
  }
  const button = (verb: 'pause' | 'resume' | 'abort', label: string, hint: string, cls = '') =>
    can[verb]
      ? html`<form method="post" action="/ui/rollouts/${encodeURIComponent(r.id)}/${verb}"${verb === 'abort' ? html` data-confirm="Abort rollout ${r.name}? Hosts not started are cancelled."` : ''}>
      ${csrfField(v)}<button type="submit" id="${verb}-button" class="${cls}" aria-describedby="${verb}-hint">${label}</button>
      <span id="${verb}-hint" class="visually-hidden">${hint}</span></form>`
      : ''
  return html`<div class="actions" role="group" aria-label="Rollout actions">
  ${button('pause', 'Pause', 'Stop starting hosts; hosts in flight finish')}
  ${button('resume', 'Resume', 'Go on; acknowledges verdict gates reached so far')}
  ${button('abort', 'Abort', 'Cancel hosts not started; hosts in flight finish', 'danger')}
</div>`
}

/** A rollout: phase and why, actions, waves with progress, and every host's steps on one time axis. */
export function rolloutView(r: Rollout, v: Viewer, now: Date): SafeHtml {
  const p = r.policy
  return html`<p class="crumbs"><a href="/ui/rollouts">Rollouts</a> / ${r.name}</p>
<div id="rollout-head" data-live>
  <h1>${r.name} ${phaseBadge(r.phase)}</h1>
  ${
    r.phaseReason &&
    html`<p class="reason reason-${ROLLOUT_TONE[r.phase]}"><strong>${r.phase === 'RUNNING' ? 'Now:' : r.phase === 'COMPLETED' || r.phase === 'ABORTED' ? 'Summary:' : 'Why:'}</strong> ${r.phaseReason}</p>`
  }
  <dl class="facts inline">
    <div><dt>Kernel</dt><dd><code>${r.kernel.version}</code></dd></div>
    <div><dt>Strategy</dt><dd>${r.strategy}</dd></div>
    <div><dt>Created</dt><dd>${timeEl(r.createdAt)}${r.createdBy && html` by ${r.createdBy}`}</dd></div>
    <div><dt>Blackout SLO</dt><dd>${formatDuration(p.blackoutSloMs)}</dd></div>
    <div><dt>Error budget</dt><dd>${String(p.errorBudget)}</dd></div>
    ${r.rollbackOf && html`<div><dt>Rolls back</dt><dd><a href="/ui/rollouts/${encodeURIComponent(r.rollbackOf)}">the halted rollout</a></dd></div>`}
  </dl>
  ${actions(r, v)}
  ${progressBar(progressOf(r.hosts), 'rollout-progress')}
</div>
<section class="card" aria-labelledby="waves-h">
  <h2 id="waves-h">Waves</h2>
  <div id="rollout-waves" data-live>${wavesView(r)}</div>
</section>
<section class="card" aria-labelledby="timeline-h">
  <h2 id="timeline-h">Timeline per host</h2>
  <p class="muted">The current attempt's steps of every host on one time axis; the red mark under a bar is the guest-visible blackout, from the start of the kexec.</p>
  ${legend()}
  <div id="rollout-timeline" data-live>${timelineView(r, v, now)}</div>
</section>
<details class="card" id="policy-details">
  <summary>Policy</summary>
  <dl class="facts">${Object.entries(p).map(
    ([k, val]) =>
      html`<div><dt>${k}</dt><dd><code>${typeof val === 'object' ? JSON.stringify(val) : String(val)}</code></dd></div>`,
  )}</dl>
</details>`
}

function wavesView(r: Rollout): SafeHtml {
  if (r.waves.length === 0) return html`<p class="empty">No waves planned.</p>`
  return html`<ol class="waves">${r.waves.map((w) => {
    const hosts = r.hosts.filter((h) => h.wave === w.index)
    const dur = w.startedAt
      ? (w.finishedAt ? Date.parse(w.finishedAt) : Date.now()) - Date.parse(w.startedAt)
      : null
    const state = w.finishedAt ? 'ended' : w.startedAt ? 'running' : 'waiting'
    return html`<li class="wave wave-${state}">
    <div class="wave-head"><h3>Wave ${w.index}${w.kind === 'canary' ? ' · canary' : ''}</h3>
    <span class="muted">${w.hostCount} host${w.hostCount === 1 ? '' : 's'} · ${state}${dur !== null ? ` · ${formatDuration(dur)}` : ''}</span></div>
    ${progressBar(progressOf(hosts))}
  </li>`
  })}</ol>`
}

function legend(): SafeHtml {
  return html`<ul class="legend" aria-label="Timeline legend">
  ${UPDATE_STEPS.map((s) => html`<li><span class="swatch step-${s}" aria-hidden="true"></span>${STEP_SHORT[s]}</li>`)}
  <li><span class="swatch step-failed" aria-hidden="true"></span>failed step</li>
  <li><span class="swatch blackout" aria-hidden="true"></span>blackout</li>
</ul>`
}

function timelineView(r: Rollout, v: Viewer, now: Date): SafeHtml {
  const sorted = [...r.hosts].sort(
    (a, b) =>
      (a.wave ?? 1e9) - (b.wave ?? 1e9) ||
      (a.startedAt ?? '~').localeCompare(b.startedAt ?? '~') ||
      a.hostName.localeCompare(b.hostName),
  )
  const t = buildTimeline(sorted, now)
  return html`<div class="timeline">
  <div class="tl-axis" aria-hidden="true"><span class="tl-host"></span><div class="tl-track">${t.ticks.map(
    (k) => html`<span class="tick" style="left:${k.pct.toFixed(2)}%">+${formatDuration(k.ms)}</span>`,
  )}</div><span class="tl-meta"></span></div>
  <ul class="tl-rows">${t.rows.map((row) => timelineRow(r, row, v))}</ul>
</div>`
}

function timelineRow(r: Rollout, row: TimelineRow, v: Viewer): SafeHtml {
  const u: HostUpdate = row.update
  const words = row.segments
    .map((s) => `${STEP_SHORT[s.step]} ${s.status} ${formatDuration(s.ms)}`)
    .join(', ')
  const retryable = ['FAILED', 'FAILED_HELD', 'NEEDS_REVIEW', 'CANCELLED'].includes(u.state)
  return html`<li class="tl-row" data-host="${u.hostName}" data-state="${u.state}">
  <span class="tl-host"><a href="/ui/updates/${encodeURIComponent(u.id)}">${u.hostName}</a>
    <span class="muted small">w${u.wave ?? '–'}${u.attempt > 1 ? ` · try ${u.attempt}` : ''}</span></span>
  <div class="tl-track" role="img" aria-label="${u.hostName}: ${words || 'not started'}${row.blackout ? `; blackout ${formatDuration(row.blackout.ms)}` : ''}">
    ${row.segments.map(
      (s) =>
        html`<span class="seg step-${s.status === 'failed' ? 'failed' : s.step}${s.status === 'running' ? ' running' : ''}" style="left:${s.leftPct.toFixed(2)}%;width:${s.widthPct.toFixed(2)}%" title="${STEP_SHORT[s.step]}: ${s.status}, ${formatDuration(s.ms)}"></span>`,
    )}
    ${row.blackout && html`<span class="bo" style="left:${row.blackout.leftPct.toFixed(2)}%;width:${row.blackout.widthPct.toFixed(2)}%" title="blackout ${formatDuration(row.blackout.ms)}"></span>`}
  </div>
  <span class="tl-meta">${updateBadge(u.state)} ${u.verdict && verdictBadge(u.verdict)}
    ${u.blackoutMs !== null && html`<span class="muted small">blackout ${formatDuration(u.blackoutMs)}</span>`}
    ${
      retryable &&
      canOperate(v) &&
      html`<form method="post" action="/ui/rollouts/${encodeURIComponent(r.id)}/hosts/${encodeURIComponent(u.hostName)}/retry" class="inline-form">
      ${csrfField(v)}<button type="submit" class="small-button" id="retry-${u.hostName}">Retry<span class="visually-hidden"> ${u.hostName}</span></button></form>`
    }
  </span>
  ${u.failureReason && html`<p class="tl-reason">${u.failureReason}</p>`}
</li>`
}
