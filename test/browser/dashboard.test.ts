import assert from 'node:assert/strict'
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { after, before, test } from 'node:test'
import type { Rollout } from '@hitless/protocol'
import type { Browser, Page } from 'playwright-core'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { emulatedIommuFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import { playHost, seedHistory } from '../support/dashboard-fixtures.js'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

// The dashboard in a real browser: playwright-core driving Debian's chromium (.ci/run installs it).
// Screenshots go to test-artifacts/; HITLESS_UPDATE_SCREENSHOTS=1 also refreshes docs/screenshots/.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const NO_BROWSER = existsSync(CHROMIUM)
  ? false
  : `no chromium at ${CHROMIUM} (install Debian's chromium package or set CHROMIUM_PATH)`
const ARTIFACTS = 'test-artifacts/dashboard'
const require = createRequire(import.meta.url)
const AXE = require.resolve('axe-core/axe.min.js', { paths: ['services/controller'] })

let p: TestPlatform
let agent: HostAgent
let browser: Browser
let page: Page
let diverged: string

before(async () => {
  if (NO_BROWSER) return
  p = await startPlatform()
  const cfg = loadAgentConfig(['--hosts', '8', '--agent-id', 'emu'], {
    ...p.agentEnv,
    HITLESS_EMU_STEP_MS: '120',
  })
  // Hosts on the emulated IOMMU hardware: each update is a real live update, verified hitless.
  agent = new HostAgent(
    cfg,
    await emulatedIommuFleet(cfg.agentId, cfg.hosts, { stepMs: cfg.stepMs, mappings: 128 }),
  )
  await agent.start()
  // Real verdicts from real snapshots: one hitless, one diverged (shifted PA), one faulted.
  await playHost(p, 'edge-01', { seed: 1 })
  diverged = (await playHost(p, 'edge-02', { seed: 2, corruption: 'shifted PA', hardware: 'vtd-scalable' }))
    .updateId
  await playHost(p, 'edge-03', { seed: 3, corruption: 'fault counter increased' })
  await seedHistory(p, 14)
  const { chromium } = await import('playwright-core')
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Playwright passes --headless and --no-sandbox (needed as root); no calls home on a closed network.
    args: [
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } })
  mkdirSync(ARTIFACTS, { recursive: true })
})

after(async () => {
  await browser?.close()
  await agent?.stop()
  await p?.close()
})

async function shot(name: string, docs = false): Promise<void> {
  const path = `${ARTIFACTS}/${name}.png`
  await page.screenshot({ path, fullPage: true })
  if (docs && process.env.HITLESS_UPDATE_SCREENSHOTS === '1') {
    mkdirSync('docs/screenshots', { recursive: true })
    copyFileSync(path, `docs/screenshots/${name}.png`)
  }
}

/** axe-core on the page as it is: no serious or critical violation (WCAG 2.1 A/AA and best practice). */
async function axe(what: string): Promise<void> {
  // Evaluated, not added as a <script>: the dashboard's CSP rightly refuses inline scripts.
  await page.evaluate(readFileSync(AXE, 'utf8'))
  // Page-side code is given as strings: this file is type-checked without the DOM library.
  const result = (await page.evaluate(
    `axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] })`,
  )) as { violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  assert.deepEqual(
    bad.map(
      (v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
    ),
    [],
    `axe on ${what}`,
  )
}

/** Presses Tab until the element with `id` has focus (it must be reachable by keyboard). */
async function tabTo(id: string, max = 60): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab')
    if (await page.evaluate(`document.activeElement?.id === ${JSON.stringify(id)}`)) return
  }
  assert.fail(`#${id} not reached in ${max} Tab presses`)
}

