import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { ControllerMetrics } from '../../services/controller/src/metrics.js'
import { api, startPlatform, type TestPlatform } from '../support/platform.js'

// /metrics over real HTTP and PostgreSQL: counters and histograms are totals over every row, equal
// to the rows' counts, never lower than a previous scrape (an operator's retry included), and
// not capped at the latest 10,000 blackouts / 1,000 waves the exporter once rebuilt them from.

const BLACKOUT_LE = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30]
const WAVE_LE = [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400]
const RESULTS = ['SUCCEEDED', 'NEEDS_REVIEW', 'FAILED', 'FAILED_HELD', 'CANCELLED']
const HARDWARE = ['smmuv3-bbml2', 'vtd-sm']
const T0 = Date.parse('2026-01-01T00:00:00Z')

let p: TestPlatform
/** Retried attempts: what the audit keeps of them (the row no longer does). */
const retried: {
  state: string
  verdict: string | null
  blackoutMs: number | null
  faults: Record<string, number> | null
  hardware: string
  strategy: string
}[] = []
/** Every value exported so far, by series: later scrapes must not go below it. */
const seen = new Map<string, number>()

type Scrape = { types: Map<string, string>; values: Map<string, number> }

async function scrape(): Promise<Scrape> {
  const res = await fetch(`${p.url}/metrics`)
  assert.equal(res.status, 200)
  const types = new Map<string, string>()
  const values = new Map<string, number>()
  for (const line of (await res.text()).split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (t) types.set(t[1], t[2])
    else if (line && !line.startsWith('#')) {
      const i = line.lastIndexOf(' ')
      values.set(line.slice(0, i), Number(line.slice(i + 1)))
    }
  }
  return { types, values }
}

const key = (name: string, labels: Record<string, string> = {}) =>
  `${name}${
    Object.keys(labels).length
      ? `{${Object.entries(labels)
          .map(([k, v]) => `${k}="${v}"`)
          .join(',')}}`
      : ''
  }`

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b))

/**
 * The series must be exported, never below what an earlier scrape said, and equal to the rows'
 * value unless that went down (a retry) — then it stays where it was.
 */
function expectSeries(s: Scrape, k: string, fromRows: number): number {
  const v = s.values.get(k)
  assert.ok(v !== undefined, `${k} is not exported`)
  const before = seen.get(k) ?? 0
  assert.ok(v >= before || close(v, before), `${k} went down from ${before} to ${v}`)
  const want = Math.max(before, fromRows)
  assert.ok(close(v, want), `${k} is ${v}, the rows say ${fromRows} (earlier ${before})`)
  seen.set(k, v)
  return v
}

/** A histogram against the observations in PostgreSQL: cumulative buckets, +Inf = _count, _sum. */
function expectHistogram(
  s: Scrape,
  name: string,
  bounds: number[],
  labels: Record<string, string>,
  obs: number[],
) {
  assert.equal(s.types.get(name), 'histogram')
  let previous = 0
  for (const le of bounds) {
    const v = expectSeries(
      s,
      key(`${name}_bucket`, { ...labels, le: String(le) }),
      obs.filter((o) => o <= le).length,
    )
    assert.ok(v >= previous, `${name}{le="${le}"} ${v} is below the previous bucket's ${previous}`)
    previous = v
  }
  const count = expectSeries(s, key(`${name}_count`, labels), obs.length)
  assert.ok(count >= previous)
  assert.equal(s.values.get(key(`${name}_bucket`, { ...labels, le: '+Inf' })), count)
  expectSeries(
    s,
    key(`${name}_sum`, labels),
    obs.reduce((a, b) => a + b, 0),
  )
}

