import type { HostState, HostUpdateState, RolloutPhase, Verdict } from '@hitless/protocol'
import { html, type SafeHtml } from './html.js'

/**
 * Every state the dashboard shows maps to one of five tones, each with its colour and an icon
 * character, so that a state is never told by colour alone (WCAG 1.4.1).
 */
export type Tone = 'ok' | 'bad' | 'warn' | 'busy' | 'idle'

const ICON: Record<Tone, string> = { ok: '✓', bad: '✕', warn: '!', busy: '●', idle: '○' }

export const ROLLOUT_TONE: Record<RolloutPhase, Tone> = {
  PENDING: 'idle',
  RUNNING: 'busy',
  PAUSED: 'warn',
  COMPLETED: 'ok',
  HALTED: 'bad',
  ABORTED: 'bad',
}

export const UPDATE_TONE: Record<HostUpdateState, Tone> = {
  PENDING: 'idle',
  QUEUED: 'idle',
  RUNNING: 'busy',
  VERIFYING: 'busy',
  SUCCEEDED: 'ok',
  NEEDS_REVIEW: 'warn',
  FAILED: 'bad',
  FAILED_HELD: 'bad',
  CANCELLED: 'idle',
}

export const HOST_TONE: Record<HostState, Tone> = {
  REGISTERED: 'idle',
  READY: 'ok',
  CORDONED: 'warn',
  UPDATING: 'busy',
  FAILED_HELD: 'bad',
  OFFLINE: 'bad',
}

export const VERDICT_TONE: Record<Verdict, Tone> = {
  hitless: 'ok',
  consistent: 'warn',
  unverified: 'warn',
  faulted: 'bad',
  diverged: 'bad',
}

/** A state badge: icon and word, coloured by tone. */
export function badge(tone: Tone, text: string): SafeHtml {
  return html`<span class="badge tone-${tone}"><span aria-hidden="true">${ICON[tone]}</span> ${text}</span>`
}

export const phaseBadge = (p: RolloutPhase) => badge(ROLLOUT_TONE[p], p.toLowerCase())
export const updateBadge = (s: HostUpdateState) => badge(UPDATE_TONE[s], s.toLowerCase().replace('_', ' '))
export const hostBadge = (s: HostState) => badge(HOST_TONE[s], s.toLowerCase().replace('_', ' '))
export const verdictBadge = (v: Verdict | null) =>
  v ? badge(VERDICT_TONE[v], v) : html`<span class="muted">no verdict yet</span>`
