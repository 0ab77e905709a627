import assert from 'node:assert/strict'
import { test } from 'node:test'
import { HARDWARE, STATE_FAULT_INJECTIONS, UPDATE_STEPS } from '@hitless/protocol'
import { simulateUpdate } from './simulate.js'

const HITLESS_STRATEGIES = ['serialise', 'replay-verify', 'fresh-switch'] as const

for (const hardware of HARDWARE) {
  for (const strategy of HITLESS_STRATEGIES) {
    test(`${strategy} on ${hardware}: no fault, same state, DMA through the blackout`, async () => {
      const r = await simulateUpdate({ hardware, strategy, mappings: 512, seed: 7 })
      assert.equal(r.outcome, 'completed', r.reason)
      assert.deepEqual(r.faults, { groundTruth: 0, recorded: 0, lost: 0 })
      assert.equal(r.verdict, 'hitless', r.reasons.join('\n'))
      assert.ok(r.dmaDuringBlackout! >= r.dmaFloor, `${r.dmaDuringBlackout} DMA accesses during the blackout`)
      assert.ok(r.blackoutMs! > 0)
    })
  }
  test(`naive on ${hardware} faults (the control experiment)`, async () => {
    const r = await simulateUpdate({ hardware, strategy: 'naive', mappings: 512, seed: 7 })
    assert.ok(r.faults.groundTruth > 0)
    assert.equal(r.verdict, 'faulted')
  })
}

for (const inject of STATE_FAULT_INJECTIONS) {
  for (const strategy of HITLESS_STRATEGIES) {
    for (const hardware of ['smmuv3-bbml0', 'vtd-scalable'] as const) {
      test(`${inject} under ${strategy} on ${hardware} is caught, never a success`, async () => {
        const r = await simulateUpdate({
          hardware,
          strategy,
          mappings: 256,
          seed: 3,
          inject: [inject],
          slowKexecMs: 1100,
        })
        assert.notEqual(r.verdict, 'hitless', r.reasons.join('\n'))
        const caught =
          r.outcome !== 'completed' ||
          r.faults.groundTruth + r.faults.recorded + r.faults.lost > 0 ||
          r.verdict === 'diverged' ||
          r.verdict === 'faulted'
        assert.ok(caught, JSON.stringify({ outcome: r.outcome, verdict: r.verdict }))
        if (inject === 'corrupt-blob' || inject === 'truncate-blob') {
          assert.equal(r.outcome, 'failed-held')
          assert.match(r.reason!, /handover refused \((checksum|truncated)\)/)
          // The preserved tables stayed live: the refusal cost no fault.
          assert.equal(r.faults.groundTruth, 0)
        }
      })
    }
  }
}

test('replay-verify refuses each disagreement with the preserved tables and keeps them live', async () => {
  for (const inject of ['drop-mapping', 'extra-mapping', 'alter-perm', 'shift-pa', 'leaf-size'] as const) {
    const r = await simulateUpdate({
      hardware: 'vtd-legacy',
      strategy: 'replay-verify',
      mappings: 256,
      inject: [inject],
    })
    assert.equal(r.outcome, 'failed-held')
    assert.match(r.reason!, /restore refused \(tables\./)
    assert.equal(r.faults.groundTruth, 0)
  }
})

for (const step of UPDATE_STEPS) {
  test(`an agent crash at ${step} ends in a resumed, hitless update`, async () => {
    const r = await simulateUpdate({
      hardware: 'smmuv3-bbml2',
      strategy: 'replay-verify',
      mappings: 256,
      inject: [`crash:${step}`],
    })
    assert.deepEqual(r.crashes, [step])
    assert.equal(r.outcome, 'completed')
    assert.equal(r.verdict, 'hitless', r.reasons.join('\n'))
  })
}

test('fresh-switch with a leaf-size change: switched on BBML2, refused by policy on BBML0', async () => {
  const bbml2 = await simulateUpdate({
    hardware: 'smmuv3-bbml2',
    strategy: 'fresh-switch',
    mappings: 256,
    inject: ['leaf-size'],
  })
  assert.ok(bbml2.restore?.notes.some((n) => /switched by cd-ttb0-swap-keep-asid-resized/.test(n)))
  assert.equal(bbml2.faults.groundTruth, 0)
  const refuse = await simulateUpdate({
    hardware: 'smmuv3-bbml0',
    strategy: 'fresh-switch',
    mappings: 256,
    inject: ['leaf-size'],
    fallback: 'refuse',
  })
  assert.equal(refuse.outcome, 'failed-held')
  assert.match(refuse.reason!, /restore refused \(switch\)/)
  assert.equal(refuse.faults.groundTruth, 0)
})
