import { handoverRefused } from './handover-error.js'
import type { AreaColumns, FrameRuns, HandoverState } from './handover-format.js'

const PAGE = 4096

/** True when frame `pfn` lies in one of the runs (runs sorted by start, as PRESERVED is written). */
function inRuns(r: FrameRuns, pfn: number): boolean {
  let lo = 0
  let hi = r.n - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (r.start[mid] > pfn) hi = mid - 1
    else if (r.start[mid] + r.count[mid] <= pfn) lo = mid + 1
    else return true
  }
  return false
}

/** x % PAGE === 0, without a floating-point remainder (the same answer for every double, NaN and ±Infinity included). */
function wholePages(x: number): boolean {
  return x - Math.floor(x / PAGE) * PAGE === 0
}

function checkAreas(where: string, a: AreaColumns, files: { size: number }[]): void {
  const iovas = a.iova
  const lengths = a.length
  const fileIdx = a.file
  const offsets = a.offset
  const prots = a.prot
  const nFiles = files.length
  let prevEnd = -1
  for (let i = 0; i < a.n; i++) {
    const iova = iovas[i]
    const len = lengths[i]
    if (len <= 0 || !wholePages(len) || !wholePages(iova))
      throw handoverRefused('inconsistent', `${where}: area ${i} is not whole pages`)
    if (iova < prevEnd)
      throw handoverRefused('inconsistent', `${where}: area ${i} overlaps or is out of order`)
    prevEnd = iova + len
    const f = fileIdx[i]
    if (f < 0 || f >= nFiles)
      throw handoverRefused('inconsistent', `${where}: area ${i} names memfd ${f}, not in the handover`)
    const off = offsets[i]
    if (off < 0 || off + len > files[f].size)
      throw handoverRefused('inconsistent', `${where}: area ${i} runs past the end of its memfd`)
    const prot = prots[i]
    if ((prot & 3) === 0 || prot > 3)
      throw handoverRefused('inconsistent', `${where}: area ${i} has permissions 0x${prot.toString(16)}`)
  }
}

/**
 * The blob's internal consistency, after the checksum: every reference resolves (HWPT → IOAS,
 * device → HWPT, area → memfd inside its size), ids are unique, areas are sorted and disjoint,
 * every memfd has its pages, every HWPT root is a preserved frame. A blob that passes can still
 * disagree with the tables in memory: that is the strategies' business (replay-verify checks it).
 */
export function checkHandover(s: HandoverState): void {
  const ids = new Set<number>()
  const unique = (id: number, what: string) => {
    if (id <= 0 || ids.has(id)) throw handoverRefused('inconsistent', `${what} id ${id} is repeated or zero`)
    ids.add(id)
  }
  for (let i = 1; i < s.preserved.n; i++)
    if (s.preserved.start[i] < s.preserved.start[i - 1] + s.preserved.count[i - 1])
      throw handoverRefused('inconsistent', 'preserved frame runs overlap or are out of order')
  for (const m of s.memfds) {
    let pages = 0
    const count = m.frames.count
    for (let i = 0; i < m.frames.n; i++) pages += count[i]
    if (m.size % PAGE !== 0 || pages !== m.size / PAGE)
      throw handoverRefused('inconsistent', `memfd ${m.token}: ${pages} pages for ${m.size} bytes`)
  }
  const ioasIds = new Set<number>()
  for (const io of s.ioas) {
    unique(io.id, 'IOAS')
    ioasIds.add(io.id)
    checkAreas(`IOAS ${io.key}`, io.areas, s.memfds)
  }
  const hwptIds = new Set<number>()
  for (const h of s.hwpts) {
    unique(h.id, 'HWPT')
    hwptIds.add(h.id)
    if (!ioasIds.has(h.ioasId))
      throw handoverRefused('inconsistent', `HWPT ${h.key} names IOAS ${h.ioasId}, not in the handover`)
    if (h.root % PAGE !== 0 || !inRuns(s.preserved, h.root / PAGE))
      throw handoverRefused(
        'inconsistent',
        `HWPT ${h.key}: root 0x${h.root.toString(16)} is not a preserved frame`,
      )
  }
  const names = new Set<string>()
  for (const d of s.devices) {
    unique(d.id, 'device')
    if (names.has(d.name)) throw handoverRefused('inconsistent', `device ${d.name} appears twice`)
    names.add(d.name)
    if (d.hwptId !== 0 && !hwptIds.has(d.hwptId))
      throw handoverRefused('inconsistent', `device ${d.name} names HWPT ${d.hwptId}, not in the handover`)
  }
  if (s.userspace) {
    for (const io of s.userspace.ioas) checkAreas(`userspace IOAS ${io.key}`, io.maps, s.memfds)
    const keys = new Set(s.userspace.ioas.map((i) => i.key))
    for (const h of s.userspace.hwpts)
      if (!keys.has(h.ioasKey))
        throw handoverRefused('inconsistent', `userspace HWPT ${h.key} names IOAS ${h.ioasKey}, not recorded`)
  }
}
