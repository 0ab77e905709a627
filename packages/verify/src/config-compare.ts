import type { ConfigEntry } from '@hitless/protocol'
import type { DiffCollector } from './diff-collector.js'

const keyOf = (c: ConfigEntry) => `${c.kind}:${c.key}`

/**
 * Hardware configuration entries (STE/CD, context/PASID entries) field by field. Pointer fields
 * (table addresses) are not compared: fresh tables move them legitimately, and what they lead to
 * is compared through the leaf view; which HWPT an entry resolves to is compared.
 */
export function compareConfigEntries(pre: ConfigEntry[], post: ConfigEntry[], diff: DiffCollector): void {
  const after = new Map(post.map((c) => [keyOf(c), c]))
  for (const a of pre) {
    const k = keyOf(a)
    const b = after.get(k)
    after.delete(k)
    if (!b) {
      diff.add('config.missing', { entry: k, pre: a.fields })
      continue
    }
    const pointers = new Set([...(a.pointerFields ?? []), ...(b.pointerFields ?? [])])
    const fields: { field: string; pre: unknown; post: unknown }[] = []
    for (const f of new Set([...Object.keys(a.fields), ...Object.keys(b.fields)])) {
      if (pointers.has(f)) continue
      if (a.fields[f] !== b.fields[f])
        fields.push({ field: f, pre: a.fields[f] ?? null, post: b.fields[f] ?? null })
    }
    if ((a.hwpt ?? null) !== (b.hwpt ?? null))
      fields.push({ field: 'hwpt', pre: a.hwpt ?? null, post: b.hwpt ?? null })
    if (fields.length) diff.add('config.changed', { entry: k, fields })
  }
  for (const [k, b] of after) diff.add('config.extra', { entry: k, post: b.fields })
}
