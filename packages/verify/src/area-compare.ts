import type { AreaTable } from '@hitless/protocol'
import type { DiffCollector } from './diff-collector.js'
import { pageHex } from './diff-collector.js'
import { fileName, postToPreFiles } from './file-tokens.js'
import { protNames } from './leaf-compare.js'
import { sweepRanges } from './range-sweep.js'

/** Areas with adjacent, continuously backed, equally permitted neighbours merged into one interval. */
export interface MergedAreas {
  count: number
  start: Float64Array
  pages: Float64Array
  file: Uint32Array
  offset: Float64Array
  prot: Uint8Array
}

/**
 * Interval merge: how userspace split its IOAS_MAP calls is not state the device sees, so
 * [0, 4M) and [4M, 8M) backed by consecutive offsets of one file equal one [0, 8M) area.
 */
export function mergeAreas(t: AreaTable): MergedAreas {
  const m: MergedAreas = {
    count: 0,
    start: new Float64Array(t.count),
    pages: new Float64Array(t.count),
    file: new Uint32Array(t.count),
    offset: new Float64Array(t.count),
    prot: new Uint8Array(t.count),
  }
  for (let i = 0; i < t.count; i++) {
    const n = m.count
    if (
      n > 0 &&
      m.start[n - 1] + m.pages[n - 1] === t.iova[i] &&
      m.file[n - 1] === t.file[i] &&
      m.offset[n - 1] + m.pages[n - 1] === t.offset[i] &&
      m.prot[n - 1] === t.prot[i]
    ) {
      m.pages[n - 1] += t.pages[i]
      continue
    }
    m.start[n] = t.iova[i]
    m.pages[n] = t.pages[i]
    m.file[n] = t.file[i]
    m.offset[n] = t.offset[i]
    m.prot[n] = t.prot[i]
    m.count++
  }
  return m
}

/** Compares one IOAS's areas by IOVA interval: missing, extra and changed ranges, never per page. */
export function compareAreas(
  key: string,
  pre: AreaTable,
  post: AreaTable,
  files: { pre: readonly string[]; post: readonly string[] },
  diff: DiffCollector,
): void {
  const a = mergeAreas(pre)
  const b = mergeAreas(post)
  const mapFile = postToPreFiles(files.pre, files.post)
  const desc = (m: MergedAreas, fs: readonly string[], i: number) => ({
    area: pageHex(m.start[i]),
    length: pageHex(m.pages[i]),
    prot: protNames(m.prot[i]),
    file: fileName(fs, m.file[i]),
    offset: pageHex(m.offset[i]),
  })
  sweepRanges(
    { count: a.count, start: a.start, span: (i) => a.pages[i] },
    { count: b.count, start: b.start, span: (i) => b.pages[i] },
    Number.NEGATIVE_INFINITY,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    (ia, ib, from, to) => {
      if (ib < 0) return diff.range('area.missing', key, from, to, () => ({ pre: desc(a, files.pre, ia) }))
      if (ia < 0) return diff.range('area.extra', key, from, to, () => ({ post: desc(b, files.post, ib) }))
      if (
        a.file[ia] !== mapFile(b.file[ib]) ||
        a.offset[ia] + (from - a.start[ia]) !== b.offset[ib] + (from - b.start[ib]) ||
        a.prot[ia] !== b.prot[ib]
      ) {
        diff.range('area.changed', key, from, to, () => ({
          pre: desc(a, files.pre, ia),
          post: desc(b, files.post, ib),
        }))
      }
    },
  )
}
