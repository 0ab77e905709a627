import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SeededRandom } from '../dma/seeded-random.js'
import { CD, decodeCd, encodeCd, getCdUsed, makeS1Cd } from './context-descriptor.js'

test('CD field masks equal the kernel header (CTXDESC_CD_*)', () => {
  assert.equal(CD.T0SZ.mask, 0x3fn)
  assert.equal(CD.TG0.mask, 3n << 6n)
  assert.equal(CD.EPD0.mask, 1n << 14n)
  assert.equal(CD.EPD1.mask, 1n << 30n)
  assert.equal(CD.V.mask, 1n << 31n)
  assert.equal(CD.IPS.mask, 7n << 32n)
  assert.equal(CD.AA64.mask, 1n << 41n)
  assert.equal(CD.ASET.mask, 1n << 47n)
  assert.equal(CD.ASID.mask, 0xffffn << 48n)
  assert.equal(CD.TTB0.mask, ((1n << 52n) - 1n) & ~0xfn)
})

test('arm_smmu_make_s1_cd values, hand-computed', () => {
  const cd = makeS1Cd({ asid: 0x1234, ttb0: 0x8_0000_1000 })
  // lo: T0SZ 16 | IR0 1<<8 | OR0 1<<10 | SH0 3<<12 | EPD1 1<<30 | V 1<<31 = 0xc000_3510
  // hi: IPS 5 | AA64 (41→9) | R (45→13) | A (46→14) | ASET (47→15) | ASID << 16 = 0x1234_e205
  assert.equal(cd[0], 0x1234_e205_c000_3510n)
  assert.equal(cd[1], 0x8_0000_1000n)
  assert.equal(cd[3], 0x0044_04ffn)
  const d = decodeCd(cd)
  assert.equal(d.ASID, 0x1234)
  assert.equal(d.TTB0, 0x8_0000_1000)
  assert.equal(d.V, 1)
})

test('CD round trip of random field values', () => {
  const rng = new SeededRandom(9)
  for (let i = 0; i < 200; i++) {
    const f = {} as Record<string, number>
    for (const [k, fd] of Object.entries(CD)) {
      if (k === 'TTB0' || k === 'TTB1') f[k] = rng.int(2 ** 30) * 16
      else f[k] = rng.int(2 ** Math.min(fd.width, 30))
    }
    const d = decodeCd(encodeCd(f))
    for (const k of Object.keys(f)) assert.equal(d[k as keyof typeof d], f[k], k)
  }
})

test('getCdUsed: V only when V=0; TTB0 ignored with EPD0', () => {
  assert.deepEqual(getCdUsed(new Array(8).fill(0n)), [1n << 31n, 0n, 0n, 0n, 0n, 0n, 0n, 0n])
  const cd = makeS1Cd({ asid: 1, ttb0: 0x1000 })
  assert.equal(getCdUsed(cd)[1], (1n << 64n) - 1n)
  cd[0] |= CD.EPD0.mask
  assert.equal(getCdUsed(cd)[1] & CD.TTB0.mask, 0n)
})
