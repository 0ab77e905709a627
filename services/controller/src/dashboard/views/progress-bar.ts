import type { HostUpdate } from '@hitless/protocol'
import { html, type SafeHtml } from '../html.js'

export interface Progress {
  total: number
  succeeded: number
  review: number
  failed: number
  inFlight: number
  pending: number
  cancelled: number
}

export function progressOf(updates: HostUpdate[]): Progress {
  const n = (states: HostUpdate['state'][]) => updates.filter((u) => states.includes(u.state)).length
  return {
    total: updates.length,
    succeeded: n(['SUCCEEDED']),
    review: n(['NEEDS_REVIEW']),
    failed: n(['FAILED', 'FAILED_HELD']),
    inFlight: n(['QUEUED', 'RUNNING', 'VERIFYING']),
    pending: n(['PENDING']),
    cancelled: n(['CANCELLED']),
  }
}

const PARTS: [keyof Progress, string][] = [
  ['succeeded', 'succeeded'],
  ['review', 'need review'],
  ['failed', 'failed'],
  ['inFlight', 'in flight'],
  ['cancelled', 'cancelled'],
  ['pending', 'pending'],
]

/** Hosts done out of all, as a stacked bar and in words (the words are what a screen reader reads). */
export function progressBar(p: Progress, id?: string): SafeHtml {
  const done = p.succeeded + p.review + p.failed + p.cancelled
  const words = PARTS.filter(([k]) => p[k] > 0)
    .map(([k, label]) => `${p[k]} ${label}`)
    .join(', ')
  const pct = (n: number) => (p.total ? (n / p.total) * 100 : 0).toFixed(2)
  return html`<div class="progress"${id ? html` id="${id}"` : ''}>
  <div class="progress-bar" role="img" aria-label="${done} of ${p.total} hosts ended: ${words || 'none'}">
    ${PARTS.filter(([k]) => p[k] > 0).map(
      ([k]) => html`<span class="seg seg-${k}" style="width:${pct(p[k])}%"></span>`,
    )}
  </div>
  <p class="progress-words"><strong>${done}/${p.total}</strong> ended${words ? html` · ${words}` : ''}</p>
</div>`
}
