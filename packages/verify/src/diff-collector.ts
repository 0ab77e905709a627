import { PAGE_SHIFT } from '@hitless/protocol'

/** Every kind of difference the verifier reports; a reason names the kind first. */
export const DIFF_KINDS = [
  'ioas.missing',
  'ioas.extra',
  'area.missing',
  'area.extra',
  'area.changed',
  'hwpt.missing',
  'hwpt.extra',
  'hwpt.changed',
  'leaf.missing',
  'leaf.extra',
  'leaf.pa',
  'leaf.backing',
  'leaf.prot',
  'leaf.size',
  'attachment.missing',
  'attachment.extra',
  'attachment.moved',
  'config.missing',
  'config.extra',
  'config.changed',
  'kernel.version',
  'boot.unchanged',
  'blackout.slo',
] as const
export type DiffKind = (typeof DIFF_KINDS)[number]

export type DiffEntry = Record<string, unknown>

export interface DiffKindSummary {
  /** Differences of this kind; contiguous IOVA ranges of one kind count once. */
  total: number
  /** Bytes of IOVA space they cover (range kinds only), as a decimal string (may pass 2^53). */
  bytes?: string
  /** The first `limit` differences, in IOVA order within each table. */
  first: DiffEntry[]
}

/** The bounded, precise diff stored with a verdict. */
export interface BoundedDiff {
  limit: number
  kinds: Partial<Record<DiffKind, DiffKindSummary>>
}

/** Hex byte address of a 4 KiB page number (exact beyond 2^53). */
export function pageHex(pfn: number): string {
  return `0x${(BigInt(pfn) << BigInt(PAGE_SHIFT)).toString(16)}`
}

/**
 * Collects differences: every one is counted, the first `limit` of each kind are kept. Range
 * differences that continue the previous one of the same kind and table extend it instead of
 * counting again, so a 2 MiB leaf split into 512 pages is one leaf-size difference, not 512.
 */
export class DiffCollector {
  private readonly kinds = new Map<DiffKind, { total: number; pages: number; first: DiffEntry[] }>()
  private readonly last = new Map<
    DiffKind,
    { table: string; end: number; entry?: DiffEntry; start: number }
  >()

  constructor(readonly limit = 20) {}

  private slot(kind: DiffKind) {
    let s = this.kinds.get(kind)
    if (!s) {
      s = { total: 0, pages: 0, first: [] }
      this.kinds.set(kind, s)
    }
    return s
  }

  /** A difference that is not an IOVA range (attachments, entries, kernel...). */
  add(kind: DiffKind, entry: DiffEntry): void {
    const s = this.slot(kind)
    s.total++
    if (s.first.length < this.limit) s.first.push(entry)
  }

  /** A difference over IOVA pages [start, end) of `table`; `describe` runs only if it is kept. */
  range(kind: DiffKind, table: string, start: number, end: number, describe: () => DiffEntry): void {
    const s = this.slot(kind)
    s.pages += end - start
    const l = this.last.get(kind)
    if (l && l.table === table && l.end === start) {
      l.end = end
      if (l.entry) l.entry.length = pageHex(end - l.start)
      return
    }
    s.total++
    let entry: DiffEntry | undefined
    if (s.first.length < this.limit) {
      entry = { table, iova: pageHex(start), length: pageHex(end - start), ...describe() }
      s.first.push(entry)
    }
    this.last.set(kind, { table, start, end, entry })
  }

  count(kind?: DiffKind): number {
    if (kind) return this.kinds.get(kind)?.total ?? 0
    let n = 0
    for (const s of this.kinds.values()) n += s.total
    return n
  }

  kindsFound(): DiffKind[] {
    return DIFF_KINDS.filter((k) => this.kinds.has(k))
  }

  toJSON(): BoundedDiff {
    const kinds: BoundedDiff['kinds'] = {}
    for (const k of this.kindsFound()) {
      const s = this.kinds.get(k)!
      kinds[k] = {
        total: s.total,
        ...(s.pages ? { bytes: (BigInt(s.pages) << BigInt(PAGE_SHIFT)).toString() } : {}),
        first: s.first,
      }
    }
    return { limit: this.limit, kinds }
  }
}
