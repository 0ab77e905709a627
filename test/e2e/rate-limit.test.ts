// The API's global rate limit: per credential, a 429 with a stable code past the limit, and
// another credential unaffected.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { api, startPlatform, type TestPlatform } from '../support/platform.js'

let p: TestPlatform
before(async () => {
  p = await startPlatform({ startLoop: false, env: { HITLESS_RATE_LIMIT: '5' } })
})
after(async () => p?.close())

test('past HITLESS_RATE_LIMIT requests a minute a credential gets 429 HITLESS_E_RATE_LIMITED; another does not', async () => {
  const statuses: number[] = []
  for (let i = 0; i < 7; i++) statuses.push((await api(p, p.adminToken, 'GET', '/api/v1/hosts')).status)
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429])
  const limited = await api<{ code: string; message: string }>(p, p.adminToken, 'GET', '/api/v1/hosts')
  assert.equal(limited.body.code, 'HITLESS_E_RATE_LIMITED')
  const viewer = await api<{ token: string }>(p, p.adminToken, 'POST', '/api/v1/tokens', {
    name: 'other',
    role: 'viewer',
  })
  assert.equal(viewer.status, 429, 'the admin is still limited, whatever the route')
  // A second credential, made directly: its own budget.
  const { token } = await p.controller.ctx.tokens.issue('other', 'viewer')
  assert.equal((await api(p, token, 'GET', '/api/v1/hosts')).status, 200)
})