/** Every counter and histogram of one scrape against the rows. */
async function check(): Promise<Scrape> {
  const s = await scrape()
  for (const n of ['hitless_host_updates_total', 'hitless_verdicts_total', 'hitless_dma_faults_total'])
    assert.equal(s.types.get(n), 'counter', n)
  for (const n of [
    'hitless_rollout_phase',
    'hitless_host_updates_in_flight',
    'hitless_queue_depth',
    'hitless_hosts',
  ])
    assert.equal(s.types.get(n), 'gauge', n)

  const states = await p.db.hostUpdate.groupBy({ by: ['state'], _count: true })
  for (const r of RESULTS) {
    const rows = states.find((x) => x.state === r)?._count ?? 0
    const again = retried.filter((x) => x.state === r).length
    expectSeries(s, key('hitless_host_updates_total', { result: r.toLowerCase() }), rows + again)
  }
  for (const x of states.filter((x) => !RESULTS.includes(x.state)))
    assert.equal(s.values.get(key('hitless_host_updates_in_flight', { state: x.state })), x._count)

  const verdicts = await p.db.verdictRecord.findMany({ include: { update: { include: { host: true } } } })
  for (const kind of new Set([
    ...verdicts.map((v) => v.verdict),
    ...retried.flatMap((r) => r.verdict ?? []),
  ])) {
    const n =
      verdicts.filter((v) => v.verdict === kind).length + retried.filter((r) => r.verdict === kind).length
    expectSeries(s, key('hitless_verdicts_total', { verdict: kind }), n)
  }
  for (const hw of new Set(verdicts.map((v) => v.update.host.hardware)))
    for (const kind of ['groundTruth', 'recorded', 'lost']) {
      const sum =
        verdicts
          .filter((v) => v.update.host.hardware === hw && v.faults)
          .reduce((a, v) => a + Number((v.faults as Record<string, number>)[kind] ?? 0), 0) +
        retried.filter((r) => r.hardware === hw && r.faults).reduce((a, r) => a + (r.faults![kind] ?? 0), 0)
      expectSeries(s, key('hitless_dma_faults_total', { hardware: hw, kind }), sum)
    }

  const blackouts = await p.db.hostUpdate.findMany({
    where: { blackoutMs: { not: null } },
    select: { blackoutMs: true, rollout: { select: { strategy: true } } },
  })
  for (const strategy of new Set(blackouts.map((b) => b.rollout.strategy)))
    expectHistogram(s, 'hitless_host_blackout_seconds', BLACKOUT_LE, { strategy }, [
      ...blackouts.filter((b) => b.rollout.strategy === strategy).map((b) => b.blackoutMs! / 1000),
      ...retried
        .filter((r) => r.strategy === strategy && r.blackoutMs !== null)
        .map((r) => r.blackoutMs! / 1000),
    ])
  const waves = await p.db.wave.findMany({ where: { startedAt: { not: null }, finishedAt: { not: null } } })
  expectHistogram(
    s,
    'hitless_wave_duration_seconds',
    WAVE_LE,
    {},
    waves.map((w) => (w.finishedAt!.getTime() - w.startedAt!.getTime()) / 1000),
  )
  return s
}

/** Ends updates of rollout `ro-m` as the agent and verifier would: state, blackout, verdict. */
async function finish(hosts: number[], state: string, blackoutMs: (i: number) => number, verdict: string) {
  for (const i of hosts) {
    const u = await p.db.hostUpdate.update({
      where: { rolloutId_hostId: { rolloutId: 'ro-m', hostId: `mh${i}` } },
      data: {
        state: state as 'SUCCEEDED',
        blackoutMs: blackoutMs(i),
        startedAt: new Date(T0 + i * 1000),
        finishedAt: new Date(T0 + i * 1000 + 60_000),
      },
    })
    await p.db.verdictRecord.create({
      data: {
        updateId: u.id,
        verdict,
        reasons: [],
        faults: { groundTruth: i % 3, recorded: i % 3, lost: verdict === 'faulted' ? 1 : 0 },
      },
    })
  }
}

