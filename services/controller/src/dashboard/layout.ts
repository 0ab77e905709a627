import type { Role } from '../services/token.service.js'
import { html, type SafeHtml } from './html.js'

/** Who is looking: from the session cookie. `csrf` is the readable cookie's token (double submit). */
export interface Viewer {
  name: string
  role: Role
  csrf: string
}

export type Section = 'fleet' | 'rollouts' | 'stats' | 'faults' | 'queues' | 'none'

export interface PageOptions {
  title: string
  section: Section
  viewer?: Viewer
  /** Live updates: the events stream this page listens to (the page re-reads its live regions). */
  events?: string
  /** A one-line notice (an action done) or an error, shown at the top of the content. */
  notice?: string
  error?: string
}

const NAV: [Section, string, string][] = [
  ['fleet', 'Fleet', '/ui/fleet'],
  ['rollouts', 'Rollouts', '/ui/rollouts'],
  ['stats', 'Success rate', '/ui/stats'],
  ['faults', 'DMA faults', '/ui/faults'],
]

/** A hidden CSRF field for the dashboard's own forms. */
export const csrfField = (v: Viewer) => html`<input type="hidden" name="_csrf" value="${v.csrf}">`

export const canOperate = (v: Viewer | undefined) => v?.role === 'operator' || v?.role === 'admin'

/** The page shell: skip link, navigation, who is logged in, live status, content. */
export function page(o: PageOptions, body: SafeHtml): SafeHtml {
  const v = o.viewer
  const nav = [...NAV, ...(v?.role === 'admin' ? ([['queues', 'Queues', '/admin/queues/']] as const) : [])]
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · Hitless</title>
<link rel="stylesheet" href="/ui/assets/dashboard.css">
<link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml">
<script src="/ui/assets/live.js" defer></script>
</head>
<body${o.events ? html` data-events="${o.events}"` : ''}>
<a class="skip-link" href="#main">Skip to content</a>
<header class="topbar">
  <a class="brand" href="/ui/"><span aria-hidden="true" class="brand-mark">⟳</span> Hitless</a>
  ${
    v &&
    html`<nav aria-label="Main">
    <ul>${nav.map(
      ([s, label, href]) =>
        html`<li><a href="${href}"${s === o.section ? html` aria-current="page"` : ''}>${label}</a></li>`,
    )}</ul>
  </nav>
  <div class="who">
    <span>${v.name} <span class="muted">(${v.role})</span></span>
    <form method="post" action="/ui/logout">${csrfField(v)}<button type="submit" class="link-button">Log out</button></form>
  </div>`
  }
</header>
<main id="main" tabindex="-1">
  ${
    o.events &&
    html`<p id="live-status" class="live-status" role="status" data-state="connecting"><span aria-hidden="true" class="dot"></span><span class="text">Connecting to live updates…</span></p>`
  }
  <div id="live-error" class="alert alert-error" role="alert" hidden></div>
  ${o.notice && html`<div class="alert alert-ok" role="status">${o.notice}</div>`}
  ${o.error && html`<div class="alert alert-error" role="alert"><strong>Error:</strong> <span class="error-message">${o.error}</span></div>`}
  ${body}
</main>
</body>
</html>`
}
