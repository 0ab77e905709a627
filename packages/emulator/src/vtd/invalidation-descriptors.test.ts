import assert from 'node:assert/strict'
import { test } from 'node:test'
import { qwordsToWords } from './entry-chunk.js'
import { decodeInvDesc, encodeInvDesc, type InvDesc } from './invalidation-descriptors.js'

test('descriptors round-trip', () => {
  const all: InvDesc[] = [
    { type: 'context-cache', granularity: 3, did: 0x1234, sid: 0x0318, fm: 2 },
    { type: 'iotlb', granularity: 3, did: 9, dr: true, dw: false, addr: 0x12_3456_7000, ih: true, am: 9 },
    { type: 'pasid-iotlb', granularity: 3, did: 9, pasid: 0xabcde, addr: 0x4000, ih: false, am: 2 },
    { type: 'pasid-cache', granularity: 1, did: 3, pasid: 77 },
    {
      type: 'wait',
      interruptFlag: true,
      statusWrite: true,
      fence: true,
      statusData: 0xdeadbeef,
      statusAddr: 0x1_0000_0004,
    },
  ]
  for (const d of all) assert.deepEqual(decodeInvDesc(qwordsToWords(encodeInvDesc(d))), d)
})

test('encodings equal the kernel QI_* macros', () => {
  // qi_flush_context: QI_CC_FM(fm) | QI_CC_SID(sid) | QI_CC_DID(did) | QI_CC_GRAN(DMA_CCMD_DEVICE_INVL) | QI_CC_TYPE
  // with QI_CC_GRAN(gran) = gran >> (61 - 4): DMA_CCMD_DEVICE_INVL = 3 << 61 → 3 << 4.
  const cc = encodeInvDesc({ type: 'context-cache', granularity: 3, did: 5, sid: 0x100, fm: 0 })
  assert.equal(cc[0], (0x100n << 32n) | (5n << 16n) | (3n << 4n) | 1n)
  // qi_flush_iotlb: QI_IOTLB_DID | QI_IOTLB_DR | QI_IOTLB_DW | QI_IOTLB_GRAN(DMA_TLB_DSI_FLUSH = 2 << 60) | TYPE
  const io = encodeInvDesc({
    type: 'iotlb',
    granularity: 2,
    did: 5,
    dr: true,
    dw: true,
    addr: 0,
    ih: false,
    am: 0,
  })
  assert.equal(io[0], (5n << 16n) | (1n << 7n) | (1n << 6n) | (2n << 4n) | 2n)
  // qi_flush_pasid_cache: QI_PC_PASID(pasid) | QI_PC_DID(did) | QI_PC_GRAN(QI_PC_PASID_SEL) | QI_PC_TYPE
  const pc = encodeInvDesc({ type: 'pasid-cache', granularity: 1, did: 5, pasid: 3 })
  assert.equal(pc[0], (3n << 32n) | (5n << 16n) | (1n << 4n) | 7n)
  // Wait: QI_IWD_STATUS_DATA(QI_DONE) | QI_IWD_STATUS_WRITE | QI_IWD_TYPE; qw1 = status address.
  const w = encodeInvDesc({
    type: 'wait',
    interruptFlag: false,
    statusWrite: true,
    fence: false,
    statusData: 2,
    statusAddr: 0x8000,
  })
  assert.deepEqual(w, [(2n << 32n) | (1n << 5n) | 5n, 0x8000n])
})

test('unknown types and granularity 0 decode as invalid', () => {
  assert.equal(decodeInvDesc(qwordsToWords([0xfn, 0n])).type, 'invalid')
  assert.equal(decodeInvDesc(qwordsToWords([0x1n, 0n])).type, 'invalid') // CC with G=0
  assert.equal(decodeInvDesc(qwordsToWords([0x3n, 0n])).type, 'device-iotlb')
})
