import { type HostUpdate, UPDATE_STEPS, type VerdictBody } from '@hitless/protocol'
import { formatDuration, timeEl } from '../format.js'
import { html, type SafeHtml } from '../html.js'
import { canOperate, csrfField, type Viewer } from '../layout.js'
import { updateBadge, verdictBadge } from '../status-tone.js'
import { buildTimeline } from '../step-timeline.js'

/** What each kind of difference means (docs/verifier.md, "Comparison"). */
const KIND_MEANING: Record<string, string> = {
  'ioas.missing': 'an IOAS present before the kexec is gone',
  'ioas.extra': 'an IOAS appeared that was not there before',
  'area.missing': 'IOVA ranges mapped before are no longer mapped in the IOAS',
  'area.extra': 'IOVA ranges mapped after that were not before',
  'area.changed': 'IOAS ranges now backed or permitted differently',
  'hwpt.missing': 'a hardware page table is gone',
  'hwpt.extra': 'a hardware page table appeared',
  'hwpt.changed': 'a hardware page table changed its kind or parent',
  'leaf.missing': 'translations the device used are gone: its DMA there faults',
  'leaf.extra': 'translations appeared that were not there before',
  'leaf.pa': 'translations now lead to a different physical address: DMA lands on the wrong page',
  'leaf.backing': 'translations now lead to a different backing file or offset',
  'leaf.prot': 'permissions changed (read, write, cache, no-exec, MMIO, privileged)',
  'leaf.size': 'same translation, different leaf boundaries: a break-before-make hazard',
  'attachment.missing': 'a device (or PASID) is no longer attached',
  'attachment.extra': 'a device (or PASID) is attached that was not',
  'attachment.moved': 'a device is attached to another page table',
  'config.missing': 'a configuration entry (STE, CD, context or PASID entry) is gone',
  'config.extra': 'a configuration entry appeared',
  'config.changed': 'a configuration entry field changed',
  'kernel.version': 'the host did not boot the kernel the update was for',
  'boot.unchanged': 'the boot ID did not change: the kexec did not happen',
  'blackout.slo': "the guest-visible blackout exceeded the rollout's SLO",
}

interface DiffKind {
  total: number
  bytes?: string
  first: Record<string, unknown>[]
}

const cell = (v: unknown): SafeHtml =>
  v === undefined || v === null
    ? html`<span class="muted">—</span>`
    : typeof v === 'object'
      ? html`<code class="wrap">${JSON.stringify(v)}</code>`
      : html`<code>${String(v)}</code>`

const bytes = (b: string | undefined) => {
  if (!b) return ''
  const n = Number(b)
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let x = n
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024
    i++
  }
  return ` · ${x.toFixed(x < 10 && i > 0 ? 1 : 0)} ${units[i]} of IOVA space`
}

/** The verifier's diff: per kind, what it means, how many, and the first differences as a table. */
const KEY_COLUMNS = ['table', 'iova', 'length']

/** `pre` and `post` of one difference, field by field: what changed first, then what did not. */
function beforeAfter(pre: unknown, post: unknown): SafeHtml {
  const isObj = (x: unknown): x is Record<string, unknown> =>
    typeof x === 'object' && x !== null && !Array.isArray(x)
  if (!isObj(pre) || !isObj(post))
    return html`<span class="change">${cell(pre)} <span aria-hidden="true">→</span><span class="visually-hidden">became</span> ${cell(post)}</span>`
  const keys = [...new Set([...Object.keys(pre), ...Object.keys(post)])]
  const same = keys.filter((k) => JSON.stringify(pre[k]) === JSON.stringify(post[k]))
  const changed = keys.filter((k) => !same.includes(k))
  return html`<ul class="changes">${changed.map(
    (k) =>
      html`<li class="change"><span class="field">${k}</span> ${cell(pre[k])} <span aria-hidden="true">→</span><span class="visually-hidden">became</span> ${cell(post[k])}</li>`,
  )}</ul>${same.length > 0 && html`<p class="same muted small">unchanged: ${same.map((k, i) => html`${i ? ', ' : ''}${k} <code>${typeof pre[k] === 'object' ? JSON.stringify(pre[k]) : String(pre[k])}</code>`)}</p>`}`
}

