import assert from 'node:assert/strict'
import { test } from 'node:test'
import { aboveHawHi, qwordsToWords } from './entry-chunk.js'
import {
  decodePasidDirEntry,
  encodePasidDirEntry,
  pasidDirEntryReserved,
  pasidDirIndex,
  pasidTableIndex,
} from './pasid-directory.js'
import { decodePasidEntry, encodePasidEntry, PGTT, pasidEntryReserved } from './pasid-entry.js'

test('PASID entry round-trips all fields across chunks 0 and 1', () => {
  const e = {
    p: true,
    fpd: true,
    aw: 2,
    pgtt: PGTT.SL_ONLY,
    ssade: true,
    slptptr: 0x7_0000_1000,
    did: 0x1234,
    pwsnp: true,
    pgsnp: true,
    sre: true,
    flpm: 1,
    wpe: true,
    eafe: true,
    flptptr: 0x8_0000_2000,
  }
  assert.deepEqual(decodePasidEntry(qwordsToWords(encodePasidEntry(e))), e)
})

test('PASID entry matches pasid.h setters', () => {
  // pasid_set_slptr: val[0] |= ptr; pasid_set_address_width: val[0] bits 4:2; pasid_set_translation_type:
  // val[0] bits 8:6; pasid_set_present: bit 0; pasid_set_domain_id: val[1] bits 15:0;
  // pasid_set_page_snoop: val[1] bit 23; pasid_set_pgsnp: val[1] bit 24; pasid_set_sre: val[2] bit 0.
  const q = encodePasidEntry({ p: true, slptptr: 0xabc_d000, aw: 2, pgtt: PGTT.SL_ONLY, did: 7, pwsnp: true })
  assert.equal(q[0], 0xabc_d000n | (2n << 2n) | (2n << 6n) | 1n)
  assert.equal(q[1], 7n | (1n << 23n))
  assert.equal(q.length, 8)
})

test('PASID directory entry and indices (PASID_PDE_SHIFT = 6)', () => {
  const e = { p: true, fpd: false, smptblptr: 0x4_5000 }
  const q = encodePasidDirEntry(e)
  assert.equal(q, 0x4_5001n)
  const [lo, hi] = qwordsToWords([q])
  assert.deepEqual(decodePasidDirEntry(lo, hi), e)
  assert.equal(pasidDirIndex(0xfffff), 0x3fff)
  assert.equal(pasidTableIndex(0xfffff), 63)
  assert.equal(pasidDirIndex(64), 1)
  assert.equal(pasidDirEntryReserved(0x4_5005, 0, aboveHawHi(46)), true)
  assert.equal(pasidEntryReserved(qwordsToWords([0x20n, 0n]), aboveHawHi(46)), true)
})
