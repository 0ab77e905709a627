import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Rollout } from '@hitless/protocol'
import { api, KERNEL, startPlatform, type TestPlatform } from '../support/platform.js'

// The dashboard over plain HTTP (no browser): login, sessions, CSRF, roles, errors in place,
// the admin-only queue view. test/browser/dashboard.test.ts drives it in chromium.
let p: TestPlatform
let rollout: Rollout
before(async () => {
  p = await startPlatform({ startLoop: false })
  await api(p, p.adminToken, 'POST', '/api/v1/agent/enrol', {
    agentId: 'dash',
    hosts: ['a', 'b'].map((n, i) => ({
      name: `dash-${n}`,
      hardware: 'vtd-legacy',
      kernel: '6.19',
      bootId: `b${i}`,
    })),
  })
  await p.db.host.updateMany({ data: { state: 'READY' } })
  rollout = (
    await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
      name: 'dash <script>alert(1)</script>',
      kernel: KERNEL,
      strategy: 'serialise',
      selector: {},
    })
  ).body
})
after(async () => p?.close())

const form = (o: Record<string, string>) => new URLSearchParams(o).toString()

async function login(token: string): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${p.url}/ui/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ token, next: '/ui/fleet' }),
  })
  assert.equal(res.status, 303, await res.text())
  assert.equal(res.headers.get('location'), '/ui/fleet')
  const set = res.headers.getSetCookie()
  assert.ok(
    set.some((c) => /^hitless_session=.+; HttpOnly; Path=\/; Max-Age=\d+; SameSite=Strict/.test(c)),
    set.join(' | '),
  )
  const pairs = set.map((c) => c.split(';')[0])
  return { cookie: pairs.join('; '), csrf: pairs.find((c) => c.startsWith('hitless_csrf='))!.split('=')[1] }
}

async function get(path: string, cookie = '') {
  const res = await fetch(`${p.url}${path}`, { redirect: 'manual', headers: { cookie } })
  return {
    status: res.status,
    location: res.headers.get('location'),
    csp: res.headers.get('content-security-policy'),
    body: await res.text(),
  }
}

async function post(path: string, cookie: string, body: Record<string, string>) {
  const res = await fetch(`${p.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: form(body),
  })
  return { status: res.status, location: res.headers.get('location'), body: await res.text() }
}

test('/ leads to the dashboard; pages need a session and come back after login', async () => {
  assert.equal((await get('/')).location, '/ui/')
  const anon = await get('/ui/fleet')
  assert.equal(anon.status, 303)
  assert.equal(anon.location, '/ui/login?next=%2Fui%2Ffleet')
  const page = await get('/ui/login?next=/ui/fleet')
  assert.equal(page.status, 200)
  assert.match(page.body, /<label for="token">API token<\/label>/)
})

test('a bad token, an empty one, or an open redirect: errors on the login page, never a blank one', async () => {
  for (const [token, status, re] of [
    ['hlt_wrong', 401, /unknown or revoked token/],
    ['', 400, /paste an API token/],
  ] as const) {
    const r = await post('/ui/login', '', { token, next: '/ui/fleet' })
    assert.equal(r.status, status)
    assert.match(r.body, re)
    assert.match(r.body, /<form method="post" action="\/ui\/login">/)
  }
  const evil = await fetch(`${p.url}/ui/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ token: p.adminToken, next: '//evil.example/x' }),
  })
  assert.equal(evil.headers.get('location'), '/ui/rollouts')
})

test('every page renders for a session, escapes what it shows and loads nothing from elsewhere', async () => {
  const { cookie } = await login(p.adminToken)
  const pages = [
    '/ui/fleet',
    '/ui/rollouts',
    `/ui/rollouts/${rollout.id}`,
    `/ui/updates/${rollout.hosts[0].id}`,
    '/ui/stats',
    '/ui/stats?period=24h',
    '/ui/faults',
    `/ui/hosts/${rollout.hosts[0].hostId}`,
  ]
  for (const path of pages) {
    const r = await get(path, cookie)
    assert.equal(r.status, 200, `${path}: ${r.body.slice(0, 300)}`)
    assert.match(r.csp ?? '', /script-src 'self'/)
    assert.doesNotMatch(r.body, /<script>alert/, `${path} does not escape`)
    for (const m of r.body.matchAll(/(?:src|href)="([^"]+)"/g))
      assert.ok(m[1].startsWith('/') || m[1].startsWith('#'), `${path} refers to ${m[1]}`)
  }
  const detail = await get(`/ui/rollouts/${rollout.id}`, cookie)
  assert.match(detail.body, /dash &lt;script&gt;alert\(1\)&lt;\/script&gt;/)
  for (const asset of ['/ui/assets/dashboard.css', '/ui/assets/live.js', '/ui/assets/favicon.svg'])
    assert.equal((await get(asset)).status, 200, asset)
})

