import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { DmaAccessKind } from '../iommu/translator.js'
import { SL_PTE } from '../pagetable/vtd-sl/sl-pte.js'
import { describeFaultReason, VTD_FR } from './fault-reasons.js'
import { DMAR_RTADDR_REG } from './registers.js'
import { makeTestMachine, sidOf, type TestMachine } from './test-machine.js'

/**
 * Every fault reason the model raises, provoked once, checked by reason code and by the fault
 * record software reads back (SID, address, T).
 */
const SID = sidOf(3, 2, 1)
const BEYOND = 0x7ff0_0000 // inside the 46-bit HAW, outside the 16 MiB of emulated memory

interface Setup {
  m: TestMachine
  ctx: number
  root: number
  dir: number
  pte: number
}

function legacy(): Setup {
  const m = makeTestMachine()
  const t = m.table()
  t.map(0x1000, 0x10_0000, 4096, { r: true, w: false })
  t.map(0x2000, 0x10_1000, 4096, { r: false, w: true })
  m.driver.setLegacyContext(SID, { p: true, fpd: false, tt: 0, slptptr: t.root, aw: 2, did: 1 })
  const ctx = m.driver.contextEntryAddress(SID, false)
  return { m, ctx, root: t.root, dir: -1, pte: leafSlot(m, t.root, 0x1000) }
}

function scalable(): Setup {
  const m = makeTestMachine({ scalable: true })
  const t = m.table()
  t.map(0x1000, 0x10_0000, 4096, { r: true, w: false })
  t.map(0x2000, 0x10_1000, 4096, { r: false, w: true })
  const { dir } = m.driver.allocPasidDirectory()
  m.driver.setScalableContext(SID, { pasidDirPtr: dir, pdts: 0, paside: true })
  m.driver.setPasidSecondLevel(dir, 0, 1, t.root)
  m.driver.setPasidSecondLevel(dir, 5, 1, t.root)
  const ctx = m.driver.contextEntryAddress(SID, false)
  return { m, ctx, root: t.root, dir, pte: leafSlot(m, t.root, 0x1000) }
}

function leafSlot(m: TestMachine, root: number, iova: number): number {
  let table = root
  for (let level = 4; level > 1; level--) {
    const slot = table + (Math.floor(iova / 2 ** (12 + 9 * (level - 1))) % 512) * 8
    table = m.memory.u32[slot >>> 2] & ~0xfff
  }
  return table + (Math.floor(iova / 4096) % 512) * 8
}

function expectFault(
  s: Setup,
  reason: number,
  iova: number,
  access: DmaAccessKind = 'read',
  sid = SID,
  pasid?: number,
) {
  const out = s.m.iommu.translate(sid, iova, access, pasid)
  assert.equal(out.pa, -1)
  assert.equal(
    out.fault,
    reason,
    `expected 0x${reason.toString(16)} (${describeFaultReason(reason)}), got 0x${out.fault.toString(16)}`,
  )
  assert.equal(out.recorded, true)
  const recs = s.m.driver.drainFaults()
  assert.equal(recs.length, 1)
  assert.deepEqual(
    {
      sid: recs[0].sid,
      reason: recs[0].reason,
      address: recs[0].address,
      isRead: recs[0].isRead,
      pasid: recs[0].pasid,
    },
    { sid, reason, address: iova - (iova % 4096), isRead: access === 'read', pasid: pasid ?? -1 },
  )
}

const st = (s: Setup, pa: number, v: bigint) => s.m.port.store64(pa, v)

