import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { api, KERNEL, startPlatform, type TestPlatform } from '../support/platform.js'

let p: TestPlatform
before(async () => {
  p = await startPlatform()
})
after(async () => p?.close())

type Err = { code: string; message: string }

test('invalid bodies get 400 naming the field and the rule', async () => {
  const cases: [unknown, RegExp][] = [
    [
      { kernel: KERNEL, strategy: 'yolo', selector: {} },
      /body\/strategy .*serialise, replay-verify, fresh-switch, naive/,
    ],
    [
      { kernel: { ...KERNEL, sha256: 'xyz' }, strategy: 'naive', selector: {} },
      /body\/kernel\/sha256 must match pattern/,
    ],
    [{ strategy: 'naive', selector: {} }, /body must have required property 'kernel'/],
    [
      { kernel: KERNEL, strategy: 'naive', selector: { labels: { 'bad key!': 'x' } } },
      /body\/selector\/labels/,
    ],
  ]
  for (const [body, re] of cases) {
    const r = await api<Err>(p, p.adminToken, 'POST', '/api/v1/rollouts', body)
    assert.equal(r.status, 400, JSON.stringify(r.body))
    assert.equal(r.body.code, 'HITLESS_E_VALIDATION')
    assert.match(r.body.message, re)
  }
  assert.equal(await p.db.rollout.count(), 0)
})

test('a selector that matches no host is 422 and creates nothing', async () => {
  const r = await api<Err>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'naive',
    selector: { labels: { rack: 'nowhere' } },
  })
  assert.equal(r.status, 422)
  assert.match(r.body.message, /matches no host/)
  assert.equal(await p.db.rollout.count(), 0)
})

test('unknown ids are 404 with a message', async () => {
  for (const path of [
    '/api/v1/rollouts/ro-nope',
    '/api/v1/hosts/nope',
    '/api/v1/updates/nope',
    '/api/v1/updates/nope/verdict',
    '/api/v1/nothing',
  ]) {
    const r = await api<Err>(p, p.adminToken, 'GET', path)
    assert.equal(r.status, 404, path)
    assert.equal(r.body.code, 'HITLESS_E_NOT_FOUND')
    assert.ok(r.body.message.length > 0)
  }
})

test('missing or unknown token is 401; an agent token cannot use operator routes (403)', async () => {
  assert.equal((await api(p, undefined, 'GET', '/api/v1/hosts')).status, 401)
  assert.equal((await api(p, 'hlt_wrong', 'GET', '/api/v1/hosts')).status, 401)
  const enrol = await api<{ hosts: { id: string; token: string }[] }>(
    p,
    p.adminToken,
    'POST',
    '/api/v1/agent/enrol',
    {
      agentId: 'a1',
      hosts: [{ name: 'h1', hardware: 'vtd-legacy', kernel: 'k', bootId: 'b' }],
    },
  )
  assert.equal(enrol.status, 200)
  const agentToken = enrol.body.hosts[0].token
  assert.equal(
    (
      await api(p, agentToken, 'POST', '/api/v1/rollouts', {
        kernel: KERNEL,
        strategy: 'naive',
        selector: {},
      })
    ).status,
    403,
  )
  // The token is stored hashed, never in clear.
  const rows = await p.db.apiToken.findMany()
  assert.ok(rows.every((t) => t.hash !== agentToken && t.hash.length === 64))
  // An agent token acts only for its own host.
  const other = await api(p, agentToken, 'POST', '/api/v1/agent/hosts/host-other/heartbeat', {
    bootId: 'b',
    kernel: 'k',
  })
  assert.equal(other.status, 403)
})

test('health, readiness, metrics and the OpenAPI page are served', async () => {
  assert.equal((await fetch(`${p.url}/healthz`)).status, 200)
  const ready = await api<{ postgres: boolean; redis: boolean }>(p, undefined, 'GET', '/readyz')
  assert.deepEqual([ready.status, ready.body.postgres, ready.body.redis], [200, true, true])
  const metrics = await (await fetch(`${p.url}/metrics`)).text()
  assert.match(metrics, /hitless_controller_leader 1/)
  const docs = await fetch(`${p.url}/docs/json`)
  const spec = (await docs.json()) as { paths: Record<string, unknown> }
  assert.ok(spec.paths['/api/v1/rollouts'])
  assert.equal((await fetch(`${p.url}/docs`, { redirect: 'follow' })).status, 200)
})
