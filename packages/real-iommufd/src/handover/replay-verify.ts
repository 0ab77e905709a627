// Record an IOAS before a kexec, replay it after, and verify the replay twice: against the record
// (what the kernel answered equals what was recorded: IOVAs, IOVA ranges, memfd sizes, contents
// and frames) and with the MD_CHECK_MAP oracle (the mock "hardware" domain maps every recorded
// IOVA to the preserved page, and nothing just past each mapping that has a gap after it).
import { errnoOf } from '@hitless/iommufd/errno'
import type { HelperTransport } from '../helper-transport.js'

import type { RealIommufdBackend } from '../real-iommufd-backend.js'
import { REAL_HANDOVER_FORMAT, type HandoverMemfd, type RealHandover } from './real-handover.js'

/** A fault injected into the replay, to show that verification and verdict catch it. */
export type ReplayFault = 'drop-mapping'

const protOf = (read: boolean, write: boolean): 'rw' | 'r' | 'w' => (read && write ? 'rw' : read ? 'r' : 'w')
const protection = (p: 'rw' | 'r' | 'w') => ({ read: p.includes('r'), write: p.includes('w') })

async function describeMemfd(helper: HelperTransport, uptr: number, size: number) {
  const h = await helper.call('mem_hash', uptr, size)
  const pfn = await helper.call('pfn', uptr)
  return { fnv1a: h.values.fnv1a, pfn0: pfn.values.pfn }
}

/**
 * The record of one IOAS of `backend` (areas as the backend recorded them from the kernel's
 * answers), its device, and the memfds behind it. Every area must be backed by a memfd (anonymous
 * memory cannot cross a kexec). LUO tokens are given in memfd token order from 1.
 */
export async function recordHandover(
  backend: RealIommufdBackend,
  helper: HelperTransport,
  o: { ioasId: number; hwptId: number },
): Promise<{ handover: RealHandover; memfds: { fd: number; luoToken: number }[] }> {
  const state = await backend.state()
  const io = state.ioas.find((x) => x.id === o.ioasId)
  const hw = state.hwpts.find((x) => x.id === o.hwptId)
  if (!io || !hw) throw new Error(`record: IOAS ${o.ioasId} or HWPT ${o.hwptId} unknown to the backend`)
  const attached = state.attachments.find((a) => a.hwpt === hw.key)
  if (!attached) throw new Error(`record: no device is attached to HWPT ${hw.key}`)
  const known = backend.memfdList()
  const tokens = [...new Set(io.areas.map((a) => a.file))]
  if (tokens.includes(null)) throw new Error('record: anonymous memory cannot be carried across a kexec')
  const memfds: HandoverMemfd[] = []
  const fds: { fd: number; luoToken: number }[] = []
  for (const [i, token] of (tokens as string[]).sort().entries()) {
    const m = known.find((x) => x.token === token)
    if (!m) throw new Error(`record: memfd ${token} is not open`)
    memfds.push({ token, luoToken: i + 1, size: m.size, ...(await describeMemfd(helper, m.uptr, m.size)) })
    fds.push({ fd: m.fd, luoToken: i + 1 })
  }
  const ranges = await backend.ioasIovaRanges(o.ioasId)
  return {
    handover: {
      format: REAL_HANDOVER_FORMAT,
      kernel: await backend.kernel(),
      ioas: {
        key: io.key,
        hwptKey: hw.key,
        device: attached.device,
        iovaRanges: { alignment: ranges.alignment, ranges: io.ranges },
        mappings: io.areas.map((a) => ({
          iova: a.iova,
          length: a.length,
          prot: protOf(a.read, a.write),
          file: a.file!,
          offset: a.offset,
        })),
      },
      memfds,
    },
    memfds: fds,
  }
}

export interface ReplayReport {
  ioasId: number
  hwptId: number
  /** Mappings replayed (all of them, unless a fault was injected). */
  replayed: number
  /** Where the replayed state differs from the record (empty: equal). */
  againstRecord: string[]
  /** Where the oracle disagrees with the record (empty: the mock domain maps exactly the record). */
  oracle: string[]
  ms: number
}

/**
 * Rebuilds the recorded IOAS in `backend` (a fresh context in the new kernel) from memfds LUO gave
 * back (`fds`: LUO token → fd), labels it with the recorded keys, and verifies it. `inject`
 * breaks the replay on purpose: `drop-mapping` leaves out the last recorded mapping.
 */
