import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeSlPte, encodeSlPte, SL_PTE, slPteToBigint, slReservedMasks } from './sl-pte.js'

test('second-level PTE round-trips every field', () => {
  for (const e of [
    { r: true, w: true, ps: false, snp: false, addr: 0x1234_5000 },
    { r: true, w: false, ps: true, snp: true, addr: 0xf_ffff_ffe0_0000 },
    { r: false, w: true, ps: true, snp: false, addr: 0x40_0000_0000 },
  ]) {
    const { lo, hi } = encodeSlPte(e)
    assert.deepEqual(decodeSlPte(lo, hi), e)
  }
})

test('matches the kernel encoding: pteval = phys | DMA_PTE_READ | DMA_PTE_WRITE | DMA_PTE_LARGE_PAGE', () => {
  // __domain_mapping: attr = prot & (DMA_PTE_READ | DMA_PTE_WRITE); pteval = (phys_pfn << 12) | attr,
  // with DMA_PTE_LARGE_PAGE for a superpage. BIT_ULL(0), BIT_ULL(1), BIT_ULL(7).
  const kernel = 0x0000_0012_3460_0000n | 0x1n | 0x2n | 0x80n
  const { lo, hi } = encodeSlPte({ r: true, w: true, ps: true, snp: false, addr: 0x12_3460_0000 })
  assert.equal(slPteToBigint(lo, hi), kernel)
  assert.equal(SL_PTE.R, 1)
  assert.equal(SL_PTE.W, 2)
  assert.equal(SL_PTE.PS, 0x80)
  assert.equal(SL_PTE.SNP, 0x800)
})

test('reserved masks follow QEMU VTD_SPTE_*_RSVD_MASK for a 46-bit host address width', () => {
  const m = slReservedMasks(46)
  // ~(HAW_MASK | VTD_SL_IGN_COM) high word: bits 46..51 and TM (62) reserved.
  assert.equal(m.hi, 0x400fc000)
  assert.equal(m.lo[1], 0x800)
  assert.equal(m.lo[4], 0x880) // VTD_SPTE_PAGE_L4_RSVD_MASK: PS reserved at level 4
  assert.equal(m.loLeaf[2], 0x1ff800) // VTD_SPTE_LPAGE_L2_RSVD_MASK low bits
  assert.equal(m.loLeaf[3], 0x3ffff800) // VTD_SPTE_LPAGE_L3_RSVD_MASK low bits
  assert.equal(slReservedMasks(46, 0b01).loLeaf[3], 0xffffffff) // no 1 GiB pages: PS reserved at L3
})