/** The verifier's diff: per kind, what it means, how many, and the first differences as a table. */
export function diffView(diff: unknown): SafeHtml {
  const d = diff as { kinds?: Record<string, DiffKind>; limit?: number } | null
  const kinds = Object.entries(d?.kinds ?? {})
  const rest = d ? Object.fromEntries(Object.entries(d).filter(([k]) => k !== 'kinds')) : null
  return html`${
    kinds.length === 0
      ? html`<p class="empty">No difference: the state after the kexec equals the state before, field by field.</p>`
      : kinds.map(([kind, k]) => {
          const keys = [...new Set(k.first.flatMap((e) => Object.keys(e)))]
          const pair = keys.includes('pre') || keys.includes('post')
          const cols = [
            ...KEY_COLUMNS.filter((c) => keys.includes(c)),
            ...keys.filter((c) => !KEY_COLUMNS.includes(c) && c !== 'pre' && c !== 'post'),
          ]
          return html`<section class="diff-kind" aria-labelledby="kind-${kind}">
      <h4 id="kind-${kind}"><code>${kind}</code> <span class="count">${k.total}</span></h4>
      <p class="muted">${KIND_MEANING[kind] ?? ''}${bytes(k.bytes)}${k.total > k.first.length ? ` · first ${k.first.length} of ${k.total} shown` : ''}</p>
      ${
        k.first.length > 0 &&
        html`<div class="table-wrap"><table class="diff-table">
        <thead><tr>${cols.map((c) => html`<th scope="col">${c}</th>`)}${pair && html`<th scope="col">before → after</th>`}</tr></thead>
        <tbody>${k.first.map(
          (e) =>
            html`<tr>${cols.map((c) => html`<td>${cell(e[c])}</td>`)}${pair && html`<td>${beforeAfter(e.pre, e.post)}</td>`}</tr>`,
        )}</tbody>
      </table></div>`
      }
    </section>`
        })
  }
  ${
    rest &&
    Object.keys(rest).length > 0 &&
    html`<details id="diff-raw"><summary>Everything else the verifier recorded</summary><pre class="raw">${JSON.stringify(rest, null, 2)}</pre></details>`
  }`
}

/** One host's update: its steps with timings and blackout, and the verdict with reasons, faults and diff. */
export function updateView(
  u: HostUpdate,
  verdict: VerdictBody | null,
  rolloutName: string,
  v: Viewer,
  now: Date,
): SafeHtml {
  const row = buildTimeline([u], now).rows[0]
  const steps = u.steps
    .filter((s) => s.attempt === u.attempt)
    .sort((a, b) => UPDATE_STEPS.indexOf(a.step) - UPDATE_STEPS.indexOf(b.step))
  const retryable = ['FAILED', 'FAILED_HELD', 'NEEDS_REVIEW', 'CANCELLED'].includes(u.state)
  return html`<p class="crumbs"><a href="/ui/rollouts">Rollouts</a> / <a href="/ui/rollouts/${encodeURIComponent(u.rolloutId)}">${rolloutName}</a> / ${u.hostName}</p>
<div id="update-body" data-live>
<h1>${u.hostName} <span class="muted h-sub">update, attempt ${u.attempt}</span> ${updateBadge(u.state)}</h1>
<div class="card">
  <dl class="facts inline">
    <div><dt>Kernel</dt><dd><code>${u.fromKernel ?? '?'}</code> → <code>${u.toKernel}</code></dd></div>
    <div><dt>Verdict</dt><dd>${verdictBadge(u.verdict)}</dd></div>
    <div><dt>Blackout</dt><dd>${u.blackoutMs === null ? html`<span class="muted">not measured</span>` : formatDuration(u.blackoutMs)}</dd></div>
    <div><dt>Started</dt><dd>${timeEl(u.startedAt)}</dd></div>
    <div><dt>Finished</dt><dd>${timeEl(u.finishedAt)}</dd></div>
    <div><dt>Host</dt><dd><a href="/ui/hosts/${encodeURIComponent(u.hostId)}">${u.hostName}</a></dd></div>
  </dl>
  ${u.failureReason && html`<p class="reason"><strong>Failure:</strong> ${u.failureReason}</p>`}
  ${
    retryable &&
    canOperate(v) &&
    html`<form method="post" action="/ui/rollouts/${encodeURIComponent(u.rolloutId)}/hosts/${encodeURIComponent(u.hostName)}/retry" class="actions">
    ${csrfField(v)}<button type="submit" id="retry-button">Retry this host</button>
    <span class="muted">A new attempt; the old attempt's jobs and claims are refused from then on.</span></form>`
  }