export async function replayAndVerify(
  backend: RealIommufdBackend,
  helper: HelperTransport,
  h: RealHandover,
  fds: Map<number, number>,
  opts: { inject?: ReplayFault } = {},
): Promise<ReplayReport> {
  const started = Date.now()
  const againstRecord: string[] = []
  const oracle: string[] = []
  const byToken = new Map<string, { fd: number; uptr: number }>()
  for (const m of h.memfds) {
    const fd = fds.get(m.luoToken)
    if (fd === undefined)
      throw new Error(`replay: LUO gave back no file for ${m.token} (token ${m.luoToken})`)
    const { uptr, size } = await backend.adoptMemfd(fd, m.token)
    byToken.set(m.token, { fd, uptr })
    const now = { size, ...(await describeMemfd(helper, uptr, size)) }
    for (const k of ['size', 'fnv1a', 'pfn0'] as const)
      if (now[k] !== m[k]) againstRecord.push(`memfd ${m.token}: ${k} ${m[k]} recorded, ${now[k]} now`)
  }

  const ioasId = await backend.ioasAlloc()
  backend.label(ioasId, h.ioas.key)
  const devId = await backend.deviceBind(h.ioas.device)
  const hwptId = await backend.deviceAttach(devId, ioasId)
  backend.label(hwptId, h.ioas.hwptKey)
  const plan = opts.inject === 'drop-mapping' ? h.ioas.mappings.slice(0, -1) : h.ioas.mappings
  for (const m of plan) {
    const f = byToken.get(m.file)!
    const r = await backend.ioasMapFile(ioasId, {
      fd: f.fd,
      start: m.offset,
      length: m.length,
      iova: m.iova,
      prot: protection(m.prot),
    })
    if (r.iova !== m.iova)
      againstRecord.push(`mapping 0x${m.iova.toString(16)}: the kernel placed it at 0x${r.iova.toString(16)}`)
  }

  // Against the record: the IOAS as the kernel now reports it.
  const state = await backend.state()
  const io = state.ioas.find((x) => x.id === ioasId)!
  if (io.ranges !== h.ioas.iovaRanges.ranges || io.alignment !== h.ioas.iovaRanges.alignment)
    againstRecord.push(
      `IOVA ranges ${io.ranges} (alignment 0x${io.alignment.toString(16)}) now, ${h.ioas.iovaRanges.ranges} recorded`,
    )
  const key = (m: { iova: number; length: number; prot: string; file: string | null; offset: number }) =>
    `0x${m.iova.toString(16)}+0x${m.length.toString(16)} ${m.prot} ${m.file}@0x${m.offset.toString(16)}`
  const now = new Set(io.areas.map((a) => key({ ...a, prot: protOf(a.read, a.write) })))
  const then = new Set(h.ioas.mappings.map(key))
  for (const k of then) if (!now.has(k)) againstRecord.push(`mapping ${k} recorded, missing now`)
  for (const k of now) if (!then.has(k)) againstRecord.push(`mapping ${k} now, never recorded`)

  // With the oracle: every recorded mapping is in the mock domain, the page after each gap is not.
  const sorted = [...h.ioas.mappings].sort((a, b) => a.iova - b.iova)
  for (const m of sorted) {
    const f = byToken.get(m.file)!
    try {
      await backend.checkMap(hwptId, m.iova, m.length, f.uptr + m.offset)
    } catch (e) {
      oracle.push(`MD_CHECK_MAP 0x${m.iova.toString(16)}+0x${m.length.toString(16)}: ${(e as Error).message}`)
    }
    const gap = m.iova + m.length
    if (sorted.some((o) => o.iova <= gap && gap < o.iova + o.length)) continue
    // EINVAL: nothing mapped there, as recorded; anything else is not an answer about the gap.
    const errno = await errnoOf(backend.checkMap(hwptId, gap, h.ioas.iovaRanges.alignment, f.uptr))
    if (errno !== 'EINVAL')
      oracle.push(`MD_CHECK_MAP 0x${gap.toString(16)}: ${errno ?? 'mapped'}, but the record has a gap there`)
  }
  return { ioasId, hwptId, replayed: plan.length, againstRecord, oracle, ms: Date.now() - started }
}
