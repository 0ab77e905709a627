import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Rollout } from '@hitless/protocol'
import { api, KERNEL, startPlatform, type TestPlatform } from '../support/platform.js'

// The API's contract beyond the happy path: semantic errors (422) that say what to change and
// create nothing, Idempotency-Key, kernels by id, the dashboard session with CSRF and the
// event stream, rate limits, CORS off, and the metric names.

let p: TestPlatform
type Err = { code: string; message: string; details?: { field?: string } }

before(async () => {
  p = await startPlatform({
    startLoop: false,
    env: { HITLESS_RATE_LIMIT: '0', HITLESS_LOGIN_RATE_LIMIT: '5' },
  })
  await api(p, p.adminToken, 'POST', '/api/v1/agent/enrol', {
    agentId: 'contract',
    hosts: Array.from({ length: 10 }, (_, i) => ({
      name: `c${i}`,
      hardware: 'smmuv3-bbml2',
      kernel: '6.19.0-hitless0',
      bootId: `b${i}`,
      labels: { rack: `r${i % 3}`, pool: 'gpu' },
    })),
  })
})
after(async () => p?.close())

const body = (policy: unknown, extra: Record<string, unknown> = {}) => ({
  kernel: KERNEL,
  strategy: 'serialise',
  selector: { labels: { pool: 'gpu' } },
  policy,
  ...extra,
})

test('semantic errors are 422 naming the field and what to change; nothing is created', async () => {
  const cases: [unknown, string, RegExp][] = [
    [body({ maxConcurrent: '120%' }), 'policy.maxConcurrent', /over 100%/],
    [body({ waves: [2, 3] }), 'policy.waves', /cover 6 of the 10 selected hosts.*"100%"/],
    [
      body({ windows: [{ cron: '0 0 30 2 *', durationMinutes: 60 }] }),
      'policy.windows',
      /no window opens within 366 days/,
    ],
    [body({ spreadBy: 'row' }), 'policy.spreadBy', /no label "row"/],
    [
      body({}, { kernel: { id: 'kernel-unknown' } }),
      'kernel.id',
      /unknown kernel kernel-unknown: register it/,
    ],
    [body({ onHalt: 'rollback' }), 'policy.onHalt', /runs kernel 6.19.0-hitless0, which is not registered/],
    [body({}, { selector: { labels: { pool: 'cpu' } } }), 'selector', /matches no host/],
  ]
  for (const [b, field, re] of cases) {
    const r = await api<Err>(p, p.adminToken, 'POST', '/api/v1/rollouts', b)
    assert.equal(r.status, 422, `${field}: ${JSON.stringify(r.body)}`)
    assert.equal(r.body.code, 'HITLESS_E_UNPROCESSABLE')
    assert.equal(r.body.details?.field, field)
    assert.match(r.body.message, re)
  }
  const bad = await api<Err>(p, p.adminToken, 'POST', '/api/v1/rollouts', body({ canary: -1 }))
  assert.equal(bad.status, 400)
  assert.match(bad.body.message, /body\/policy\/canary/)
  const unknownField = await api<Err>(p, p.adminToken, 'POST', '/api/v1/rollouts', body({ maxParallel: 3 }))
  assert.equal(unknownField.status, 400)
  assert.match(unknownField.body.message, /body\/policy .*maxParallel/)
  assert.equal(await p.db.rollout.count(), 0)
  assert.equal(await p.db.kernel.count(), 0, 'not even the kernel')
})

test('kernels are registered once and named by id; rollback needs the old kernel known', async () => {
  const k = await api<{ id: string }>(p, p.adminToken, 'POST', '/api/v1/kernels', {
    ...KERNEL,
    handoverFormat: 2,
  })
  assert.equal(k.status, 201)
  assert.equal(
    (await api(p, p.adminToken, 'POST', '/api/v1/kernels', { ...KERNEL, handoverFormat: 2 })).status,
    200,
  )
  await api(p, p.adminToken, 'POST', '/api/v1/kernels', {
    version: '6.19.0-hitless0',
    image: '/boot/old',
    sha256: 'cd'.repeat(32),
  })
  const plan = await api<{ dryRun: boolean; waves: unknown[]; policy: { onHalt: string } }>(
    p,
    p.adminToken,
    'POST',
    '/api/v1/rollouts',
    body({ onHalt: 'rollback' }, { kernel: { id: k.body.id }, dryRun: true }),
  )
  assert.equal(plan.status, 200, JSON.stringify(plan.body))
  assert.equal(plan.body.policy.onHalt, 'rollback')
  assert.equal(await p.db.rollout.count(), 0)
})

test('Idempotency-Key: the same create twice is one rollout; another body with the key is 409', async () => {
  const headers = { 'idempotency-key': 'create-42' }
  const b = body({ canary: 0, maxConcurrent: 2 }, { selector: { names: ['c0', 'c1'] } })
  const first = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', b, headers)
  assert.equal(first.status, 201)
  const again = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', b, headers)
  assert.equal(again.status, 200)
  assert.equal(again.body.id, first.body.id)
  const other = await api<Err>(p, p.adminToken, 'POST', '/api/v1/rollouts', { ...b, name: 'other' }, headers)
  assert.equal(other.status, 409)
  assert.match(other.body.message, /Idempotency-Key was used with a different body/)
  assert.equal(await p.db.rollout.count(), 1)
  // A host in an active rollout is refused by another.
  const busy = await api<Err>(
    p,
    p.adminToken,
    'POST',
    '/api/v1/rollouts',
    body({}, { selector: { names: ['c1', 'c2'] } }),
  )
  assert.equal(busy.status, 409)
  assert.match(busy.body.message, /c1 is already in active rollout/)
})

