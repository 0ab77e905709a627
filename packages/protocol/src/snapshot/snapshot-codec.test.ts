import assert from 'node:assert/strict'
import { test } from 'node:test'
import { crc32 } from 'node:zlib'
import { isHitlessError } from '../errors/hitless-error.js'
import { buildLeafMerkle } from './leaf-merkle.js'
import { SnapshotBuilder } from './snapshot-builder.js'
import { decodeSnapshot } from './snapshot-decode.js'
import { snapshotDigest } from './snapshot-digest.js'
import { encodeSnapshot } from './snapshot-encode.js'
import { PROT } from './snapshot-format.js'
import type { LeafTable, MerkleLevel } from './snapshot.js'
import type { SnapshotCapabilities } from './snapshot-header.js'

const ALL: SnapshotCapabilities = {
  leafView: true,
  physicalAddresses: true,
  backing: true,
  configEntries: true,
  hardwareFaultCounters: true,
  groundTruthFaults: true,
  dmaContinuity: true,
}

function sample(leaves = 3000, caps = ALL) {
  const b = new SnapshotBuilder({
    phase: 'pre',
    backend: 'emulated-smmuv3',
    hardware: 'smmuv3-bbml2',
    takenAt: '2025-01-01T00:00:00.000Z',
    kernel: { version: '7.1.0', bootId: 'boot-a' },
    capabilities: caps,
  })
  b.ioas('vm1', 3).area({
    iova: 0x100000,
    length: leaves * 8192,
    prot: PROT.READ | PROT.WRITE,
    file: 'memfd:vm1',
    offset: 0,
  })
  const h = b.hwpt('vm1/s2', 'vm1', 4)
  // Given in reverse: the builder sorts.
  for (let i = leaves - 1; i >= 0; i--) {
    h.leaf(
      0x100000 + i * 8192,
      4096,
      PROT.READ | PROT.WRITE,
      0x80000000 + ((i * 7919) % leaves) * 4096,
      'memfd:vm1',
      i * 8192,
    )
  }
  h.leaf(0x40000000n, 1 << 21, PROT.READ, 0x200000, 'memfd:fw', 0)
  b.attach('sid:0x10', 'vm1/s2')
  b.config({
    kind: 'ste',
    key: 'sid:0x10',
    fields: { 'STE.V': 1, 'STE.S2TTB': '0x1000' },
    pointerFields: ['STE.S2TTB'],
    hwpt: 'vm1/s2',
  })
  b.faults({ hardware: { source: 'smmuv3-evtq', recorded: 2, lost: 0 }, groundTruth: 2 })
  b.dma({ accessCounter: 1000 })
  return b
}

function checkOf(f: () => unknown): string {
  try {
    f()
  } catch (e) {
    assert.ok(isHitlessError(e), String(e))
    assert.equal(e.code, 'HITLESS_E_UNPROCESSABLE')
    return e.details?.check as string
  }
  assert.fail('did not throw')
}

test('round trip: header, areas, sorted leaves, merkle tree; columns are views, not copies', () => {
  const s = sample().build()
  const bytes = encodeSnapshot(s)
  const d = decodeSnapshot(bytes)
  assert.deepEqual(d.header, s.header)
  assert.deepEqual(d.header.files, ['memfd:fw', 'memfd:vm1'])
  const leaves = d.hwpts[0].leaves
  assert.equal(leaves.count, 3001)
  assert.equal(leaves.iova[0], 0x100)
  assert.equal(leaves.iova[3000], 0x40000)
  assert.equal(leaves.sizeLog2[3000], 21)
  assert.equal(leaves.file![3000], 0)
  assert.deepEqual([...leaves.pa!], [...s.hwpts[0].leaves.pa!])
  assert.equal(leaves.iova.buffer, bytes.buffer)
  assert.equal(d.hwpts[0].merkle.at(-1)!.count, 1)
  assert.equal(d.ioas[0].areas.pages[0], 6000)
})

test('an unaligned buffer is copied once and decodes', () => {
  const bytes = sample(10).encode()
  const shifted = new Uint8Array(bytes.length + 1).subarray(1)
  shifted.set(bytes)
  assert.equal(decodeSnapshot(shifted).hwpts[0].leaves.count, 11)
})

test('without PA or backing capabilities those columns are absent', () => {
  const d = decodeSnapshot(sample(10, { ...ALL, physicalAddresses: false, backing: false }).encode())
  assert.equal(d.hwpts[0].leaves.pa, undefined)
  assert.equal(d.hwpts[0].leaves.file, undefined)
})

