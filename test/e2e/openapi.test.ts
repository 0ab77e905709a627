// The OpenAPI description served at /docs/json: complete with examples (every named component
// shows one), and the events route described as the text/event-stream it is.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startPlatform, type TestPlatform } from '../support/platform.js'

let p: TestPlatform
before(async () => {
  p = await startPlatform({ startLoop: false })
})
after(async () => p?.close())

interface OpenApi {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>
  components: { schemas: Record<string, { examples?: unknown[] }> }
}

test('every component schema of the served description has an example', async () => {
  const doc = (await (await fetch(`${p.url}/docs/json`)).json()) as OpenApi
  const names = Object.keys(doc.components.schemas)
  for (const n of [
    'Host',
    'Kernel',
    'Rollout',
    'RolloutDryRun',
    'HostUpdate',
    'ErrorBody',
    'TokenInfo',
    'AuditEntry',
  ])
    assert.ok(names.includes(n), `${n} in ${names.join(', ')}`)
  const without = names.filter((n) => !doc.components.schemas[n].examples?.length)
  assert.deepEqual(without, [])
})

test('GET /api/v1/events is described as text/event-stream, with an example', async () => {
  const doc = (await (await fetch(`${p.url}/docs/json`)).json()) as OpenApi
  const ok = doc.paths['/api/v1/events'].get.responses['200']
  assert.deepEqual(Object.keys(ok.content ?? {}), ['text/event-stream'])
  assert.match(JSON.stringify(ok.content), /event: update/)
})
