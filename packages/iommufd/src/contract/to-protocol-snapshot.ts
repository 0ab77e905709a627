import { PROT, type Snapshot, SnapshotBuilder } from '@hitless/protocol'
import type { BackendSnapshot } from './snapshot.js'

/** Options of one snapshot in the shared format. */
export interface SnapshotOptions {
  phase?: 'pre' | 'post'
  host?: string
  /** Default: now. Fix it to compare two snapshots of an unchanged state byte for byte. */
  takenAt?: string
  /** DMA accesses the host counted (continuity evidence), when the backend can count them. */
  accessCounter?: number
}

const prot = (read: boolean, write: boolean) => (read ? PROT.READ : 0) | (write ? PROT.WRITE : 0)

/** Field-name prefixes as the specification spells the structures (STE.CONFIG, CD.ASID, CE.DID, PE.PGTT). */
const PREFIX: Record<string, string> = { ste: 'STE', cd: 'CD', context: 'CE', pasid: 'PE' }

/**
 * A backend's state in the one shared snapshot format (@hitless/protocol SnapshotBuilder): IOAS
 * areas, the per-IOVA leaf view of every HWPT with PA and (file token, offset) where observable,
 * attachments, hardware configuration entries (fields prefixed `STE.`, `CD.`, `CE.`, `PE.`, table
 * pointers listed as pointerFields), fault state, kernel version and boot ID, capabilities.
 */
export function toProtocolSnapshot(s: BackendSnapshot, o: SnapshotOptions = {}): Snapshot {
  const b = new SnapshotBuilder({
    phase: o.phase ?? 'pre',
    backend: s.backend,
    hardware: s.hardware,
    ...(o.host !== undefined ? { host: o.host } : {}),
    ...(o.takenAt !== undefined ? { takenAt: o.takenAt } : {}),
    kernel: s.kernel,
    capabilities: s.capabilities,
  })
  for (const io of s.ioas) {
    const w = b.ioas(io.key, io.id)
    for (const a of io.areas)
      w.area({
        iova: a.iova,
        length: a.length,
        prot: prot(a.read, a.write),
        ...(a.file !== null ? { file: a.file, offset: a.offset } : {}),
      })
  }
  for (const h of s.hwpts) {
    const w = b.hwpt(h.key, h.ioas, h.id)
    for (const l of h.leaves ?? [])
      w.leaf(l.iova, l.size, prot(l.read, l.write), l.pa, l.file ?? undefined, l.file ? l.offset : undefined)
  }
  for (const a of s.attachments) b.attach(a.device, a.hwpt)
  for (const c of s.config) {
    const p = PREFIX[c.kind] ?? c.kind.toUpperCase()
    const device = c.key.split('/')[0]
    const hwpt = s.attachments.find((a) => a.device === device)?.hwpt
    const fields: Record<string, string | number | boolean> = {}
    for (const [k, v] of Object.entries(c.fields)) fields[`${p}.${k}`] = v
    b.config({
      kind: c.kind,
      key: c.key,
      fields,
      pointerFields: c.pointerFields.map((f) => `${p}.${f}`),
      ...(hwpt ? { hwpt } : {}),
      raw: c.raw.slice(0, 1024),
    })
  }
  b.faults({
    ...(s.hardwareFaults ? { hardware: s.hardwareFaults } : {}),
    ...(s.capabilities.groundTruthFaults ? { groundTruth: s.faults.groundTruth } : {}),
    kernel: s.faults,
  })
  if (o.accessCounter !== undefined) b.dma({ accessCounter: o.accessCounter })
  return b.build()
}