test('each failed check is named: magic, version, truncated, checksum, inconsistent', () => {
  const good = sample(100).encode()
  const bad = (f: (b: Uint8Array) => Uint8Array | undefined) => {
    const b = good.slice()
    return f(b) ?? b
  }
  assert.equal(
    checkOf(() =>
      decodeSnapshot(
        bad((b) => {
          b[1] = 0
        }),
      ),
    ),
    'magic',
  )
  assert.equal(
    checkOf(() => decodeSnapshot(new TextEncoder().encode('{"json": true}'))),
    'magic',
  )
  assert.equal(
    checkOf(() =>
      decodeSnapshot(
        bad((b) => {
          b[8] = 2
        }),
      ),
    ),
    'version',
  )
  assert.equal(
    checkOf(() => decodeSnapshot(good.subarray(0, good.length - 1))),
    'truncated',
  )
  assert.equal(
    checkOf(() => decodeSnapshot(good.subarray(0, 5))),
    'truncated',
  )
  assert.equal(
    checkOf(() => decodeSnapshot(new Uint8Array(0))),
    'truncated',
  )
  assert.equal(
    checkOf(() =>
      decodeSnapshot(
        bad((b) => {
          b[b.length - 100] ^= 1
        }),
      ),
    ),
    'checksum',
  )
  // A writer that gets the structure wrong, with a valid checksum.
  const resealed = (f: (b: Uint8Array) => void) =>
    bad((b) => {
      f(b)
      new DataView(b.buffer).setUint32(b.length - 8, crc32(b.subarray(0, b.length - 8)), true)
    })
  const headerAt = 24
  const text = new TextDecoder().decode(good.subarray(headerAt, headerAt + 200))
  const at = headerAt + text.indexOf('"phase":"pre"') + 10
  assert.equal(
    checkOf(() =>
      decodeSnapshot(
        resealed((b) => {
          b[at] = 0x78
        }),
      ),
    ),
    'inconsistent',
  )
  const lastLeaf = resealed((b) => {
    const d = decodeSnapshot(good)
    const iovaAt = d.hwpts[0].leaves.iova.byteOffset
    new DataView(b.buffer).setFloat64(iovaAt + 8, 0x100, true) // leaf 1 == leaf 0: overlap
  })
  assert.match(String(catchMessage(() => decodeSnapshot(lastLeaf))), /inconsistent: HWPT vm1\/s2 leaf 1/)
})

function catchMessage(f: () => unknown): string | undefined {
  try {
    f()
  } catch (e) {
    return (e as Error).message
  }
  return undefined
}

test('a stored Merkle tree that does not match the leaves is refused', () => {
  const good = sample(5000).encode()
  const d = decodeSnapshot(good, { verifyMerkle: false })
  const b = good.slice()
  b[d.hwpts[0].merkle[0].hashes.byteOffset] ^= 1
  new DataView(b.buffer).setUint32(b.length - 8, crc32(b.subarray(0, b.length - 8)), true)
  assert.match(String(catchMessage(() => decodeSnapshot(b))), /stored Merkle tree does not match/)
  assert.doesNotThrow(() => decodeSnapshot(b, { verifyMerkle: false }))
})

test('the builder refuses overlapping leaves, bad sizes, unaligned addresses, dangling references', () => {
  const b = sample(4)
  b.hwpt('x', 'vm1')
    .leaf(0, 8192 * 2, 1, 0, 'f', 0)
    .leaf(0x1000, 4096, 1, 0, 'f', 0)
  assert.match(String(catchMessage(() => b.build())), /HWPT x leaf 1/)
  assert.throws(() => sample(1).hwpt('y', 'vm1').leaf(0, 3000, 1, 0), /leaf size 3000/)
  assert.throws(() => sample(1).hwpt('y', 'vm1').leaf(0x1001, 4096, 1, 0), /not a 4 KiB-aligned/)
  assert.match(String(catchMessage(() => sample(1).attach('sid:1', 'nope').build())), /unknown HWPT nope/)
})

function linear(n: number, extraAt?: number): LeafTable {
  const b = new SnapshotBuilder({
    phase: 'pre',
    backend: 'x',
    hardware: 'x',
    kernel: { version: 'k', bootId: 'b' },
    capabilities: ALL,
  })
  b.ioas('i')
  const w = b.hwpt('h', 'i')
  for (let i = 0; i < n; i++) w.leaf(i * 8192, 4096, 3, i * 4096, 'f', 0)
  if (extraAt !== undefined) w.leaf(extraAt * 8192 + 4096, 4096, 3, 0, 'f', 0)
  return b.build().hwpts[0].leaves
}

test('Merkle chunks are fixed by IOVA: one extra leaf changes one chunk, not every chunk after it', () => {
  const t1 = buildLeafMerkle(linear(20000))
  const t2 = buildLeafMerkle(linear(20000, 5000))
  const hashes = (l: MerkleLevel) =>
    Array.from({ length: l.count }, (_, i) =>
      Buffer.from(l.hashes.subarray(i * 32, i * 32 + 32)).toString('hex'),
    )
  const before = new Set(hashes(t1[0]))
  const changed = hashes(t2[0]).filter((h) => !before.has(h)).length
  assert.ok(t1[0].count > 10, `${t1[0].count} chunks`)
  assert.equal(changed, 1)
  assert.deepEqual(buildLeafMerkle(linear(20000)), t1)
})

test('digest is sha256 of the bytes, as the controller records it', () => {
  const bytes = sample(10).encode()
  assert.match(snapshotDigest(bytes), /^sha256:[0-9a-f]{64}$/)
  assert.equal(snapshotDigest(bytes), snapshotDigest(sample(10).encode()))
})
