// The dashboards' statistics counted exactly (hitless rate by time, hardware and strategy from
// known verdicts), and the event stream resumed with Last-Event-ID (what an EventSource does after
// a dropped connection): only what changed after that id is replayed.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Rollout } from '@hitless/protocol'
import { api, KERNEL, startPlatform, type TestPlatform } from '../support/platform.js'

let p: TestPlatform
let rollout: Rollout
before(async () => {
  // No loop: nothing moves unless the test moves it.
  p = await startPlatform({ startLoop: false })
  const enrol = await api(p, p.adminToken, 'POST', '/api/v1/agent/enrol', {
    agentId: 'stats',
    hosts: ['s0', 's1', 's2', 's3', 's4'].map((name, i) => ({
      name,
      hardware: i < 3 ? 'smmuv3-bbml2' : 'vtd-scalable',
      kernel: '6.19',
      bootId: `b-${name}`,
    })),
  })
  assert.equal(enrol.status, 200)
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'replay-verify',
    selector: { names: ['s0', 's1', 's2', 's3', 's4'] },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  rollout = created.body
})
after(async () => p?.close())

interface Counts {
  updates: number
  hitless: number
  unverified: number
  faulted: number
  hitlessRate: number | null
}

test('statistics: hitless rate over time, by hardware and by strategy, from the verdicts given', async () => {
  const byName = new Map(rollout.hosts.map((h) => [h.hostName, h.id]))
  // s0 s1 hitless and s2 faulted (SMMUv3) an hour apart from s3 hitless and s4 unverified (VT-d).
  const given: [string, string, string][] = [
    ['s0', 'hitless', '2026-11-20T10:05:00Z'],
    ['s1', 'hitless', '2026-11-20T10:40:00Z'],
    ['s2', 'faulted', '2026-11-20T10:59:00Z'],
    ['s3', 'hitless', '2026-11-20T11:10:00Z'],
    ['s4', 'unverified', '2026-11-20T11:20:00Z'],
  ]
  for (const [name, verdict, at] of given)
    await p.db.verdictRecord.create({
      data: { updateId: byName.get(name)!, verdict, reasons: [], createdAt: new Date(at) },
    })
  const r = await api<{
    overTime: (Counts & { at: string })[]
    byHardware: (Counts & { hardware: string })[]
    byStrategy: (Counts & { strategy: string })[]
  }>(p, p.adminToken, 'GET', '/api/v1/stats?since=2026-11-20T00:00:00Z&bucket=hour')
  assert.equal(r.status, 200, JSON.stringify(r.body))
  const pick = ({ updates, hitless, faulted, unverified, hitlessRate }: Counts) => ({
    updates,
    hitless,
    faulted,
    unverified,
    hitlessRate,
  })
  assert.deepEqual(
    r.body.overTime.map((b) => [b.at, pick(b)]),
    [
      ['2026-11-20T10:00:00Z', { updates: 3, hitless: 2, faulted: 1, unverified: 0, hitlessRate: 2 / 3 }],
      // Unverified is judged and never a success.
      ['2026-11-20T11:00:00Z', { updates: 2, hitless: 1, faulted: 0, unverified: 1, hitlessRate: 0.5 }],
    ],
  )
  assert.deepEqual(
    r.body.byHardware.map((b) => [b.hardware, pick(b)]),
    [
      ['smmuv3-bbml2', { updates: 3, hitless: 2, faulted: 1, unverified: 0, hitlessRate: 2 / 3 }],
      ['vtd-scalable', { updates: 2, hitless: 1, faulted: 0, unverified: 1, hitlessRate: 0.5 }],
    ],
  )
  assert.deepEqual(
    r.body.byStrategy.map((b) => [b.strategy, pick(b)]),
    [['replay-verify', { updates: 5, hitless: 3, faulted: 1, unverified: 1, hitlessRate: 0.6 }]],
  )
  // `since` bounds it.
  const later = await api<{ overTime: Counts[] }>(
    p,
    p.adminToken,
    'GET',
    '/api/v1/stats?since=2026-11-20T11:00:00Z',
  )
  assert.equal(
    later.body.overTime.reduce((a, b) => a + b.updates, 0),
    2,
  )
})

/** Reads the stream until `until` matches what arrived (or 5 s pass); returns the events. */
async function readEvents(headers: Record<string, string>, until: RegExp) {
  const ctrl = new AbortController()
  const res = await fetch(`${p.url}/api/v1/events?rolloutId=${rollout.id}`, {
    headers: { authorization: `Bearer ${p.adminToken}`, ...headers },
    signal: ctrl.signal,
  })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
  const reader = res.body!.getReader()
  let text = ''
  const deadline = Date.now() + 5000
  while (!until.test(text) && Date.now() < deadline) {
    const chunk = await Promise.race([
      reader.read(),
      new Promise<{ value?: undefined }>((r) => setTimeout(() => r({}), 500)),
    ])
    if (chunk.value) text += new TextDecoder().decode(chunk.value)
  }
  ctrl.abort()
  return text
    .split('\n\n')
    .filter((b) => b.startsWith('id: '))
    .map((b) => {
      const [id, event, data] = b.split('\n').map((l) => l.slice(l.indexOf(': ') + 2))
      return { id, event, data: JSON.parse(data) as { id: string; state?: string; hostName?: string } }
    })
}

test('the event stream resumes after Last-Event-ID with only what changed since', async () => {
  const [a, b] = rollout.hosts
  const t1 = new Date(Date.now() - 60000)
  const t2 = new Date(t1.getTime() + 1000)
  await p.db.hostUpdate.update({ where: { id: a.id }, data: { state: 'CANCELLED', updatedAt: t1 } })
  await p.db.hostUpdate.update({ where: { id: b.id }, data: { state: 'FAILED', updatedAt: t2 } })
  // The id of a's event is its change's time: resuming from it replays b's change and not a's.
  const resumed = await readEvents({ 'last-event-id': String(t1.getTime()) }, new RegExp(`"id":"${b.id}"`))
  const ids = resumed.map((e) => e.data.id)
  assert.ok(ids.includes(b.id), JSON.stringify(resumed))
  assert.ok(!ids.includes(a.id), 'a change at or before Last-Event-ID is not replayed')
  assert.equal(resumed.find((e) => e.data.id === b.id)?.data.state, 'FAILED')
  assert.ok(resumed.every((e) => Number(e.id) > t1.getTime()))
  // From before both: both, in order.
  const all = await readEvents({ 'last-event-id': String(t1.getTime() - 1) }, new RegExp(`"id":"${b.id}"`))
  const order = all.map((e) => e.data.id).filter((id) => id === a.id || id === b.id)
  assert.deepEqual(order, [a.id, b.id])
})
