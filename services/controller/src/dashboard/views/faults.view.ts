import { formatTime, timeEl } from '../format.js'
import { html, type SafeHtml } from '../html.js'
import { verdictBadge } from '../status-tone.js'
import type { FaultReport } from '../fault-report.js'

/** DMA faults: totals per hardware model and kind, and every update whose verdict saw one. */
export function faultsView(r: FaultReport): SafeHtml {
  const total = r.byHardware.reduce((a, h) => a + h.groundTruth + h.recorded + h.lost, 0)
  return html`<h1>DMA faults</h1>
<p class="lede">A hitless update has none. Faults are counted by the IOMMU across the kexec (<em>recorded</em>, and <em>lost</em> when its queue overflowed) and, on emulated hardware, by the DMA engines themselves (<em>ground truth</em>).</p>
<div id="faults-body" data-live>
<section class="card" aria-labelledby="fh-h">
  <h2 id="fh-h">By hardware</h2>
  ${
    r.byHardware.length === 0
      ? html`<p class="empty">No verdict has recorded fault counts yet.</p>`
      : html`<div class="table-wrap"><table><thead><tr><th scope="col">Hardware</th><th scope="col" class="num">Updates judged</th><th scope="col" class="num">Ground truth</th><th scope="col" class="num">Recorded</th><th scope="col" class="num">Lost</th></tr></thead>
    <tbody>${r.byHardware.map(
      (h) => html`<tr><th scope="row">${h.hardware}</th><td class="num">${h.updates}</td>
      <td class="num${h.groundTruth ? ' bad' : ''}">${h.groundTruth}</td><td class="num${h.recorded ? ' bad' : ''}">${h.recorded}</td><td class="num${h.lost ? ' bad' : ''}">${h.lost}</td></tr>`,
    )}</tbody></table></div>`
  }
  <p class="muted small">${total === 0 ? 'No fault in any judged update.' : `${total} fault(s) in all.`} The same figures are exported as <code>hitless_dma_faults_total{hardware,kind}</code>.</p>
</section>
<section class="card" aria-labelledby="fu-h">
  <h2 id="fu-h">Updates with faults</h2>
  ${
    r.updates.length === 0
      ? html`<p class="empty">None.</p>`
      : html`<div class="table-wrap"><table><thead><tr><th scope="col">Host</th><th scope="col">Rollout</th><th scope="col">Verdict</th><th scope="col" class="num">Ground truth</th><th scope="col" class="num">Recorded</th><th scope="col" class="num">Lost</th><th scope="col">Judged</th></tr></thead>
    <tbody>${r.updates.map(
      (
        u,
      ) => html`<tr><th scope="row"><a href="/ui/updates/${encodeURIComponent(u.updateId)}">${u.hostName}</a> <span class="muted small">${u.hardware}</span></th>
      <td><a href="/ui/rollouts/${encodeURIComponent(u.rolloutId)}">${u.rolloutName}</a></td><td>${verdictBadge(u.verdict)}</td>
      <td class="num">${u.groundTruth}</td><td class="num">${u.recorded}</td><td class="num">${u.lost}</td><td>${timeEl(u.createdAt)}</td></tr>`,
    )}</tbody></table></div>`
  }
  <p class="muted small">As of ${formatTime(new Date())}.</p>
</section>
</div>`
}
