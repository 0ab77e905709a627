import type { AreaTable, LeafTable } from './snapshot.js'
import { snapshotError } from './snapshot-error.js'
import { NO_FILE, PAGE_SHIFT } from './snapshot-format.js'
import type { SnapshotHeader } from './snapshot-header.js'

// Structural rules of a snapshot, checked by the decoder (a failure is `inconsistent`) and by
// SnapshotBuilder.build (so a backend learns of a bad walk where it happens, not at the verifier).

function unique(what: string, keys: string[]): Set<string> {
  const set = new Set<string>()
  for (const k of keys) {
    if (set.has(k)) throw snapshotError('inconsistent', `${what} ${k} appears twice`)
    set.add(k)
  }
  return set
}

export function checkReferences(h: SnapshotHeader): void {
  const ioas = unique(
    'IOAS',
    h.ioas.map((i) => i.key),
  )
  const hwpts = unique(
    'HWPT',
    h.hwpts.map((x) => x.key),
  )
  unique(
    'attachment',
    h.attachments.map((a) => `${a.device}#${a.pasid ?? '-'}`),
  )
  unique(
    'config entry',
    h.config.map((c) => `${c.kind}:${c.key}`),
  )
  for (const x of h.hwpts) {
    if (!ioas.has(x.ioas)) throw snapshotError('inconsistent', `HWPT ${x.key} maps unknown IOAS ${x.ioas}`)
  }
  for (const a of h.attachments) {
    if (!hwpts.has(a.hwpt))
      throw snapshotError('inconsistent', `device ${a.device} is attached to unknown HWPT ${a.hwpt}`)
  }
  for (const c of h.config) {
    if (c.hwpt !== undefined && !hwpts.has(c.hwpt)) {
      throw snapshotError('inconsistent', `${c.kind} ${c.key} refers to unknown HWPT ${c.hwpt}`)
    }
  }
  for (let i = 1; i < h.files.length; i++) {
    if (!(h.files[i - 1] < h.files[i]))
      throw snapshotError('inconsistent', 'file tokens are not sorted and unique')
  }
}

const MAX_PFN = 2 ** (64 - PAGE_SHIFT)

function checkFile(what: string, i: number, file: number, files: number): void {
  if (file !== NO_FILE && file >= files)
    throw snapshotError('inconsistent', `${what} row ${i}: file index ${file} of ${files}`)
}

export function checkAreas(key: string, a: AreaTable, files: number): void {
  let prevEnd = -1
  for (let i = 0; i < a.count; i++) {
    const start = a.iova[i]
    const end = start + a.pages[i]
    if (!(start >= prevEnd) || !(a.pages[i] >= 1) || !(end <= MAX_PFN) || !Number.isInteger(end)) {
      throw snapshotError('inconsistent', `IOAS ${key} area ${i} is unsorted, overlapping or out of range`)
    }
    checkFile(`IOAS ${key}`, i, a.file[i], files)
    prevEnd = end
  }
}

export function checkLeaves(key: string, t: LeafTable, files: number): void {
  let prevEnd = -1
  const { iova, sizeLog2 } = t
  for (let i = 0; i < t.count; i++) {
    const s = sizeLog2[i]
    const pages = LEAF_PAGES[s]
    if (pages === 0) throw snapshotError('inconsistent', `HWPT ${key} leaf ${i}: size 2^${s}`)
    const start = iova[i]
    if (!(start >= prevEnd) || (pages > 1 && start % pages !== 0) || !(start + pages <= MAX_PFN)) {
      throw snapshotError(
        'inconsistent',
        `HWPT ${key} leaf ${i} is unsorted, overlapping, misaligned or out of range`,
      )
    }
    prevEnd = start + pages
  }
  if (t.file) for (let i = 0; i < t.count; i++) checkFile(`HWPT ${key}`, i, t.file[i], files)
}

/** Pages of a leaf by log2 of its size; 0 for sizes a leaf cannot have (below 4 KiB, above 2^63). */
const LEAF_PAGES = Float64Array.from({ length: 256 }, (_, s) =>
  s >= PAGE_SHIFT && s <= 63 ? 2 ** (s - PAGE_SHIFT) : 0,
)
