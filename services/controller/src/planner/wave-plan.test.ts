import assert from 'node:assert/strict'
import { test } from 'node:test'
import { resolvePolicy } from './policy.js'
import { planWaves } from './wave-plan.js'

const fleet = (n: number, racks = 4) =>
  Array.from({ length: n }, (_, i) => ({
    id: `id${i}`,
    name: `h${String(i).padStart(2, '0')}`,
    labels: { rack: `r${Math.floor(i / (n / racks))}` },
  }))

test('canary first, then waves by count and percentage; the last wave takes the rest', () => {
  const w = planWaves(fleet(20), resolvePolicy({ canary: 1, waves: [3, '25%', '100%'] }))
  assert.deepEqual(
    w.map((x) => [x.kind, x.hosts.length]),
    [
      ['canary', 1],
      ['wave', 3],
      ['wave', 5],
      ['wave', 11],
    ],
  )
  assert.equal(new Set(w.flatMap((x) => x.hosts)).size, 20)
  assert.equal(w[0].hosts[0], 'h00')
})

test('waves beyond the selection are dropped; no canary means wave 0 is a plain wave', () => {
  const w = planWaves(fleet(4), resolvePolicy({ canary: 0, waves: [2, 2, 2] }))
  assert.deepEqual(
    w.map((x) => [x.index, x.kind, x.hosts.length]),
    [
      [0, 'wave', 2],
      [1, 'wave', 2],
    ],
  )
})

test('spread deals hosts round-robin over failure domains, so each wave mixes racks', () => {
  const w = planWaves(fleet(8, 2), resolvePolicy({ canary: 0, waves: [2, 2, '100%'], spreadBy: 'rack' }))
  const rack = (name: string) => (Number(name.slice(1)) < 4 ? 'r0' : 'r1')
  for (const wave of w) assert.equal(new Set(wave.hosts.map(rack)).size, 2, `wave ${wave.index} mixes racks`)
  assert.deepEqual(w[0].hosts, ['h00', 'h04'])
  assert.deepEqual(w[1].hosts, ['h01', 'h05'])
})
