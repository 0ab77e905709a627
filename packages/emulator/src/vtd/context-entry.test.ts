import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  CONTEXT_TT,
  decodeLegacyContextEntry,
  decodeScalableContextEntry,
  encodeLegacyContextEntry,
  encodeScalableContextEntry,
  legacyContextEntryReserved,
  pasidDirEntries,
  scalableContextEntryReserved,
} from './context-entry.js'
import { aboveHawHi, qwordsToWords } from './entry-chunk.js'

test('legacy context entry round-trips P, FPD, TT, SLPTPTR, AW, AVAIL, DID', () => {
  const e = {
    p: true,
    fpd: true,
    tt: CONTEXT_TT.PASS_THROUGH,
    slptptr: 0x3f_ffff_f000,
    aw: 2,
    avail: 0b1001,
    did: 0xbeef,
  }
  assert.deepEqual(decodeLegacyContextEntry(qwordsToWords(encodeLegacyContextEntry(e))), e)
})

test('legacy context entry matches the kernel helpers (iommu.h context_set_*)', () => {
  // context_set_domain_id: hi |= (did & 0xffff) << 8; context_set_address_width: hi |= aw & 7;
  // context_set_translation_type: lo |= (tt & 3) << 2; context_set_address_root: lo |= pgd & PAGE_MASK;
  // context_set_present: lo |= 1; context_set_fault_enable clears bit 1; context_set_copied: hi |= 1 << 3.
  const lo = 0x1234_5000n | (0n << 2n) | 1n
  const hi = (42n << 8n) | 2n | (1n << 3n)
  assert.deepEqual(
    encodeLegacyContextEntry({ p: true, fpd: false, tt: 0, slptptr: 0x1234_5000, aw: 2, avail: 1, did: 42 }),
    [lo, hi],
  )
  const d = decodeLegacyContextEntry(qwordsToWords([lo, hi]))
  assert.equal(d.did, 42)
  assert.equal(d.avail & 1, 1) // the kdump "copied" marker
})

test('scalable context entry round-trips and matches context_entry_set_pasid_table', () => {
  const e = {
    p: true,
    fpd: false,
    dte: false,
    paside: true,
    pre: false,
    pdts: 3,
    pasidDirPtr: 0x55_5000,
    ridPasid: 0x12345,
    ridPriv: true,
  }
  assert.deepEqual(decodeScalableContextEntry(qwordsToWords(encodeScalableContextEntry(e))), e)
  // lo = dir | context_pdts(pds) [(pds & 7) << 9] | CONTEXT_PASIDE (bit 3) | present; hi = rid2pasid.
  const [v0, v1, v2, v3] = encodeScalableContextEntry({ ...e, ridPriv: false, ridPasid: 0 })
  assert.equal(v0, 0x55_5000n | (3n << 9n) | 8n | 1n)
  assert.deepEqual([v1, v2, v3], [0n, 0n, 0n])
  assert.equal(pasidDirEntries(3), 1024) // 2^(3+7)
})

test('reserved bits of context entries (QEMU VTD_CONTEXT_ENTRY_RSVD_*, VTD_SM_CONTEXT_ENTRY_RSVD_*)', () => {
  const haw = aboveHawHi(46)
  assert.equal(legacyContextEntryReserved(qwordsToWords([0x1001n, 0x102n]), haw), false)
  assert.equal(legacyContextEntryReserved(qwordsToWords([0x1011n, 0x102n]), haw), true) // lo bit 4
  assert.equal(legacyContextEntryReserved(qwordsToWords([0x1001n, 0x182n]), haw), true) // hi bit 7
  assert.equal(legacyContextEntryReserved(qwordsToWords([0x1001n, 1n << 24n]), haw), true)
  assert.equal(scalableContextEntryReserved(qwordsToWords([0x1009n, 0n]), haw), false)
  assert.equal(scalableContextEntryReserved(qwordsToWords([0x1021n, 0n]), haw), true) // val0 bit 5
  assert.equal(scalableContextEntryReserved(qwordsToWords([0x1001n, 1n << 21n]), haw), true)
})
