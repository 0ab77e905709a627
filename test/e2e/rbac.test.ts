import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { api, startPlatform, type TestPlatform } from '../support/platform.js'

// The RBAC matrix: every route of the API × every role. A role below what the route needs gets
// 403, no credential 401; a role that may gets past authorisation (whatever the handler then
// says about the made-up ids and bodies sent here).

type Need = 'public' | 'viewer' | 'operator' | 'admin' | 'agent'
const ROUTES: [string, string, Need][] = [
  ['GET', '/api/v1/hosts', 'viewer'],
  ['GET', '/api/v1/hosts/:id', 'viewer'],
  ['POST', '/api/v1/hosts/:id/cordon', 'operator'],
  ['POST', '/api/v1/hosts/:id/uncordon', 'operator'],
  ['POST', '/api/v1/kernels', 'operator'],
  ['GET', '/api/v1/kernels', 'viewer'],
  ['GET', '/api/v1/kernels/:id', 'viewer'],
  ['POST', '/api/v1/rollouts', 'operator'],
  ['GET', '/api/v1/rollouts', 'viewer'],
  ['GET', '/api/v1/rollouts/:id', 'viewer'],
  ['POST', '/api/v1/rollouts/:id/pause', 'operator'],
  ['POST', '/api/v1/rollouts/:id/resume', 'operator'],
  ['POST', '/api/v1/rollouts/:id/abort', 'operator'],
  ['POST', '/api/v1/rollouts/:id/hosts/:host/retry', 'operator'],
  ['GET', '/api/v1/updates', 'viewer'],
  ['GET', '/api/v1/updates/:id', 'viewer'],
  ['GET', '/api/v1/updates/:id/verdict', 'viewer'],
  ['POST', '/api/v1/tokens', 'admin'],
  ['GET', '/api/v1/tokens', 'admin'],
  ['DELETE', '/api/v1/tokens/:id', 'admin'],
  ['GET', '/api/v1/audit', 'operator'],
  ['GET', '/api/v1/stats', 'viewer'],
  ['GET', '/api/v1/events', 'viewer'],
  ['POST', '/api/v1/session', 'public'],
  ['DELETE', '/api/v1/session', 'viewer'],
  ['POST', '/api/v1/agent/enrol', 'admin'],
  ['POST', '/api/v1/agent/hosts/:id/heartbeat', 'agent'],
  ['POST', '/api/v1/agent/updates/:id/claim', 'agent'],
  ['POST', '/api/v1/agent/updates/:id/steps', 'agent'],
  ['POST', '/api/v1/agent/updates/:id/finish', 'agent'],
  ['PUT', '/api/v1/agent/updates/:id/snapshots/:phase', 'agent'],
]
const ROLES = ['none', 'viewer', 'operator', 'admin', 'agent'] as const
const RANK = { viewer: 0, operator: 1, admin: 2 } as const

let p: TestPlatform
const tokens: Record<string, string | undefined> = { none: undefined }
let agentHostId = ''

before(async () => {
  p = await startPlatform({ env: { HITLESS_RATE_LIMIT: '0' } })
  tokens.admin = p.adminToken
  tokens.viewer = await p.controller.ctx.tokens.create('v', 'viewer')
  tokens.operator = await p.controller.ctx.tokens.create('o', 'operator')
  const enrol = await api<{ hosts: { id: string; token: string }[] }>(
    p,
    p.adminToken,
    'POST',
    '/api/v1/agent/enrol',
    {
      agentId: 'rbac',
      hosts: [{ name: 'rbac-h', hardware: 'vtd-legacy', kernel: 'k', bootId: 'b' }],
    },
  )
  agentHostId = enrol.body.hosts[0].id
  tokens.agent = enrol.body.hosts[0].token
})
after(async () => p?.close())

function allowed(role: (typeof ROLES)[number], need: Need): boolean {
  if (need === 'public') return true
  if (role === 'none') return false
  if (need === 'agent') return role === 'agent'
  return role !== 'agent' && RANK[role] >= RANK[need]
}

test('the matrix covers every route of the OpenAPI description', async () => {
  const spec = (await (await fetch(`${p.url}/docs/json`)).json()) as {
    paths: Record<string, Record<string, unknown>>
  }
  const documented = Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.keys(ops)
      .filter((m) => ['get', 'post', 'put', 'delete', 'patch'].includes(m))
      .map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
  )
  const api = documented.filter((r) => r.includes('/api/v1/')).sort()
  assert.deepEqual(api, ROUTES.map(([m, path]) => `${m} ${path}`).sort())
})

test('each role × each route: 401 without a credential, 403 below the role, through otherwise', async () => {
  const failures: string[] = []
  for (const [method, path, need] of ROUTES) {
    for (const role of ROLES) {
      const url = path
        .replace(':id', role === 'agent' && path.includes('/agent/hosts/') ? agentHostId : 'nope')
        .replace(':host', 'nope')
        .replace(':phase', 'pre')
      const ctrl = new AbortController()
      const res = await fetch(`${p.url}${url}`, {
        method,
        signal: ctrl.signal,
        headers: {
          ...(tokens[role] ? { authorization: `Bearer ${tokens[role]}` } : {}),
          ...(method === 'PUT'
            ? { 'content-type': 'application/octet-stream' }
            : { 'content-type': 'application/json' }),
        },
        body:
          method === 'GET' || method === 'DELETE' ? undefined : method === 'PUT' ? new Uint8Array(1) : '{}',
      })
      ctrl.abort() // the event stream never ends by itself
      const expected = allowed(role, need) ? 'through' : role === 'none' ? 401 : 403
      const ok = expected === 'through' ? res.status !== 401 && res.status !== 403 : res.status === expected
      if (!ok) failures.push(`${role} ${method} ${path}: ${res.status}, expected ${expected}`)
    }
  }
  assert.deepEqual(failures, [])
})
