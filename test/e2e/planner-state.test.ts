// The loop reads rollouts incrementally (loop/rollout-state.repository.ts, PlannerRollouts):
// after every kind of write the planner depends on, what it keeps must equal a full read,
// including a write whose transaction was open across a read.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { sqlTransaction } from '@hitless/db'
import type { Rollout } from '@hitless/protocol'
import {
  loadPlannerRollouts,
  PlannerRollouts,
} from '../../services/controller/src/loop/rollout-state.repository.js'
import type { PlannerRollout } from '../../services/controller/src/planner/types.js'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { emulatedFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import { api, KERNEL, startPlatform, type TestPlatform } from '../support/platform.js'

let p: TestPlatform
let rolloutId: string
let updates: Rollout['hosts']

before(async () => {
  p = await startPlatform({ startLoop: false })
  const cfg = loadAgentConfig(['--hosts', '8', '--agent-id', 'emu-inc'], p.agentEnv)
  const agent = new HostAgent(cfg, emulatedFleet(cfg.agentId, cfg.hosts, 5))
  await agent.start()
  await agent.stop() // enrolled; nothing runs
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { labels: { fleet: 'emu-inc' } },
    policy: { canary: 1, waves: ['50%', '100%'], maxConcurrent: 3, spreadBy: 'rack' },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  rolloutId = created.body.id
  updates = created.body.hosts
})
after(async () => p?.close())

/** Planner input in a stable order (waves by index, updates by id). */
function norm(rs: PlannerRollout[]): string {
  return JSON.stringify(
    rs.map((r) => ({
      ...r,
      waves: [...r.waves].sort((a, b) => a.index - b.index),
      updates: [...r.updates].sort((a, b) => (a.id < b.id ? -1 : 1)),
    })),
  )
}

async function same(inc: PlannerRollouts, what: string): Promise<PlannerRollout> {
  const kept = await inc.load()
  assert.equal(norm(kept), norm(await loadPlannerRollouts(p.db)), what)
  return kept.find((r) => r.id === rolloutId)!
}

test('what the loop keeps of a rollout equals a full read after each kind of write', async () => {
  const inc = new PlannerRollouts(p.db, 3600000) // never a periodic full read here
  await same(inc, 'first read')
  const [a, b, c] = updates.map((u) => u.id)
  const hostOf = async (id: string) => (await p.db.hostUpdate.findUniqueOrThrow({ where: { id } })).hostId

  await p.db.wave.updateMany({ where: { rolloutId, index: 0 }, data: { startedAt: new Date() } })
  await same(inc, 'a wave started')
  await p.db.hostUpdate.update({ where: { id: a }, data: { state: 'QUEUED', dispatchEpoch: 1 } })
  await same(inc, 'an update dispatched')
  await p.db.hostUpdate.update({ where: { id: a }, data: { state: 'RUNNING' } })
  let r = await same(inc, 'an update running')
  // A KEXEC step starting without the update's row written (only the step's).
  await p.db.updateStep.create({
    data: {
      updateId: a,
      attempt: 1,
      step: 'KEXEC',
      status: 'running',
      startedAt: new Date(Date.now() - 5000),
    },
  })
  r = await same(inc, 'KEXEC started')
  assert.ok(r.updates.find((u) => u.id === a)?.kexecRunningSince, 'the KEXEC start is seen')
  await p.db.host.update({ where: { id: await hostOf(b) }, data: { state: 'CORDONED' } })
  r = await same(inc, "a host's state")
  assert.equal(r.updates.find((u) => u.id === b)?.hostReady, false)
  await p.db.host.update({
    where: { id: await hostOf(c) },
    data: { labels: { rack: 'elsewhere', zone: 'z1', fleet: 'emu-inc' } },
  })
  r = await same(inc, "a host's labels")
  assert.equal(r.updates.find((u) => u.id === c)?.domain, 'elsewhere')
  await p.db.hostUpdate.update({ where: { id: a }, data: { state: 'VERIFYING' } })
  await p.db.verdictRecord.create({ data: { updateId: a, verdict: 'unverified', reasons: ['test'] } })
  r = await same(inc, 'a verdict')
  assert.equal(r.updates.find((u) => u.id === a)?.verdict, 'unverified')
  await p.db.rollout.update({ where: { id: rolloutId }, data: { phase: 'PAUSED' } })
  await same(inc, "the rollout's phase")

  // A write whose transaction is open while the loop reads, committed after: seen next time.
  let release!: () => void
  const held = new Promise<void>((res) => {
    release = res
  })
  let written!: () => void
  const wrote = new Promise<void>((res) => {
    written = res
  })
  const tx = sqlTransaction(p.db, async (t) => {
    await t.query(`UPDATE "HostUpdate" SET state = 'QUEUED', "updatedAt" = now() WHERE id = $1`, [b])
    written()
    await held
  })
  await wrote
  r = await same(inc, 'a write not committed yet')
  assert.equal(r.updates.find((u) => u.id === b)?.state, 'PENDING')
  release()
  await tx
  r = await same(inc, 'the write committed')
  assert.equal(r.updates.find((u) => u.id === b)?.state, 'QUEUED')

  // A rollout ended is no longer planned; one created is read whole.
  await p.db.rollout.update({ where: { id: rolloutId }, data: { phase: 'ABORTED' } })
  assert.deepEqual(await inc.load(), [])
})
