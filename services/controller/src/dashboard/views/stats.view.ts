import { VERDICTS } from '@hitless/protocol'
import type { StatsService } from '../../services/stats.service.js'
import { formatPercent } from '../format.js'
import { html, type SafeHtml } from '../html.js'
import { successRateChart, VERDICT_COLOUR } from '../success-rate-chart.js'

export type Stats = Awaited<ReturnType<StatsService['stats']>>

/** Periods offered on the page: name → [milliseconds back, bucket]. */
export const PERIODS: Record<string, [number, 'hour' | 'day', string]> = {
  '24h': [24 * 3600e3, 'hour', 'last 24 hours, per hour'],
  '7d': [7 * 86400e3, 'day', 'last 7 days, per day'],
  '30d': [30 * 86400e3, 'day', 'last 30 days, per day'],
  '90d': [90 * 86400e3, 'day', 'last 90 days, per day'],
}

type Row = { updates: number; hitlessRate: number | null } & Record<(typeof VERDICTS)[number], number>

function breakdown(title: string, key: string, rows: (Row & Record<string, unknown>)[]): SafeHtml {
  return html`<div class="card"><h2>${title}</h2>${
    rows.length === 0
      ? html`<p class="empty">No judged update in this period.</p>`
      : html`<div class="table-wrap"><table>
    <thead><tr><th scope="col">${key}</th><th scope="col" class="num">Hitless rate</th><th scope="col" class="num">Judged</th>
    ${VERDICTS.map((v) => html`<th scope="col" class="num">${v}</th>`)}</tr></thead>
    <tbody>${rows.map(
      (
        r,
      ) => html`<tr><th scope="row">${String(r[key])}</th><td class="num"><strong>${formatPercent(r.hitlessRate)}</strong></td><td class="num">${r.updates}</td>
      ${VERDICTS.map((v) => html`<td class="num">${r[v]}</td>`)}</tr>`,
    )}</tbody></table></div>`
  }</div>`
}

/** The hitless success rate over time (chart and table), by hardware and by strategy. */
export function statsView(s: Stats, period: string, now: Date): SafeHtml {
  const [, bucket, words] = PERIODS[period]
  const judged = s.overTime.reduce((a, b) => a + b.updates, 0)
  const hitless = s.overTime.reduce((a, b) => a + b.hitless, 0)
  return html`<h1>Hitless success rate</h1>
<form method="get" action="/ui/stats" class="filters">
  <label>Period
    <select name="period">${Object.entries(PERIODS).map(
      ([k, [, , label]]) => html`<option value="${k}"${k === period ? ' selected' : ''}>${label}</option>`,
    )}</select>
  </label>
  <button type="submit">Show</button>
</form>
<div id="stats-body" data-live>
<ul class="tiles">
  <li class="tile tone-ok"><span class="tile-n">${formatPercent(judged ? hitless / judged : null)}</span><span class="tile-label">hitless, ${words}</span></li>
  <li class="tile tone-idle"><span class="tile-n">${judged}</span><span class="tile-label">updates judged</span></li>
  ${VERDICTS.filter((v) => v !== 'hitless').map((v) => {
    const n = s.overTime.reduce((a, b) => a + b[v], 0)
    return html`<li class="tile tone-${n && (v === 'faulted' || v === 'diverged') ? 'bad' : n ? 'warn' : 'idle'}"><span class="tile-n">${n}</span><span class="tile-label">${v}</span></li>`
  })}
</ul>
<section class="card" aria-labelledby="chart-h">
  <h2 id="chart-h">Over time <span class="muted">(${words})</span></h2>
  <ul class="legend" aria-label="Chart legend">
    <li><span class="swatch line" aria-hidden="true"></span>hitless rate</li>
    ${VERDICTS.map((v) => html`<li><span class="swatch" style="background:${VERDICT_COLOUR[v]};opacity:.45" aria-hidden="true"></span>${v}</li>`)}
  </ul>
  <figure class="chart-figure">${successRateChart(s.overTime, new Date(s.since), now, bucket)}</figure>
  <details id="chart-data"><summary>The numbers behind the chart</summary>
    ${
      s.overTime.length === 0
        ? html`<p class="empty">No judged update in this period.</p>`
        : html`<div class="table-wrap"><table><thead><tr><th scope="col">${bucket}</th><th scope="col" class="num">Hitless rate</th><th scope="col" class="num">Judged</th>${VERDICTS.map((v) => html`<th scope="col" class="num">${v}</th>`)}</tr></thead>
      <tbody>${s.overTime.map(
        (r) =>
          html`<tr><th scope="row">${r.at}</th><td class="num">${formatPercent(r.hitlessRate)}</td><td class="num">${r.updates}</td>${VERDICTS.map((v) => html`<td class="num">${r[v]}</td>`)}</tr>`,
      )}</tbody></table></div>`
    }
  </details>
  <p class="muted small">An update counts once it has a verdict. Unverified and consistent updates are not successes: only <em>hitless</em> is.</p>
</section>
${breakdown('By hardware', 'hardware', s.byHardware)}
${breakdown('By strategy', 'strategy', s.byStrategy)}
</div>`
}
