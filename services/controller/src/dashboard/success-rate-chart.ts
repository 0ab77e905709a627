import { VERDICTS, type Verdict } from '@hitless/protocol'
import { formatPercent } from './format.js'
import { html, raw, type SafeHtml } from './html.js'

export interface RateBucket {
  at: string
  updates: number
  hitlessRate: number | null
  hitless: number
  consistent: number
  faulted: number
  diverged: number
  unverified: number
}

/** Verdict colours (Primer's accessible palette; each ≥ 3:1 against white, WCAG 1.4.11). */
export const VERDICT_COLOUR: Record<Verdict, string> = {
  hitless: '#1a7f37',
  consistent: '#0969da',
  unverified: '#6e7781',
  faulted: '#bc4c00',
  diverged: '#cf222e',
}

const W = 760
const H = 300
const PAD = { left: 52, right: 52, top: 18, bottom: 44 }
const PLOT_W = W - PAD.left - PAD.right
const PLOT_H = H - PAD.top - PAD.bottom

const floorTo = (t: number, bucket: 'hour' | 'day') => {
  const d = new Date(t)
  if (bucket === 'day') d.setUTCHours(0, 0, 0, 0)
  else d.setUTCMinutes(0, 0, 0)
  return d.getTime()
}

/** Every bucket from `since` to `now`, empty ones included, so that gaps in time show as gaps. */
export function fillBuckets(
  data: RateBucket[],
  since: Date,
  now: Date,
  bucket: 'hour' | 'day',
): { at: number; b: RateBucket | undefined }[] {
  const step = bucket === 'day' ? 86400000 : 3600000
  const byAt = new Map(data.map((d) => [Date.parse(d.at), d]))
  const out: { at: number; b: RateBucket | undefined }[] = []
  for (let t = floorTo(since.getTime(), bucket); t <= now.getTime(); t += step)
    out.push({ at: t, b: byAt.get(t) })
  return out
}

const niceMax = (n: number) => {
  if (n <= 5) return 5
  const p = 10 ** Math.floor(Math.log10(n))
  return ([1, 2, 5, 10].map((m) => m * p).find((m) => m >= n) ?? 10 * p) as number
}

const label = (t: number, bucket: 'hour' | 'day') =>
  bucket === 'day' ? new Date(t).toISOString().slice(5, 10) : `${new Date(t).toISOString().slice(11, 13)}:00`

/**
 * The hitless success rate over time as an inline SVG drawn on the server (no chart library, no
 * script): stacked bars of verdicts per bucket (right axis, counts) and the hitless rate as a
 * line (left axis, %). Screen readers get the title and a summary; the table beside it has every
 * number.
 */
export function successRateChart(
  data: RateBucket[],
  since: Date,
  now: Date,
  bucket: 'hour' | 'day',
): SafeHtml {
  const buckets = fillBuckets(data, since, now, bucket)
  const n = Math.max(buckets.length, 1)
  const slot = PLOT_W / n
  const barW = Math.max(Math.min(slot * 0.7, 40), 1)
  const maxCount = niceMax(Math.max(0, ...buckets.map((x) => x.b?.updates ?? 0)))
  const x = (i: number) => PAD.left + slot * i + slot / 2
  const yRate = (r: number) => PAD.top + PLOT_H * (1 - r)
  const yCount = (c: number) => PAD.top + PLOT_H * (1 - c / maxCount)
  const parts: string[] = []
  for (const r of [0, 0.25, 0.5, 0.75, 1]) {
    const y = yRate(r).toFixed(1)
    parts.push(
      `<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y}" y2="${y}"/>`,
      `<text class="axis" x="${PAD.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${r * 100}%</text>`,
      `<text class="axis" x="${W - PAD.right + 8}" y="${y}" dominant-baseline="middle">${Math.round(maxCount * r)}</text>`,
    )
  }
  const labelEvery = Math.ceil(n / 8)
  buckets.forEach((bk, i) => {
    if (i % labelEvery === 0)
      parts.push(
        `<text class="axis" x="${x(i).toFixed(1)}" y="${H - PAD.bottom + 18}" text-anchor="middle">${label(bk.at, bucket)}</text>`,
      )
    if (!bk.b) return
    let base = 0
    for (const v of VERDICTS) {
      const c = bk.b[v]
      if (!c) continue
      const y1 = yCount(base + c)
      const h = yCount(base) - y1
      parts.push(
        `<rect x="${(x(i) - barW / 2).toFixed(1)}" y="${y1.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(h, 0.5).toFixed(1)}" fill="${VERDICT_COLOUR[v]}" fill-opacity="0.35"/>`,
      )
      base += c
    }
  })
  let path = ''
  let gap = true
  const dots: string[] = []
  buckets.forEach((bk, i) => {
    const r = bk.b?.hitlessRate
    if (r === null || r === undefined) {
      gap = true
      return
    }
    path += `${gap ? 'M' : 'L'}${x(i).toFixed(1)},${yRate(r).toFixed(1)}`
    gap = false
    dots.push(
      `<circle cx="${x(i).toFixed(1)}" cy="${yRate(r).toFixed(1)}" r="3.5"><title>${label(bk.at, bucket)}: ${formatPercent(r)} hitless of ${bk.b!.updates}</title></circle>`,
    )
  })
  if (path) parts.push(`<path class="rate" d="${path}"/>`, `<g class="rate-dots">${dots.join('')}</g>`)
  parts.push(
    `<text class="axis-title" x="${PAD.left}" y="${H - 6}">hitless rate (line, left) · verdicts per ${bucket} (bars, right)</text>`,
  )
  const judged = buckets.reduce((a, bk) => a + (bk.b?.updates ?? 0), 0)
  const hitless = buckets.reduce((a, bk) => a + (bk.b?.hitless ?? 0), 0)
  const worst = buckets
    .filter((bk) => bk.b && bk.b.hitlessRate !== null)
    .sort((a, b) => (a.b!.hitlessRate ?? 0) - (b.b!.hitlessRate ?? 0))[0]
  const summary = judged
    ? `${formatPercent(hitless / judged)} hitless of ${judged} judged updates` +
      (worst ? `; lowest ${formatPercent(worst.b!.hitlessRate)} at ${label(worst.at, bucket)}` : '')
    : 'no judged update in this period'
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="rate-title rate-desc" preserveAspectRatio="xMidYMid meet">
  <title id="rate-title">Hitless success rate per ${bucket}</title>
  <desc id="rate-desc">${summary}</desc>
  ${raw(parts.join('\n'))}
</svg>`
}
