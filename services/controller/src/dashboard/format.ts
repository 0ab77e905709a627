import { html, type SafeHtml } from './html.js'

/** A duration for people: `840 ms`, `3.4 s`, `2 min 05 s`, `1 h 03 min`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`
}

/** `2026-11-25 21:03:04 UTC`: the server renders in UTC so that every viewer reads the same. */
export function formatTime(iso: string | Date | null | undefined): string {
  if (!iso) return '—'
  const d = typeof iso === 'string' ? new Date(iso) : iso
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`
}

export function timeEl(iso: string | Date | null | undefined): SafeHtml {
  if (!iso) return html`<span class="muted">—</span>`
  const d = typeof iso === 'string' ? new Date(iso) : iso
  return html`<time datetime="${d.toISOString()}">${formatTime(d)}</time>`
}

export function formatPercent(rate: number | null | undefined, digits = 1): string {
  if (rate === null || rate === undefined) return '—'
  return `${(rate * 100).toFixed(digits)} %`
}

/** `rack=r1, zone=z2` */
export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')
}
