import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SeededRandom } from '../dma/seeded-random.js'
import {
  STE,
  SteConfig,
  decodeSte,
  encodeSte,
  getSteUsed,
  makeAbortSte,
  makeBypassSte,
  makeCdTableSte,
  makeS2DomainSte,
} from './stream-table-entry.js'

test('STE field masks equal the kernel header (arm-smmu-v3.h)', () => {
  assert.equal(STE.V.mask, 1n << 0n) // STRTAB_STE_0_V
  assert.equal(STE.Config.mask, 0b1110n) // STRTAB_STE_0_CFG GENMASK_ULL(3, 1)
  assert.equal(STE.S1ContextPtr.mask, ((1n << 52n) - 1n) & ~0x3fn) // GENMASK_ULL(51, 6)
  assert.equal(STE.S1CDMax.mask, 0x1fn << 59n) // GENMASK_ULL(63, 59)
  assert.equal(STE.EATS.mask, 3n << 28n)
  assert.equal(STE.SHCFG.mask, 3n << 44n)
  assert.equal(STE.VTCR.mask, ((1n << 19n) - 1n) << 32n) // GENMASK_ULL(50, 32)
  assert.equal(STE.S2T0SZ.mask, 0x3fn << 32n) // VTCR_S2T0SZ GENMASK(5,0) within VTCR
  assert.equal(STE.S2PS.mask, 7n << 48n) // VTCR_S2PS GENMASK(18,16) within VTCR
  assert.equal(STE.S2AA64.mask, 1n << 51n)
  assert.equal(STE.S2PTW.mask, 1n << 54n)
  assert.equal(STE.S2R.mask, 1n << 58n)
  assert.equal(STE.S2TTB.mask, ((1n << 52n) - 1n) & ~0xfn) // GENMASK_ULL(51, 4)
})

test('arm_smmu_make_s2_domain_ste values, hand-computed', () => {
  const ste = makeS2DomainSte({ vmid: 1, s2ttb: 0x8_1234_5000 })
  // V | CFG=S2_TRANS(6)<<1
  assert.equal(ste[0], 0xdn)
  // SHCFG_INCOMING << 44
  assert.equal(ste[1], 0x0000_1000_0000_0000n)
  // VTCR = T0SZ 16 | SL0 2<<6 | IR0 1<<8 | OR0 1<<10 | SH0 3<<12 | TG 0 | PS 5<<16 = 0x53590,
  // << 32, | S2AA64 (51) | S2PTW (54) | S2R (58) | VMID 1
  assert.equal(ste[2], 0x044d_3590_0000_0001n)
  assert.equal(ste[3], 0x8_1234_5000n)
  const d = decodeSte(ste)
  assert.equal(d.Config, SteConfig.S2Trans)
  assert.equal(d.S2T0SZ, 16)
  assert.equal(d.S2SL0, 2)
  assert.equal(d.S2TTB, 0x8_1234_5000)
})

test('abort, bypass and CD-table STEs', () => {
  assert.deepEqual(makeAbortSte(), [1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n])
  assert.equal(makeBypassSte()[0], 0x9n) // V | 4<<1
  const s1 = makeCdTableSte(0x4_0000_1000)
  assert.equal(s1[0], 0x4_0000_1000n | 0xbn) // V | 5<<1
  assert.equal(s1[1], 0xd6n) // S1DSS SSID0 (2) | S1CIR 1<<2 | S1COR 1<<4 | S1CSH 3<<6
})

test('STE round trip of random field values', () => {
  const rng = new SeededRandom(42)
  for (let i = 0; i < 200; i++) {
    const f = {} as Record<string, number>
    for (const [k, fd] of Object.entries(STE)) {
      if (k === 'VTCR') continue
      if (k === 'S1ContextPtr') f[k] = rng.int(2 ** 20) * 64
      else if (k === 'S2TTB') f[k] = rng.int(2 ** 20) * 16
      else f[k] = rng.int(2 ** Math.min(fd.width, 30))
    }
    const d = decodeSte(encodeSte(f))
    for (const k of Object.keys(f)) assert.equal(d[k as keyof typeof d], f[k], k)
  }
})

test('getSteUsed follows arm_smmu_get_ste_used', () => {
  const v0 = getSteUsed(new Array(8).fill(0n))
  assert.deepEqual(v0, [1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n])
  const s2 = getSteUsed(makeS2DomainSte({ vmid: 3, s2ttb: 0x1000 }))
  assert.equal(s2[3], STE.S2TTB.mask)
  assert.equal(s2[0] & STE.S1ContextPtr.mask, 0n)
  const s1 = getSteUsed(makeCdTableSte(0x1000))
  assert.equal(s1[3], 0n)
  assert.equal(s1[2], STE.S2VMID.mask)
})