test('dashboard in chromium: login, a rollout live to completion, keyboard, verdict diff, axe', {
  skip: NO_BROWSER,
}, async () => {
  // Not logged in: the login page; a wrong token is an error in place, not a blank page.
  await page.goto(`${p.url}/ui/rollouts`)
  assert.match(page.url(), /\/ui\/login\?next=/)
  await axe('the login page')
  await page.fill('#token', 'hlt_not-a-token')
  await page.keyboard.press('Enter')
  await page.waitForSelector('#login-error')
  assert.match((await page.textContent('#login-error')) ?? '', /unknown or revoked token/)
  await shot('login')
  // Log in by keyboard only: the token field has focus, Enter submits.
  await page.fill('#token', p.adminToken)
  await page.keyboard.press('Enter')
  await page.waitForURL(/\/ui\/rollouts$/)
  await page.waitForSelector('#live-status[data-state="live"]')

  // A rollout created through the API appears on the open page without a reload.
  await page.evaluate('window.marker = 1')
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    name: 'kernel 7.2.13 to emu',
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { labels: { fleet: 'emu' } },
    policy: { canary: 1, waves: ['50%', '100%'], maxConcurrent: 1 },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  const id = created.body.id
  await page.waitForSelector(`tr[data-rollout="${id}"]`, { timeout: 15000 })
  assert.equal(await page.evaluate('window.marker'), 1, 'page was reloaded')
  await axe('the rollouts page')

  // Its page: pause it by keyboard (Tab to the button, Enter), then resume the same way.
  await page.click(`tr[data-rollout="${id}"] th a`)
  await page.waitForSelector('#live-status[data-state="live"]')
  await page.waitForSelector(
    '.tl-row[data-state="RUNNING"], .tl-row[data-state="VERIFYING"], .tl-row[data-state="QUEUED"]',
  )
  await page.keyboard.press('Escape')
  await page.evaluate('document.activeElement?.blur()')
  await tabTo('pause-button')
  await page.keyboard.press('Enter')
  await page.waitForSelector(`.alert-ok:has-text("Paused")`)
  assert.match((await page.textContent('h1')) ?? '', /paused/)
  await axe('a paused rollout')
  await tabTo('resume-button')
  await page.keyboard.press('Enter')
  await page.waitForSelector(`.alert-ok:has-text("Resumed")`)

  // From here the page must follow the rollout to its end by itself.
  await page.evaluate('window.marker = 2')
  await page.waitForSelector('h1 .badge.tone-ok', { timeout: 150000 })
  assert.match((await page.textContent('h1')) ?? '', /completed/)
  assert.equal(await page.evaluate('window.marker'), 2, 'page was reloaded')
  const rows = await page.$$eval('.tl-row', (els) => els.map((e) => e.querySelectorAll('.seg').length))
  assert.deepEqual(rows, Array(8).fill(7), 'eight hosts, seven steps each on the timeline')
  assert.equal(await page.$$eval('.waves .wave', (w) => w.length), 3)
  await axe('a completed rollout')
  await shot('rollout', true)

  // A failed host's update: the verifier's reasons and its diff, field by field.
  await page.goto(`${p.url}/ui/updates/${diverged}`)
  assert.match((await page.textContent('#verdict-h + *')) ?? '', /diverged/)
  assert.ok(await page.isVisible('#kind-leaf\\.pa'), 'the leaf.pa difference is shown')
  assert.match((await page.textContent('.diff-table .change')) ?? '', /^pa 0x[0-9a-f]+ →became 0x[0-9a-f]+$/)
  await axe('a verdict with a diff')
  await shot('verdict', true)

  for (const [path, name, check] of [
    ['/ui/fleet', 'fleet', /edge-02/],
    ['/ui/stats?period=30d', 'stats', /hitless/],
    ['/ui/faults', 'faults', /edge-03/],
  ] as const) {
    await page.goto(`${p.url}${path}`)
    assert.match((await page.textContent('main')) ?? '', check)
    await axe(path)
    await shot(name, true)
  }

  // An unknown rollout is an error on a page, with the navigation still there.
  const res = await page.goto(`${p.url}/ui/rollouts/ro-nope`)
  assert.equal(res?.status(), 404)
  assert.match((await page.textContent('[role="alert"] .error-message')) ?? '', /no rollout ro-nope/)
  assert.ok(await page.isVisible('nav[aria-label="Main"]'))

  // Every request the pages made stayed on the controller: nothing from the internet.
  const hosts = (await page.evaluate(
    `performance.getEntriesByType('resource').map((e) => new URL(e.name).host)`,
  )) as string[]
  assert.ok(
    hosts.every((h) => h === new URL(p.url).host),
    hosts.join(','),
  )
})

test('the session cookie is HttpOnly and SameSite=Strict, and the events stream needs it', {
  skip: NO_BROWSER,
}, async () => {
  const cookies = await page.context().cookies()
  const session = cookies.find((c) => c.name === 'hitless_session')
  assert.deepEqual(
    { httpOnly: session?.httpOnly, sameSite: session?.sameSite, path: session?.path },
    { httpOnly: true, sameSite: 'Strict', path: '/' },
  )
  const anon = await fetch(`${p.url}/api/v1/events`)
  assert.equal(anon.status, 401)
  await anon.body?.cancel()
  await waitFor(
    'no rollout active',
    async () => (await p.db.rollout.count({ where: { phase: 'RUNNING' } })) === 0,
  )
})
