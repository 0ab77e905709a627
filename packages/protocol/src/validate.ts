import { Compile } from 'typebox/compile'
import type { Static, TSchema } from 'typebox'
import { HitlessError } from './errors/hitless-error.js'

const compiled = new WeakMap<TSchema, ReturnType<typeof Compile>>()

/**
 * Validates `value` against a protocol schema (queue payloads, files read from disk), throwing
 * HITLESS_E_VALIDATION naming the first failing path. HTTP bodies are validated by fastify from
 * the same schemas.
 */
export function parseWith<T extends TSchema>(schema: T, value: unknown, what = 'value'): Static<T> {
  let c = compiled.get(schema)
  if (!c) {
    c = Compile(schema)
    compiled.set(schema, c)
  }
  if (c.Check(value)) return value as Static<T>
  const first = [...c.Errors(value)][0]
  const path = first ? (first as { instancePath?: string }).instancePath || '/' : '/'
  throw new HitlessError('HITLESS_E_VALIDATION', `${what}${path} ${first?.message ?? 'is invalid'}`, { path })
}
