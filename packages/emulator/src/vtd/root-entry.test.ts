import assert from 'node:assert/strict'
import { test } from 'node:test'
import { aboveHawHi, qwordsToWords } from './entry-chunk.js'
import {
  decodeLegacyRootEntry,
  decodeScalableRootEntry,
  encodeLegacyRootEntry,
  encodeScalableRootEntry,
  legacyRootEntryReserved,
  scalableRootHalfReserved,
} from './root-entry.js'

test('legacy root entry round-trips and matches the kernel: root->lo = phys | 1', () => {
  const e = { p: true, ctp: 0x12_3456_7000 }
  const q = encodeLegacyRootEntry(e)
  assert.deepEqual(q, [0x12_3456_7001n, 0n]) // iommu_context_addr: *entry = phy_addr | 1
  assert.deepEqual(decodeLegacyRootEntry(qwordsToWords(q)), e)
})

test('scalable root entry: LCTP in lo, UCTP in hi, each with its own present bit', () => {
  for (const e of [
    { lp: true, lctp: 0x1000, up: false, uctp: 0 },
    { lp: false, lctp: 0, up: true, uctp: 0x2000 }, // the UCTP-only bus of the June 2026 kdump bug
    { lp: true, lctp: 0xabc_d000, up: true, uctp: 0x3_0000_0000 },
  ]) {
    assert.deepEqual(decodeScalableRootEntry(qwordsToWords(encodeScalableRootEntry(e))), e)
  }
  assert.deepEqual(encodeScalableRootEntry({ lp: false, lctp: 0, up: true, uctp: 0x2000 }), [0n, 0x2001n])
})

test('reserved bits: lo [11:1], above HAW, and (legacy) all of hi', () => {
  const haw = aboveHawHi(46)
  assert.equal(legacyRootEntryReserved(qwordsToWords([0x1001n, 0n]), haw), false)
  assert.equal(legacyRootEntryReserved(qwordsToWords([0x1003n, 0n]), haw), true)
  assert.equal(legacyRootEntryReserved(qwordsToWords([0x1001n, 1n]), haw), true)
  assert.equal(legacyRootEntryReserved(qwordsToWords([(1n << 46n) | 1n, 0n]), haw), true)
  assert.equal(scalableRootHalfReserved(qwordsToWords([0x1001n, 0x2801n]), 1, haw), true)
  assert.equal(scalableRootHalfReserved(qwordsToWords([0x1001n, 0x2801n]), 0, haw), false)
})
