import assert from 'node:assert/strict'
import { test } from 'node:test'
import { getCdUsed, makeS1Cd } from '../context-descriptor.js'
import { createSmmuWorld } from '../smmu-world.js'
import {
  getSteUsed,
  makeAbortSte,
  makeBypassSte,
  makeCdTableSte,
  makeS2DomainSte,
} from '../stream-table-entry.js'
import { planEntryUpdate } from './entry-writer.js'

/** Like the kernel's kunit arm-smmu-v3-test.c: every intermediate entry, as the HW uses it, is the
 * initial or the target entry (hitless), or has V=0 (breaking). */
function checkIntermediates(getUsed: (e: readonly bigint[]) => bigint[], from: bigint[], to: bigint[]) {
  const plan = planEntryUpdate(getUsed, from, to)
  const cur = [...from]
  const same = (a: readonly bigint[], b: readonly bigint[]) => {
    const ua = getUsed(a)
    return a.every((q, i) => (q & ua[i]) === (b[i] & ua[i])) && ua.every((u, i) => u === getUsed(b)[i])
  }
  for (const step of plan.steps)
    for (const w of step) {
      cur[w.index] = w.value
      const ok =
        same(cur, from) ||
        same(cur, to) ||
        (plan.kind === 'breaking' && (cur[0] & 1n) === 0n && (cur[0] & (1n << 31n)) === 0n)
      assert.ok(ok, `intermediate ${cur.map((q) => q.toString(16))} is neither old nor new`)
    }
  assert.deepEqual(cur, to)
  return plan
}

test('CD: new TTB0, same ASID → hitless, one critical qword (1)', () => {
  const plan = checkIntermediates(
    getCdUsed,
    makeS1Cd({ asid: 5, ttb0: 0x1000 }),
    makeS1Cd({ asid: 5, ttb0: 0x9000 }),
  )
  assert.equal(plan.kind, 'hitless')
  assert.equal(plan.criticalQword, 1)
  assert.equal(plan.steps.length, 1)
})

test('CD: new TTB0 and new ASID → breaking (V=0 first)', () => {
  const plan = checkIntermediates(
    getCdUsed,
    makeS1Cd({ asid: 5, ttb0: 0x1000 }),
    makeS1Cd({ asid: 6, ttb0: 0x9000 }),
  )
  assert.equal(plan.kind, 'breaking')
  assert.equal(plan.steps[0][0].index, 0)
  assert.equal(plan.steps[0][0].value & (1n << 31n), 0n)
})

test('STE: S2TTB only → hitless on qword 3; S2TTB and VMID → breaking', () => {
  const a = makeS2DomainSte({ vmid: 1, s2ttb: 0x1000 })
  let plan = checkIntermediates(getSteUsed, a, makeS2DomainSte({ vmid: 1, s2ttb: 0x5000 }))
  assert.equal(plan.kind, 'hitless')
  assert.equal(plan.criticalQword, 3)
  plan = checkIntermediates(getSteUsed, a, makeS2DomainSte({ vmid: 2, s2ttb: 0x5000 }))
  assert.equal(plan.kind, 'breaking')
})

test('STE: S1ContextPtr swap → hitless on qword 0; abort → S1 → bypass transitions', () => {
  assert.equal(
    checkIntermediates(getSteUsed, makeCdTableSte(0x1000), makeCdTableSte(0x2000)).criticalQword,
    0,
  )
  // abort → CD table: used bits of qword 1 and 2 were unused before, so they are written first.
  assert.equal(checkIntermediates(getSteUsed, makeAbortSte(), makeCdTableSte(0x2000)).kind, 'hitless')
  assert.equal(checkIntermediates(getSteUsed, makeCdTableSte(0x2000), makeBypassSte()).kind, 'hitless')
  // S2 → S1: hitless only if S2VMID (used by both) stays; VMID 1 → 0 is a second critical qword.
  assert.equal(
    checkIntermediates(getSteUsed, makeS2DomainSte({ vmid: 0, s2ttb: 0x1000 }), makeCdTableSte(0x2000)).kind,
    'hitless',
  )
  assert.equal(
    checkIntermediates(getSteUsed, makeS2DomainSte({ vmid: 1, s2ttb: 0x1000 }), makeCdTableSte(0x2000)).kind,
    'breaking',
  )
  assert.equal(planEntryUpdate(getSteUsed, makeBypassSte(), makeBypassSte()).kind, 'none')
})

test('writeSte issues CFGI_STE + CMD_SYNC after each step', () => {
  const w = createSmmuWorld()
  const before = w.driver.cmdq.issued
  const plan = w.driver.writeSte(1, makeS2DomainSte({ vmid: 2, s2ttb: 0x5000 }))
  assert.equal(plan.kind, 'hitless') // from the initial abort STE
  assert.equal(w.driver.cmdq.issued - before, plan.steps.length * 2)
  assert.deepEqual(w.driver.readSte(1), makeS2DomainSte({ vmid: 2, s2ttb: 0x5000 }))
})
