import { crc32 } from 'node:zlib'
import { Compile } from 'typebox/compile'
import { buildLeafMerkle, MERKLE_HASH_BYTES } from './leaf-merkle.js'
import type { AreaTable, HwptSnapshot, IoasSnapshot, LeafTable, MerkleLevel, Snapshot } from './snapshot.js'
import {
  AREA_COLUMNS,
  type ColumnType,
  LEAF_COLUMNS,
  LITTLE_ENDIAN,
  view,
  WIDTH,
} from './snapshot-columns.js'
import { snapshotError } from './snapshot-error.js'
import {
  SNAPSHOT_MAGIC,
  SNAPSHOT_PREFIX_BYTES,
  SNAPSHOT_TRAILER_BYTES,
  SNAPSHOT_VERSION,
} from './snapshot-format.js'
import { EncodedHeaderSchema, type Section, type SnapshotHeader } from './snapshot-header.js'
import { checkAreas, checkLeaves, checkReferences } from './snapshot-validate.js'

const checkHeader = Compile(EncodedHeaderSchema)

export interface DecodeOptions {
  /**
   * Recompute each leaf view's Merkle tree and refuse a snapshot whose stored tree differs
   * (`inconsistent`). Costs one SHA-256 pass over the leaf columns (about 15 ms per million
   * leaves); the checksum already guards against corruption, this guards against a writer other
   * than `encodeSnapshot`. Default true.
   */
  verifyMerkle?: boolean
}

/**
 * Decodes a snapshot without copying its columns (typed-array views into `bytes`; one copy of
 * the whole buffer if it is not 8-byte aligned) and without an object per leaf. Throws
 * HITLESS_E_UNPROCESSABLE whose message and `details.check` say which check failed: `magic`,
 * `version`, `truncated`, `checksum` or `inconsistent`.
 */