test('the dashboard session: HttpOnly SameSite cookie, CSRF on writes, events over EventSource', async () => {
  const operator = await p.controller.ctx.tokens.create('dash', 'operator')
  const login = await fetch(`${p.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: operator }),
  })
  assert.equal(login.status, 200)
  const cookies = login.headers.getSetCookie()
  const session = cookies.find((c) => c.startsWith('hitless_session='))!
  assert.match(session, /HttpOnly/)
  assert.match(session, /SameSite=Strict/)
  assert.ok(
    !/HttpOnly/.test(cookies.find((c) => c.startsWith('hitless_csrf='))!),
    'the CSRF cookie is readable by the page',
  )
  const { csrfToken, role } = (await login.json()) as { csrfToken: string; role: string }
  assert.equal(role, 'operator')
  const cookie = cookies.map((c) => c.split(';')[0]).join('; ')
  assert.ok(!(await p.db.session.findMany()).some((s) => cookie.includes(s.hash)), 'only hashes at rest')

  const read = await fetch(`${p.url}/api/v1/hosts`, { headers: { cookie } })
  assert.equal(read.status, 200)
  const noCsrf = await fetch(`${p.url}/api/v1/hosts/c9/cordon`, { method: 'POST', headers: { cookie } })
  assert.equal(noCsrf.status, 403)
  assert.match(((await noCsrf.json()) as Err).message, /CSRF/)
  const wrong = await fetch(`${p.url}/api/v1/hosts/c9/cordon`, {
    method: 'POST',
    headers: { cookie, 'x-csrf-token': 'x' },
  })
  assert.equal(wrong.status, 403)

  // The event stream, with the cookie alone (EventSource sends no Authorization header).
  const ctrl = new AbortController()
  const stream = await fetch(`${p.url}/api/v1/events`, { headers: { cookie }, signal: ctrl.signal })
  assert.equal(stream.status, 200)
  assert.match(stream.headers.get('content-type') ?? '', /text\/event-stream/)
  const reader = stream.body!.getReader()
  const ok = await fetch(`${p.url}/api/v1/rollouts/${(await p.db.rollout.findFirstOrThrow()).id}/pause`, {
    method: 'POST',
    headers: { cookie, 'x-csrf-token': csrfToken },
  })
  assert.equal(ok.status, 200)
  let text = ''
  const deadline = Date.now() + 5000
  while (!/event: rollout\nid|event: rollout/.test(text) || !/"phase":"PAUSED"/.test(text)) {
    const chunk = await Promise.race([
      reader.read(),
      new Promise<{ value?: undefined }>((r) => setTimeout(() => r({}), 5000)),
    ])
    if (chunk.value) text += new TextDecoder().decode(chunk.value)
    if (Date.now() > deadline) break
  }
  ctrl.abort()
  assert.match(text, /event: rollout/)
  assert.match(text, /"phase":"PAUSED"/)
  const audit = await api<{ actor: string; action: string }[]>(
    p,
    p.adminToken,
    'GET',
    '/api/v1/audit?action=rollout.pause',
  )
  assert.equal(audit.body[0].actor, 'dash')

  const out = await fetch(`${p.url}/api/v1/session`, {
    method: 'DELETE',
    headers: { cookie, 'x-csrf-token': csrfToken },
  })
  assert.equal(out.status, 204)
  assert.equal((await fetch(`${p.url}/api/v1/hosts`, { headers: { cookie } })).status, 401)
})

test('logins are rate limited (429 with a stable code); CORS stays off', async () => {
  let last: Response | undefined
  for (let i = 0; i < 7; i++)
    last = await fetch(`${p.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'hlt_wrong' }),
    })
  assert.equal(last!.status, 429)
  assert.equal(((await last!.json()) as Err).code, 'HITLESS_E_RATE_LIMITED')
  const pre = await fetch(`${p.url}/api/v1/hosts`, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
  })
  assert.equal(pre.headers.get('access-control-allow-origin'), null)
})

test('metrics in the style of Argo Rollouts; statistics for dashboards', async () => {
  const text = await (await fetch(`${p.url}/metrics`)).text()
  for (const name of [
    'hitless_rollout_phase',
    'hitless_host_updates_total',
    'hitless_dma_faults_total',
    'hitless_host_blackout_seconds',
    'hitless_wave_duration_seconds',
    'hitless_queue_depth',
    'hitless_controller_lease_epoch',
  ])
    assert.match(text, new RegExp(`# TYPE ${name} `), name)
  assert.match(text, /hitless_rollout_phase\{rollout="ro-[^"]+",name="[^"]+",phase="PAUSED"\} 1/)
  const stats = await api<{ overTime: unknown[]; byHardware: unknown[]; byStrategy: unknown[] }>(
    p,
    p.adminToken,
    'GET',
    '/api/v1/stats?bucket=hour',
  )
  assert.equal(stats.status, 200)
  assert.ok(Array.isArray(stats.body.byHardware))
})