const legacyCases: [string, number, (s: Setup) => void, number?, DmaAccessKind?, number?][] = [
  ['root entry not present', VTD_FR.ROOT_ENTRY_P, () => {}, undefined, 'read', sidOf(9, 0, 0)],
  ['context entry not present', VTD_FR.CONTEXT_ENTRY_P, () => {}, undefined, 'read', sidOf(3, 2, 2)],
  [
    'context TT = 3 (reserved)',
    VTD_FR.CONTEXT_ENTRY_INV,
    (s) => st(s, s.ctx, BigInt(s.root) | (3n << 2n) | 1n),
  ],
  [
    'context AW = 3 (5-level, not in SAGAW)',
    VTD_FR.CONTEXT_ENTRY_INV,
    (s) => st(s, s.ctx + 8, (1n << 8n) | 3n),
  ],
  [
    'address beyond the 39-bit AGAW',
    VTD_FR.ADDR_BEYOND_MGAW,
    (s) => st(s, s.ctx + 8, (1n << 8n) | 1n),
    2 ** 39,
  ],
  ['address beyond the 48-bit AGAW', VTD_FR.ADDR_BEYOND_MGAW, () => {}, 2 ** 48],
  ['write to a read-only page', VTD_FR.WRITE, () => {}, 0x1000, 'write'],
  ['read of a write-only page', VTD_FR.READ, () => {}, 0x2000, 'read'],
  ['read of a not-present page', VTD_FR.READ, () => {}, 0x9000, 'read'],
  ['SLPTPTR outside memory', VTD_FR.PAGING_ENTRY_INV, (s) => st(s, s.ctx, BigInt(BEYOND) | 1n)],
  [
    'root table address outside memory',
    VTD_FR.ROOT_TABLE_INV,
    (s) => {
      s.m.driver.setRootEntry(BEYOND)
    },
  ],
  [
    'context table pointer outside memory',
    VTD_FR.CONTEXT_TABLE_INV,
    (s) => st(s, s.m.driver.rootTable + 3 * 16, BigInt(BEYOND) | 1n),
  ],
  [
    'reserved bit in the root entry',
    VTD_FR.ROOT_ENTRY_RSVD,
    (s) => st(s, s.m.driver.rootTable + 3 * 16 + 8, 1n),
  ],
  [
    'reserved bit in the context entry',
    VTD_FR.CONTEXT_ENTRY_RSVD,
    (s) => st(s, s.ctx, BigInt(s.root) | 0x10n | 1n),
  ],
  [
    'reserved bit in a PTE',
    VTD_FR.PAGING_ENTRY_RSVD,
    (s) => st(s, s.pte, 0x10_0000n | BigInt(SL_PTE.SNP) | 1n),
  ],
  [
    'TTM = 10b (reserved mode)',
    VTD_FR.SM_RTADDR_INV,
    (s) => {
      s.m.vtd.mmio.write64(DMAR_RTADDR_REG, BigInt(s.m.driver.rootTable) | (2n << 10n))
      s.m.vtd.mmio.write32(0x18, (1 << 31) | (1 << 26) | (1 << 30))
    },
  ],
]

for (const [name, reason, mutate, iova = 0x1000, access = 'read', sid = SID] of legacyCases) {
  test(`legacy 0x${reason.toString(16).padStart(2, '0')}: ${name}`, () => {
    const s = legacy()
    mutate(s)
    expectFault(s, reason, iova, access, sid)
  })
}

test('legacy 0x31: a request with PASID while the root table is in legacy mode', () => {
  const s = legacy()
  expectFault(s, VTD_FR.SM_TTM0_WITH_PASID, 0x1000, 'read', SID, 3)
})

