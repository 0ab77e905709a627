import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { TSchema } from 'typebox'
import { parseWith } from '../validate.js'
import * as api from './index.js'

// The schemas with an $id are the OpenAPI description's named components: each shows an example,
// and an example that does not validate against its own schema would mislead whoever copies it.
type Named = TSchema & { $id: string; examples?: unknown[] }
const named = (Object.entries(api) as [string, unknown][]).filter(
  (e): e is [string, Named] =>
    typeof e[1] === 'object' && e[1] !== null && typeof (e[1] as { $id?: unknown }).$id === 'string',
)

test('every named API schema has an example', () => {
  assert.ok(named.length >= 12, named.map(([k]) => k).join(', '))
  const without = named.filter(([, s]) => !s.examples?.length).map(([, s]) => s.$id)
  assert.deepEqual(without, [])
})

test('every example validates against its schema', () => {
  for (const [, s] of named)
    for (const [i, ex] of (s.examples ?? []).entries()) parseWith(s, ex, `${s.$id} example ${i}`)
})

test('request bodies with examples validate too', () => {
  const body = api.CreateRolloutBodySchema as unknown as TSchema & { examples: unknown[] }
  assert.ok(body.examples.length >= 2)
  for (const ex of body.examples) parseWith(body, ex, 'CreateRolloutBody example')
})