</div>
<section class="card" aria-labelledby="steps-h">
  <h2 id="steps-h">Steps</h2>
  <div class="timeline single">
    <div class="tl-track" role="img" aria-label="steps on a time axis${row.blackout ? `; blackout ${formatDuration(row.blackout.ms)} from the start of the kexec` : ''}">
      ${row.segments.map(
        (s) =>
          html`<span class="seg step-${s.status === 'failed' ? 'failed' : s.step}${s.status === 'running' ? ' running' : ''}" style="left:${s.leftPct.toFixed(2)}%;width:${s.widthPct.toFixed(2)}%" title="${s.step}: ${formatDuration(s.ms)}"></span>`,
      )}
      ${row.blackout && html`<span class="bo" style="left:${row.blackout.leftPct.toFixed(2)}%;width:${row.blackout.widthPct.toFixed(2)}%"></span>`}
    </div>
  </div>
  ${
    steps.length === 0
      ? html`<p class="empty">No step has started yet.</p>`
      : html`<div class="table-wrap"><table>
    <thead><tr><th scope="col">Step</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col" class="num">Took</th></tr></thead>
    <tbody>${steps.map(
      (
        s,
      ) => html`<tr><th scope="row"><span class="swatch step-${s.status === 'failed' ? 'failed' : s.step}" aria-hidden="true"></span> ${s.step}</th>
      <td>${s.status}</td><td>${timeEl(s.startedAt)}</td><td class="num">${formatDuration(s.durationMs)}</td></tr>`,
    )}</tbody></table></div>`
  }
</section>
<section class="card" aria-labelledby="verdict-h">
  <h2 id="verdict-h">Verdict</h2>
  ${
    verdict
      ? html`<p class="verdict-line">${verdictBadge(verdict.verdict)} <span class="muted">judged ${timeEl(verdict.createdAt)}</span></p>
    <h3>Reasons</h3>
    ${verdict.reasons.length ? html`<ol class="reasons">${verdict.reasons.map((r) => html`<li><code class="wrap">${r}</code></li>`)}</ol>` : html`<p class="empty">None given.</p>`}
    <h3>DMA faults</h3>
    ${
      verdict.faults
        ? html`<dl class="facts inline faults">
        <div><dt>ground truth</dt><dd class="${verdict.faults.groundTruth ? 'bad' : ''}">${verdict.faults.groundTruth}</dd></div>
        <div><dt>recorded by the IOMMU</dt><dd class="${verdict.faults.recorded ? 'bad' : ''}">${verdict.faults.recorded}</dd></div>
        <div><dt>lost (overflow)</dt><dd class="${verdict.faults.lost ? 'bad' : ''}">${verdict.faults.lost}</dd></div></dl>`
        : html`<p class="muted">Not observed by this backend.</p>`
    }
    <h3>Difference found by the verifier</h3>
    ${diffView(verdict.diff)}`
      : html`<p class="empty">No verdict yet (${u.state.toLowerCase()}). It appears here when the verifier has judged the snapshots.</p>`
  }
</section>
</div>`
}
