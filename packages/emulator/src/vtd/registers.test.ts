import assert from 'node:assert/strict'
import { test } from 'node:test'
import { resolveVtdConfig } from './config.js'
import { decodeCap, decodeEcap, encodeCap, encodeEcap } from './registers.js'

test('CAP round-trips and decodes like the kernel cap_* macros', () => {
  const { cap } = resolveVtdConfig({ nfr: 4 })
  const v = encodeCap(cap)
  assert.deepEqual(decodeCap(v), cap)
  // cap_num_fault_regs(c) = ((c >> 40) & 0xff) + 1; cap_fault_reg_offset(c) = ((c >> 24) & 0x3ff) * 16;
  // cap_mgaw(c) = ((c >> 16) & 0x3f) + 1; cap_sagaw(c) = (c >> 8) & 0x1f; cap_super_page_val = (c >> 34) & 0xf.
  assert.equal(Number((v >> 40n) & 0xffn) + 1, 4)
  assert.equal(Number((v >> 24n) & 0x3ffn) * 16, 0x220)
  assert.equal(Number((v >> 16n) & 0x3fn) + 1, 48)
  assert.equal(Number((v >> 8n) & 0x1fn), 0b110)
  assert.equal(Number((v >> 34n) & 0xfn), 0b11)
})

test('ECAP round-trips; SMTS is bit 43, QI bit 1, PT bit 6 (ecap_smts, ecap_qis, ecap_pass_through)', () => {
  const { ecap } = resolveVtdConfig()
  const v = encodeEcap(ecap)
  assert.deepEqual(decodeEcap(v), ecap)
  assert.equal((v >> 43n) & 1n, 1n)
  assert.equal(v & 2n, 2n)
  assert.equal((v >> 6n) & 1n, 1n)
  // QEMU's VTD_ECAP_IRO = DMAR_IOTLB_REG_OFFSET << 4 = 0xf00.
  assert.equal(v & 0x3ff00n, 0xf00n)
  assert.equal(decodeEcap(encodeEcap({ ...ecap, smts: false })).smts, false)
})
