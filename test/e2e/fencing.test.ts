import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Queue } from 'bullmq'
import { type HostUpdateJob, hostUpdateJobId, hostUpdateQueueName, type Rollout } from '@hitless/protocol'
import { ControllerLoop } from '../../services/controller/src/loop/controller-loop.js'
import { QueueRepository } from '../../services/controller/src/queues/queue.repository.js'
import { KernelService } from '../../services/controller/src/services/kernel.service.js'
import { LeaseService } from '../../services/controller/src/services/lease.service.js'
import { RolloutService } from '../../services/controller/src/services/rollout.service.js'
import { api, KERNEL, startPlatform, type TestPlatform } from '../support/platform.js'

// Fencing without timing luck: two loops on one database, driven tick by tick. The in-process
// platform's own loop never starts, so the test decides who leads.

let p: TestPlatform
let queues: QueueRepository
let queue: Queue
const tokens = new Map<string, string>()

function replica(): { loop: ControllerLoop; lease: LeaseService } {
  const lease = new LeaseService(p.db, 60000)
  const kernels = new KernelService(p.db)
  const loop = new ControllerLoop(p.db, queues, lease, new RolloutService(p.db, kernels), kernels, {
    intervalMs: 100,
    heartbeatTimeoutMs: 600000,
  })
  return { loop, lease }
}

/** Ends the current lease (as if its holder stopped renewing long ago). */
const expireLease = () => p.db.controllerLease.update({ where: { id: 1 }, data: { expiresAt: new Date(0) } })

before(async () => {
  p = await startPlatform({ startLoop: false })
  queues = new QueueRepository(p.redisUrl, p.redisPrefix)
  queue = new Queue(hostUpdateQueueName('fence'), { connection: { url: p.redisUrl }, prefix: p.redisPrefix })
  const enrol = await api<{ hosts: { id: string; name: string; token: string }[] }>(
    p,
    p.adminToken,
    'POST',
    '/api/v1/agent/enrol',
    {
      agentId: 'fence',
      hosts: ['f1', 'f2', 'f3'].map((name) => ({
        name,
        hardware: 'vtd-scalable',
        kernel: '6.19',
        bootId: `b-${name}`,
      })),
    },
  )
  for (const h of enrol.body.hosts) tokens.set(h.name, h.token)
})
after(async () => {
  await queue.close()
  await queues.close()
  await p?.close()
})

async function claim(hostName: string, updateId: string, attempt: number, epoch: number) {
  return api<{ code?: string; action?: string }>(
    p,
    tokens.get(hostName),
    'POST',
    `/api/v1/agent/updates/${updateId}/claim`,
    {
      attempt,
      epoch,
      worker: `w-${epoch}`,
      step: 'PREFLIGHT',
    },
  )
}

test("a stale leader's writes are refused, and its jobs' claims too", async () => {
  const a = replica()
  const b = replica()
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { labels: {}, names: ['f1', 'f2'] },
    policy: { canary: 1, waves: ['100%'], maxConcurrent: 2, onUnverified: 'continue' },
  })
  assert.equal(created.status, 201)
  const id = created.body.id
  const byHost = new Map(created.body.hosts.map((h) => [h.hostName, h.id]))

  await a.loop.tick() // A leads (epoch e1) and dispatches the canary f1
  const e1 = a.lease.currentEpoch!
  const f1 = await p.db.hostUpdate.findUniqueOrThrow({ where: { id: byHost.get('f1')! } })
  assert.deepEqual([f1.state, f1.dispatchEpoch], ['QUEUED', e1])

  await expireLease()
  await b.loop.tick() // B takes over: epoch e2
  const e2 = b.lease.currentEpoch!
  assert.equal(e2, e1 + 1)

  // A still believes it leads: its fenced write is refused and changes nothing.
  await assert.rejects(
    a.loop.apply(e1, { id, phase: 'RUNNING' }, [{ kind: 'pause', reason: 'stale leader' }]),
    (e: { code?: string }) => e.code === 'HITLESS_E_STALE_CLAIM',
  )
  assert.equal((await p.db.rollout.findUniqueOrThrow({ where: { id } })).phase, 'RUNNING')
  // A's own loop does nothing either: it cannot renew a lease B holds.
  await a.loop.tick()
  assert.equal(a.lease.currentEpoch, undefined)

  // The canary ends; B dispatches f2 with its epoch. A job A enqueued for f2 with its old epoch
  // (had it dispatched before losing the lease) is a different job, and its claim is refused.
  await p.db.hostUpdate.update({ where: { id: f1.id }, data: { state: 'NEEDS_REVIEW' } })
  await b.loop.tick()
  const f2 = await p.db.hostUpdate.findUniqueOrThrow({ where: { id: byHost.get('f2')! } })
  assert.deepEqual([f2.state, f2.dispatchEpoch], ['QUEUED', e2])
  const stale: HostUpdateJob = {
    updateId: f2.id,
    rolloutId: id,
    hostId: f2.hostId,
    attempt: 1,
    epoch: e1,
    strategy: 'serialise',
    kernel: KERNEL,
  }
  await queues.enqueueHostUpdate('fence', stale)
  const jobs = await queue.getJobs(['waiting'])
  const forF2 = jobs.filter((j) => (j.data as HostUpdateJob).updateId === f2.id).map((j) => j.id)
  assert.deepEqual(
    forF2.sort(),
    [hostUpdateJobId(id, f2.hostId, 1, e1), hostUpdateJobId(id, f2.hostId, 1, e2)].sort(),
  )
  const refused = await claim('f2', f2.id, 1, e1)
  assert.equal(refused.status, 409)
  assert.equal(refused.body.code, 'HITLESS_E_STALE_CLAIM')
  const accepted = await claim('f2', f2.id, 1, e2)
  assert.deepEqual([accepted.status, accepted.body.action], [200, 'run'])
})

test('a leader that dies between its commit and its enqueue: the next leader enqueues the job', async () => {
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { names: ['f3'] },
    policy: { canary: 0, onUnverified: 'continue' },
  })
  assert.equal(created.status, 201)
  const c = replica()
  await expireLease()
  // C commits the dispatch, then "dies" before enqueueing: its queue door is shut.
  const original = queues.enqueueHostUpdate.bind(queues)
  queues.enqueueHostUpdate = async () => {
    throw new Error('process killed')
  }
  await c.loop.tick()
  queues.enqueueHostUpdate = original
  const u = await p.db.hostUpdate.findFirstOrThrow({ where: { rolloutId: created.body.id } })
  assert.equal(u.state, 'QUEUED')
  const jobId = hostUpdateJobId(created.body.id, u.hostId, 1, u.dispatchEpoch)
  assert.equal(await queue.getJob(jobId), undefined, 'no job: the leader died first')
  await expireLease()
  const d = replica()
  await d.loop.tick() // takeover re-enqueues every QUEUED update, with the epoch that dispatched it
  const job = await queue.getJob(jobId)
  assert.ok(job, 'the next leader enqueued it')
  assert.equal((job.data as HostUpdateJob).epoch, u.dispatchEpoch)
  assert.deepEqual((await claim('f3', u.id, 1, u.dispatchEpoch)).body.action, 'run')
})
