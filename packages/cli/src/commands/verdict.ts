import { HitlessError, type VerdictBody } from '@hitless/protocol'
import type { CommandContext } from '../command.js'
import { usage } from '../cli-error.js'

type DiffKind = { total: number; bytes?: string; first: Record<string, unknown>[] }

const show = (v: unknown) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v))

/** One difference: its place, then each field that changed as `field: before → after`. */
function entryLine(e: Record<string, unknown>): string {
  const place = ['table', 'iova', 'length'].filter((k) => e[k] !== undefined).map((k) => `${k}=${show(e[k])}`)
  const others = Object.keys(e).filter((k) => !['table', 'iova', 'length', 'pre', 'post'].includes(k))
  place.push(...others.map((k) => `${k}=${show(e[k])}`))
  const pre = e.pre as Record<string, unknown> | undefined
  const post = e.post as Record<string, unknown> | undefined
  let change = ''
  if (pre && post && typeof pre === 'object' && typeof post === 'object') {
    const keys = [...new Set([...Object.keys(pre), ...Object.keys(post)])]
    change = keys
      .filter((k) => show(pre[k]) !== show(post[k]))
      .map((k) => `${k}: ${show(pre[k])} → ${show(post[k])}`)
      .join('; ')
  } else if (pre !== undefined || post !== undefined) {
    change = `${show(pre)} → ${show(post)}`
  }
  return `    ${place.join(' ')}${change ? `  ${change}` : ''}`
}

/**
 * `hitless verdict UPDATE_ID`: the verdict, its reasons, DMA fault counts and the diff the
 * verifier found. Exits 0 when the update was hitless, 9 otherwise (the exit-code table).
 */
export async function verdictCommand(c: CommandContext): Promise<void> {
  const [id] = c.args
  if (!id) throw usage('verdict: missing update id (see hitless rollout get ID)')
  const v = await c.api().request<VerdictBody>('GET', `/updates/${encodeURIComponent(id)}/verdict`)
  if (c.output === 'json') process.stdout.write(`${JSON.stringify(v, null, 2)}\n`)
  else {
    const out: string[] = [`verdict   ${v.verdict}`, `judged    ${v.createdAt}`]
    if (v.faults)
      out.push(
        `faults    ground truth ${v.faults.groundTruth}, recorded ${v.faults.recorded}, lost ${v.faults.lost}`,
      )
    out.push('reasons')
    for (const r of v.reasons) out.push(`  - ${r}`)
    const kinds = Object.entries(((v.diff ?? {}) as { kinds?: Record<string, DiffKind> }).kinds ?? {})
    out.push(kinds.length ? 'diff' : 'diff      none: the state after the kexec equals the state before')
    for (const [kind, k] of kinds) {
      out.push(`  ${kind}: ${k.total}${k.bytes ? ` (${k.bytes} bytes of IOVA)` : ''}`)
      for (const e of k.first) out.push(entryLine(e))
      if (k.total > k.first.length) out.push(`    … ${k.total - k.first.length} more`)
    }
    process.stdout.write(`${out.join('\n')}\n`)
  }
  if (v.verdict !== 'hitless')
    throw new HitlessError('HITLESS_E_NOT_HITLESS', `update ${id} was not hitless: ${v.verdict}`)
}