before(async () => {
  p = await startPlatform({ startLoop: false })
  await p.db.kernel.create({
    data: { id: 'k-metrics', version: '7.2.13-hitless1', image: '/boot/vmlinuz', sha256: 'ab'.repeat(32) },
  })
  await p.db.host.createMany({
    data: Array.from({ length: 100 }, (_, i) => ({
      id: `mh${i}`,
      name: `metrics-${i}`,
      agentId: 'metrics',
      hardware: HARDWARE[i % 2],
      kernel: '6.19.0-hitless0',
      bootId: `b${i}`,
    })),
  })
  await p.db.rollout.create({
    data: {
      id: 'ro-m',
      name: 'metrics',
      kernelId: 'k-metrics',
      strategy: 'serialise',
      policy: {},
      phase: 'RUNNING',
    },
  })
  await p.db.wave.create({ data: { id: 'ro-m-w0', rolloutId: 'ro-m', index: 0, hostCount: 20 } })
  await p.db.hostUpdate.createMany({
    data: Array.from({ length: 20 }, (_, i) => ({
      id: `ro-m-u${i}`,
      rolloutId: 'ro-m',
      waveId: 'ro-m-w0',
      hostId: `mh${i}`,
      order: i,
      toKernel: '7.2.13-hitless1',
    })),
  })
})
after(async () => p?.close())

test('counters and histograms equal the rows, scrape after scrape, and never go down', async () => {
  // Values on bucket bounds (50 ms, 300 ms) count in that bucket (le is "less or equal").
  await finish([0, 1, 2, 3, 4], 'SUCCEEDED', (i) => [50, 300, 12.5, 7, 1800][i], 'hitless')
  const first = await check()
  assert.equal(first.values.get('hitless_host_blackout_seconds_bucket{strategy="serialise",le="0.05"}'), 3)
  assert.equal(first.values.get('hitless_host_updates_total{result="succeeded"}'), 5)
  assert.equal(first.values.get('hitless_host_updates_in_flight{state="PENDING"}'), 15)

  await finish([5, 6, 7, 8, 9, 10, 11], 'SUCCEEDED', (i) => 20 + i * 7.25, 'consistent')
  await finish([12, 13], 'FAILED', (i) => 40_000 + i, 'faulted')
  await p.db.wave.update({
    where: { id: 'ro-m-w0' },
    data: { startedAt: new Date(T0), finishedAt: new Date(T0 + 95_000) },
  })
  const second = await check()
  assert.equal(second.values.get('hitless_host_updates_total{result="succeeded"}'), 12)
  assert.equal(second.values.get('hitless_host_updates_total{result="failed"}'), 2)
  assert.equal(second.values.get('hitless_wave_duration_seconds_count'), 1)
  assert.equal(second.values.get('hitless_wave_duration_seconds_bucket{le="60"}'), 0)
  assert.equal(second.values.get('hitless_wave_duration_seconds_bucket{le="120"}'), 1)

  // An operator's retry clears the failed attempt's state, blackout and verdict in PostgreSQL;
  // its audit entry keeps them, and the totals add them back.
  const was = await p.db.hostUpdate.findFirstOrThrow({
    where: { hostId: 'mh12' },
    include: { verdict: true, host: true, rollout: true },
  })
  const r = await api(p, p.adminToken, 'POST', '/api/v1/rollouts/ro-m/hosts/metrics-12/retry')
  assert.equal(r.status, 200, JSON.stringify(r.body))
  retried.push({
    state: 'FAILED',
    verdict: 'faulted',
    blackoutMs: was.blackoutMs,
    faults: was.verdict!.faults as Record<string, number>,
    hardware: was.host.hardware,
    strategy: was.rollout.strategy,
  })
  // A new replica (no value held from earlier scrapes) exports the same totals: they are exact,
  // not merely held.
  const fresh = new ControllerMetrics()
  const text = await fresh.collect(p.db, p.controller.ctx.queues, false)
  for (const line of [
    'hitless_host_blackout_seconds_count{strategy="serialise"} 14',
    'hitless_host_updates_total{result="failed"} 2',
    'hitless_verdicts_total{verdict="faulted"} 2',
  ])
    assert.ok(text.split('\n').includes(line), `${line} in a fresh exporter`)
  // mh12 (the retried one) is the only faulted attempt on its hardware (mh13 is on the other):
  // its lost fault is still counted, though its verdict row is gone.
  const lost = text
    .split('\n')
    .find((l) => l.startsWith(`hitless_dma_faults_total{hardware="${was.host.hardware}",kind="lost"}`))
  assert.equal(Number(lost?.split(' ')[1]), 1, String(lost))
  const third = await check()
  assert.equal(third.values.get('hitless_host_updates_total{result="failed"}'), 2)
  assert.equal(third.values.get('hitless_verdicts_total{verdict="faulted"}'), 2)
  assert.equal(third.values.get('hitless_host_blackout_seconds_count{strategy="serialise"}'), 14)
  assert.equal(third.values.get('hitless_host_updates_in_flight{state="PENDING"}'), 7)
})