test('actions go through the API: CSRF required, roles enforced, errors shown on the page', async () => {
  const admin = await login(p.adminToken)
  const noCsrf = await post(`/ui/rollouts/${rollout.id}/pause`, admin.cookie, {})
  assert.equal(noCsrf.status, 403)
  assert.match(noCsrf.body, /CSRF token/)
  assert.match(noCsrf.body, /<h1>dash &lt;script/, 'the rollout page, with the error in place')
  const paused = await post(`/ui/rollouts/${rollout.id}/pause`, admin.cookie, { _csrf: admin.csrf })
  assert.equal(paused.status, 303)
  assert.equal(paused.location, `/ui/rollouts/${rollout.id}?done=paused`)
  // Pausing twice is refused with the API's reason, on the rollout page.
  const again = await post(`/ui/rollouts/${rollout.id}/pause`, admin.cookie, { _csrf: admin.csrf })
  assert.equal(again.status, 409)
  assert.match(again.body, /role="alert"/)
  assert.match(again.body, /id="resume-button"/)
  const aborted = await post(`/ui/rollouts/${rollout.id}/abort`, admin.cookie, { _csrf: admin.csrf })
  assert.equal(aborted.status, 303)
  assert.equal(aborted.location, `/ui/rollouts/${rollout.id}?done=aborted`)
  const after = await get(aborted.location!, admin.cookie)
  assert.match(after.body, /Aborted: hosts not started are cancelled/)
  assert.equal(
    (await post(`/ui/rollouts/${rollout.id}/frobnicate`, admin.cookie, { _csrf: admin.csrf })).status,
    404,
  )

  const viewerToken = (
    await api<{ token: string }>(p, p.adminToken, 'POST', '/api/v1/tokens', { name: 'v', role: 'viewer' })
  ).body.token
  const viewer = await login(viewerToken)
  const page = await get(`/ui/rollouts/${rollout.id}`, viewer.cookie)
  assert.doesNotMatch(page.body, /id="(pause|resume|abort)-button"/)
  const denied = await post(`/ui/hosts/${rollout.hosts[0].hostId}/cordon`, viewer.cookie, {
    _csrf: viewer.csrf,
  })
  assert.equal(denied.status, 403)
  assert.match(denied.body, /role viewer may not do this/)
})

test('not found and the queue view: HTML pages, the queue view for admins only', async () => {
  const admin = await login(p.adminToken)
  const nope = await get('/ui/rollouts/ro-nope', admin.cookie)
  assert.equal(nope.status, 404)
  assert.match(nope.body, /no rollout ro-nope/)
  assert.equal((await get('/ui/no-such-page', admin.cookie)).status, 404)
  assert.equal((await get('/admin/queues/')).status, 303)
  const board = await get('/admin/queues/', admin.cookie)
  assert.equal(board.status, 200)
  assert.match(board.body, /Hitless queues|bull/i)
  assert.doesNotMatch(board.body, /https?:\/\//, 'the queue view loads nothing from the internet')
  const queues = await fetch(`${p.url}/admin/queues/api/queues`, { headers: { cookie: admin.cookie } })
  assert.equal(queues.status, 200)
  const names = ((await queues.json()) as { queues: { name: string; readOnlyMode: boolean }[] }).queues
  assert.ok(names.some((q) => q.name === 'verify'))
  assert.ok(names.every((q) => q.readOnlyMode))
  const viewerToken = (
    await api<{ token: string }>(p, p.adminToken, 'POST', '/api/v1/tokens', { name: 'v2', role: 'viewer' })
  ).body.token
  const viewer = await login(viewerToken)
  const refused = await get('/admin/queues/', viewer.cookie)
  assert.equal(refused.status, 403)
  assert.match(refused.body, /for admins/)
})