const smCases: [string, number, (s: Setup) => void, number?, DmaAccessKind?, number?, number?][] = [
  ['root entry access outside memory', VTD_FR.SM_ROOT_ENTRY_ACCESS, (s) => s.m.driver.setRootEntry(BEYOND)],
  [
    'UCTP half not present (devfn ≥ 0x80)',
    VTD_FR.SM_ROOT_ENTRY_P,
    () => {},
    undefined,
    'read',
    sidOf(3, 16, 0),
  ],
  [
    'root entry reserved bit',
    VTD_FR.SM_ROOT_ENTRY_RSVD,
    (s) => st(s, s.m.driver.rootTable + 3 * 16, BigInt(s.ctx & ~0xfff) | 3n),
  ],
  [
    'context table outside memory',
    VTD_FR.SM_CONTEXT_ENTRY_ACCESS,
    (s) => st(s, s.m.driver.rootTable + 3 * 16, BigInt(BEYOND) | 1n),
  ],
  ['context entry not present', VTD_FR.SM_CONTEXT_ENTRY_P, () => {}, undefined, 'read', sidOf(3, 2, 2)],
  ['context entry reserved bit', VTD_FR.SM_CONTEXT_ENTRY_RSVD, (s) => st(s, s.ctx + 8, 1n << 40n)],
  [
    'context DTE without device-TLB support',
    VTD_FR.SM_CONTEXT_ENTRY_INV,
    (s) => st(s, s.ctx, BigInt(s.dir) | 0x4n | 0x8n | 1n),
  ],
  [
    'PASID request with PASIDE clear',
    VTD_FR.SM_CONTEXT_PASIDE_CLEAR,
    (s) => st(s, s.ctx, BigInt(s.dir) | 1n),
    undefined,
    'read',
    SID,
    5,
  ],
  [
    'PASID beyond the directory size',
    VTD_FR.SM_PASID_BEYOND_PDTS,
    () => {},
    undefined,
    'read',
    SID,
    128 * 64,
  ],
  [
    'PASID directory outside memory',
    VTD_FR.SM_PASID_DIR_ACCESS,
    (s) => st(s, s.ctx, BigInt(BEYOND) | 0x8n | 1n),
  ],
  ['PASID directory entry not present', VTD_FR.SM_PASID_DIR_P, () => {}, undefined, 'read', SID, 64],
  [
    'PASID directory entry reserved bit',
    VTD_FR.SM_PASID_DIR_RSVD,
    (s) => st(s, s.dir, s.m.port.read64(s.dir) | 4n),
  ],
  ['PASID table outside memory', VTD_FR.SM_PASID_ENTRY_ACCESS, (s) => st(s, s.dir, BigInt(BEYOND) | 1n)],
  ['PASID entry not present', VTD_FR.SM_PASID_ENTRY_P, () => {}, undefined, 'read', SID, 6],
  [
    'PASID entry reserved bit',
    VTD_FR.SM_PASID_ENTRY_RSVD,
    (s) => st(s, peAddr(s, 0), BigInt(s.root) | (2n << 6n) | (2n << 2n) | 0x20n | 1n),
  ],
  [
    'PASID entry PGTT = first-level (unsupported)',
    VTD_FR.SM_PASID_ENTRY_INV,
    (s) => st(s, peAddr(s, 0), BigInt(s.root) | (1n << 6n) | (2n << 2n) | 1n),
  ],
  [
    'PASID entry AW = 3 (unsupported)',
    VTD_FR.SM_PASID_ENTRY_INV,
    (s) => st(s, peAddr(s, 0), BigInt(s.root) | (2n << 6n) | (3n << 2n) | 1n),
  ],
  [
    'SLPTPTR outside memory',
    VTD_FR.SM_SLPTPTR_INV,
    (s) => st(s, peAddr(s, 0), BigInt(BEYOND) | (2n << 6n) | (2n << 2n) | 1n),
  ],
  ['next-level table outside memory', VTD_FR.SM_SL_ENTRY_ACCESS, (s) => st(s, s.root, BigInt(BEYOND) | 3n)],
  [
    'second-level entry reserved bit',
    VTD_FR.SM_SL_ENTRY_RSVD,
    (s) => st(s, s.pte, 0x10_0000n | BigInt(SL_PTE.SNP) | 1n),
  ],
  ['address beyond the AGAW', VTD_FR.SM_ADDR_BEYOND_MGAW, () => {}, 2 ** 48],
  ['write to a read-only page', VTD_FR.SM_WRITE, () => {}, 0x1000, 'write'],
  ['read of a write-only page', VTD_FR.SM_READ, () => {}, 0x2000, 'read'],
  ['read through PASID 5 of a not-present page', VTD_FR.SM_READ, () => {}, 0x7000, 'read', SID, 5],
]

function peAddr(s: Setup, pasid: number): number {
  return s.m.driver.pasidEntryAddress(s.dir, pasid, false)
}

for (const [name, reason, mutate, iova = 0x1000, access = 'read', sid = SID, pasid] of smCases) {
  test(`scalable 0x${reason.toString(16)}: ${name}`, () => {
    const s = scalable()
    mutate(s)
    expectFault(s, reason, iova, access, sid, pasid)
  })
}

test('every reason raised above has the kernel description', () => {
  assert.equal(describeFaultReason(0x39), 'SM: Present bit in Root Entry is clear')
  assert.equal(describeFaultReason(0x05), 'PTE Write access is not set')
  assert.equal(describeFaultReason(0xff), 'Unknown')
})
