// The handover blob the real backend carries across a kexec: a record of one IOAS (its mappings of
// memfds, its IOVA ranges, its device) and of the memfds behind it, JSON in a LUO-preserved memfd.
//
// This is the real lane's own format. No kernel preserves iommufd state today (LUO refuses to
// preserve an iommufd), so what crosses the kexec is the *record*, and the new kernel rebuilds the
// IOAS from it (replay) and checks the result (verify). packages/live-update defines the emulated
// handover; the two are not unified yet (docs/real-kernel-lane.md, "Missing").

export const REAL_HANDOVER_FORMAT = 'hitless-real-handover/v1'

/** One IOMMU_IOAS_MAP_FILE to replay. */
export interface HandoverMapping {
  iova: number
  length: number
  prot: 'rw' | 'r' | 'w'
  /** The backing memfd's token. */
  file: string
  /** Byte offset in the memfd. */
  offset: number
}

/** A memfd preserved by LUO next to the blob. */
export interface HandoverMemfd {
  /** Stable name (snapshots refer to it). */
  token: string
  /** Its LUO token in the session. */
  luoToken: number
  size: number
  /** FNV-1a of the contents when recorded. */
  fnv1a: string
  /** Physical frame of the first page (/proc/self/pagemap): KHO keeps memfd pages in place. */
  pfn0: string
}

export interface RealHandover {
  format: typeof REAL_HANDOVER_FORMAT
  /** The recording kernel: release and boot ID. */
  kernel: { version: string; bootId: string }
  ioas: {
    /** Snapshot keys, the same on both sides of the kexec. */
    key: string
    hwptKey: string
    /** The device attached to it (a name of the backend's device port). */
    device: string
    /** IOMMU_IOAS_IOVA_RANGES with the device attached. */
    iovaRanges: { alignment: number; ranges: string }
    mappings: HandoverMapping[]
  }
  memfds: HandoverMemfd[]
}

export function encodeHandover(h: RealHandover): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(h))
}

/** Parses and checks a blob; throws with what is wrong (never half-trusts a blob). */
export function decodeHandover(bytes: Uint8Array): RealHandover {
  let h: RealHandover
  try {
    h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as RealHandover
  } catch (e) {
    throw new Error(`handover blob is not UTF-8 JSON: ${(e as Error).message}`)
  }
  if (h?.format !== REAL_HANDOVER_FORMAT)
    throw new Error(`handover blob format ${JSON.stringify(h?.format)}, expected ${REAL_HANDOVER_FORMAT}`)
  const tokens = new Set(h.memfds.map((m) => m.token))
  for (const m of h.ioas.mappings) {
    if (!tokens.has(m.file))
      throw new Error(`handover mapping at 0x${m.iova.toString(16)} names no preserved memfd (${m.file})`)
    const f = h.memfds.find((x) => x.token === m.file)!
    if (m.offset + m.length > f.size)
      throw new Error(`handover mapping at 0x${m.iova.toString(16)} runs past the end of ${m.file}`)
  }
  return h
}
