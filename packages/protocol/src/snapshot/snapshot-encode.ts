import { crc32 } from 'node:zlib'
import { HitlessError } from '../errors/hitless-error.js'
import { buildLeafMerkle } from './leaf-merkle.js'
import type { Snapshot } from './snapshot.js'
import { AREA_COLUMNS, LEAF_COLUMNS, LITTLE_ENDIAN } from './snapshot-columns.js'
import {
  SNAPSHOT_MAGIC,
  SNAPSHOT_PREFIX_BYTES,
  SNAPSHOT_TRAILER_BYTES,
  SNAPSHOT_VERSION,
} from './snapshot-format.js'
import type { Section } from './snapshot-header.js'

const align8 = (n: number) => (n + 7) & ~7

/**
 * Encodes a snapshot into the binary format (snapshot-format.ts). The Merkle tree of each leaf
 * view is computed here from the columns, never taken from the caller, so a stored tree always
 * matches its leaves. Tables must already be sorted and valid: use SnapshotBuilder.
 */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  if (!LITTLE_ENDIAN) throw new HitlessError('HITLESS_E_INTERNAL', 'snapshots need a little-endian host')
  const chunks: { name: string; data: ArrayBufferView }[] = []
  s.ioas.forEach((io, i) => {
    for (const c of AREA_COLUMNS)
      chunks.push({ name: `ioas/${i}/${c.name}`, data: io.areas[c.name] as ArrayBufferView })
  })
  const caps = s.header.capabilities
  s.hwpts.forEach((hw, i) => {
    for (const c of LEAF_COLUMNS) {
      if (c.needs && !caps[c.needs]) continue
      const data = hw.leaves[c.name] as ArrayBufferView | undefined
      if (!data) throw new HitlessError('HITLESS_E_VALIDATION', `hwpt ${hw.key}: column ${c.name} is missing`)
      chunks.push({ name: `hwpt/${i}/${c.name}`, data })
    }
    buildLeafMerkle(hw.leaves).forEach((lvl, k) => {
      chunks.push({ name: `merkle/${i}/${k}/first`, data: lvl.firstLeaf })
      chunks.push({ name: `merkle/${i}/${k}/hash`, data: lvl.hashes })
    })
  })
  // The header's length depends on the section offsets, which depend on the header's length:
  // lay the sections out after a header long enough to hold the widest offsets, then pad.
  const sections: Section[] = chunks.map((c) => ({ name: c.name, offset: 0, bytes: c.data.byteLength }))
  const encoder = new TextEncoder()
  let headerBytes = encoder.encode(JSON.stringify({ ...s.header, sections }))
  let headerSpace = align8(headerBytes.length + 16 * sections.length + 64)
  for (;;) {
    let at = SNAPSHOT_PREFIX_BYTES + headerSpace
    for (const sec of sections) {
      sec.offset = at
      at = align8(at + sec.bytes)
    }
    headerBytes = encoder.encode(JSON.stringify({ ...s.header, sections }))
    if (headerBytes.length <= headerSpace) break
    headerSpace = align8(headerBytes.length + 64)
  }
  const last = sections[sections.length - 1]
  const bodyEnd = last ? align8(last.offset + last.bytes) : SNAPSHOT_PREFIX_BYTES + headerSpace
  const total = bodyEnd + SNAPSHOT_TRAILER_BYTES
  const out = new Uint8Array(total)
  const dv = new DataView(out.buffer)
  out.set(SNAPSHOT_MAGIC, 0)
  dv.setUint32(8, SNAPSHOT_VERSION, true)
  dv.setUint32(12, headerBytes.length, true)
  dv.setUint32(16, total % 4294967296, true)
  dv.setUint32(20, Math.floor(total / 4294967296), true)
  out.set(headerBytes, SNAPSHOT_PREFIX_BYTES)
  chunks.forEach((c, i) => {
    out.set(new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength), sections[i].offset)
  })
  dv.setUint32(total - 8, crc32(out.subarray(0, total - 8)), true)
  return out
}