test('totals over every row: more than the 10,000 blackouts and 1,000 waves once kept', async () => {
  const rollouts = 130
  for (let b = 0; b < rollouts; b++) {
    const id = `ro-bulk-${b}`
    await p.db.rollout.create({
      data: {
        id,
        name: id,
        kernelId: 'k-metrics',
        strategy: b % 2 ? 'serialise' : 'parallel',
        policy: {},
        phase: 'COMPLETED',
        waves: {
          create: Array.from({ length: 10 }, (_, w) => ({
            id: `${id}-w${w}`,
            index: w,
            hostCount: 10,
            startedAt: new Date(T0 + w * 3_600_000),
            finishedAt: new Date(T0 + w * 3_600_000 + ((b * 10 + w) % 400) * 37_000),
          })),
        },
      },
    })
    await p.db.hostUpdate.createMany({
      data: Array.from({ length: 100 }, (_, h) => ({
        id: `${id}-u${h}`,
        rolloutId: id,
        waveId: `${id}-w${h % 10}`,
        hostId: `mh${h}`,
        state: 'SUCCEEDED' as const,
        toKernel: '7.2.13-hitless1',
        blackoutMs: ((b * 100 + h) % 997) * 1.5 + 3,
        finishedAt: new Date(T0 + b * 1000 + h),
      })),
    })
  }
  const s = await check()
  const blackouts = await p.db.hostUpdate.count({ where: { blackoutMs: { not: null } } })
  assert.ok(blackouts > 13_000)
  const count = (strategy: string) =>
    s.values.get(`hitless_host_blackout_seconds_count{strategy="${strategy}"}`)!
  // Every row's blackout, and the retried attempt's kept in its audit entry.
  assert.equal(count('serialise') + count('parallel'), blackouts + retried.length)
  assert.equal(s.values.get('hitless_wave_duration_seconds_count'), rollouts * 10 + 1)
  assert.equal(s.values.get('hitless_host_updates_total{result="succeeded"}'), 12 + rollouts * 100)
  await check()
})

test('the pre-existing gauges still report the current state', async () => {
  const s = await scrape()
  assert.equal(s.values.get('hitless_rollout_phase{rollout="ro-m",name="metrics",phase="RUNNING"}'), 1)
  assert.equal(s.values.get('hitless_rollouts{phase="COMPLETED"}'), 130)
  assert.equal(s.values.get('hitless_rollout_info_hosts{rollout="ro-m",state="SUCCEEDED"}'), 12)
  assert.equal(s.values.get('hitless_hosts{state="REGISTERED"}'), 100)
  assert.equal(s.values.get('hitless_controller_leader'), 0)
  assert.equal(s.types.get('hitless_controller_lease_epoch'), 'gauge')
})