export function decodeSnapshot(input: Uint8Array, opts: DecodeOptions = {}): Snapshot {
  if (!LITTLE_ENDIAN) throw snapshotError('inconsistent', 'snapshots need a little-endian host')
  if (input.length < SNAPSHOT_MAGIC.length)
    throw snapshotError('truncated', `${input.length} bytes, no magic`)
  for (let i = 0; i < SNAPSHOT_MAGIC.length; i++) {
    if (input[i] !== SNAPSHOT_MAGIC[i]) throw snapshotError('magic', 'not a Hitless snapshot (bad magic)')
  }
  if (input.length < SNAPSHOT_PREFIX_BYTES)
    throw snapshotError('truncated', `${input.length} bytes, no prefix`)
  const dv0 = new DataView(input.buffer, input.byteOffset, input.byteLength)
  const version = dv0.getUint32(8, true)
  if (version !== SNAPSHOT_VERSION) {
    throw snapshotError(
      'version',
      `format version ${version}; this verifier reads version ${SNAPSHOT_VERSION}`,
    )
  }
  const headerLength = dv0.getUint32(12, true)
  const total = dv0.getUint32(16, true) + dv0.getUint32(20, true) * 4294967296
  if (input.length < total) throw snapshotError('truncated', `${input.length} of ${total} bytes`)
  if (input.length > total) throw snapshotError('inconsistent', `${input.length - total} bytes after the end`)
  if (total < SNAPSHOT_PREFIX_BYTES + headerLength + SNAPSHOT_TRAILER_BYTES) {
    throw snapshotError('inconsistent', `header of ${headerLength} bytes does not fit in ${total}`)
  }
  const stored = dv0.getUint32(total - 8, true)
  const actual = crc32(input.subarray(0, total - 8))
  if (stored !== actual) {
    throw snapshotError('checksum', `CRC-32 ${hex(actual)} does not match the stored ${hex(stored)}`)
  }
  const bytes = input.byteOffset % 8 === 0 ? input : input.slice()
  let raw: unknown
  try {
    raw = JSON.parse(
      new TextDecoder().decode(bytes.subarray(SNAPSHOT_PREFIX_BYTES, SNAPSHOT_PREFIX_BYTES + headerLength)),
    )
  } catch (e) {
    throw snapshotError('inconsistent', `header is not JSON: ${(e as Error).message}`)
  }
  if (!checkHeader.Check(raw)) {
    const first = [...checkHeader.Errors(raw)][0] as { instancePath?: string; message?: string } | undefined
    throw snapshotError(
      'inconsistent',
      `header${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`,
    )
  }
  const { sections, ...header } = raw as SnapshotHeader & { sections: Section[] }
  const bodyStart = SNAPSHOT_PREFIX_BYTES + headerLength
  const bodyEnd = total - SNAPSHOT_TRAILER_BYTES
  const byName = new Map<string, Section>()
  for (const s of sections) {
    if (s.offset % 8 !== 0 || s.offset < bodyStart || s.offset + s.bytes > bodyEnd) {
      throw snapshotError('inconsistent', `section ${s.name} at ${s.offset}+${s.bytes} is outside the body`)
    }
    byName.set(s.name, s)
  }
  const column = (name: string, type: ColumnType, count: number): ArrayBufferView => {
    const s = byName.get(name)
    if (!s) throw snapshotError('inconsistent', `section ${name} is missing`)
    if (s.bytes !== count * WIDTH[type]) {
      throw snapshotError(
        'inconsistent',
        `section ${name} has ${s.bytes} bytes, expected ${count * WIDTH[type]}`,
      )
    }
    return view(type, bytes.buffer, bytes.byteOffset + s.offset, count)
  }
  checkReferences(header)
  const files = header.files.length
  const ioas: IoasSnapshot[] = header.ioas.map((io, i) => {
    const areas = { count: io.areaCount } as AreaTable
    for (const c of AREA_COLUMNS) {
      ;(areas as unknown as Record<string, ArrayBufferView>)[c.name] = column(
        `ioas/${i}/${c.name}`,
        c.type,
        io.areaCount,
      )
    }
    checkAreas(io.key, areas, files)
    return { key: io.key, ...(io.id !== undefined ? { id: io.id } : {}), areas }
  })
  const caps = header.capabilities
  const hwpts: HwptSnapshot[] = header.hwpts.map((hw, i) => {
    const leaves = { count: hw.leafCount } as LeafTable
    for (const c of LEAF_COLUMNS) {
      if (c.needs && !caps[c.needs]) continue
      ;(leaves as unknown as Record<string, ArrayBufferView>)[c.name] = column(
        `hwpt/${i}/${c.name}`,
        c.type,
        hw.leafCount,
      )
    }
    checkLeaves(hw.key, leaves, files)
    const merkle: MerkleLevel[] = []
    for (let k = 0; byName.has(`merkle/${i}/${k}/first`); k++) {
      const first = byName.get(`merkle/${i}/${k}/first`)!
      const count = first.bytes / 4
      merkle.push({
        count,
        firstLeaf: column(`merkle/${i}/${k}/first`, 'u32', count) as Uint32Array,
        hashes: column(`merkle/${i}/${k}/hash`, 'u8', count * MERKLE_HASH_BYTES) as Uint8Array,
      })
    }
    checkMerkle(hw.key, leaves, merkle, opts.verifyMerkle ?? true)
    return { key: hw.key, ...(hw.id !== undefined ? { id: hw.id } : {}), ioas: hw.ioas, leaves, merkle }
  })
  return { header, ioas, hwpts }
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`

function checkMerkle(key: string, t: LeafTable, levels: MerkleLevel[], recompute: boolean): void {
  if (t.count === 0) {
    if (levels.length) throw snapshotError('inconsistent', `HWPT ${key}: a Merkle tree without leaves`)
    return
  }
  if (levels.length === 0 || levels[levels.length - 1].count !== 1) {
    throw snapshotError('inconsistent', `HWPT ${key}: Merkle tree has no single root`)
  }
  for (const l of levels) {
    for (let i = 0; i < l.count; i++) {
      const f = l.firstLeaf[i]
      if ((i === 0 && f !== 0) || (i > 0 && !(f > l.firstLeaf[i - 1])) || f >= t.count) {
        throw snapshotError('inconsistent', `HWPT ${key}: Merkle node boundaries out of order`)
      }
    }
  }
  if (!recompute) return
  const fresh = buildLeafMerkle(t)
  const same =
    fresh.length === levels.length &&
    fresh.every(
      (l, k) =>
        l.count === levels[k].count &&
        Buffer.from(l.hashes).equals(
          Buffer.from(levels[k].hashes.buffer, levels[k].hashes.byteOffset, levels[k].hashes.byteLength),
        ) &&
        Buffer.from(l.firstLeaf.buffer).equals(
          Buffer.from(
            levels[k].firstLeaf.buffer,
            levels[k].firstLeaf.byteOffset,
            levels[k].firstLeaf.byteLength,
          ),
        ),
    )
  if (!same) throw snapshotError('inconsistent', `HWPT ${key}: stored Merkle tree does not match the leaves`)
}
