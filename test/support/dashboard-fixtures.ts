import { randomUUID } from 'node:crypto'
import type { Rollout, Verdict } from '@hitless/protocol'
import { CORRUPTIONS } from '@hitless/verify/testing/corruptions'
import { seededRandom } from '@hitless/verify/testing/seeded-random'
import { buildSnapshot, cleanPost, syntheticHost } from '@hitless/verify/testing/synthetic-host'
import { api, KERNEL, type TestPlatform, testKernel, waitFor } from './platform.js'

/**
 * Plays one host's agent by hand (as test/e2e/verifier.test.ts does): enrols it, rolls it to
 * KERNEL, walks the seven steps through the agent API, uploads real encoded snapshots (the post
 * one corrupted by `corruption`, a catalogue name from @hitless/verify/testing), and finishes;
 * the platform's verifier judges. Returns the update id once it has its verdict.
 */
export async function playHost(
  p: TestPlatform,
  name: string,
  opts: { seed: number; corruption?: string; hardware?: 'smmuv3-bbml2' | 'vtd-scalable'; rollout?: string },
): Promise<{ updateId: string; rolloutId: string; verdict: Verdict }> {
  const pre = syntheticHost({ seed: opts.seed, mappings: 3000, hardware: opts.hardware ?? 'smmuv3-bbml2' })
  const post = cleanPost(pre, opts.seed, KERNEL.version)
  if (opts.corruption) {
    const c = CORRUPTIONS.find((x) => x.name === opts.corruption)
    if (!c) throw new Error(`no corruption "${opts.corruption}"`)
    c.apply(post, seededRandom(opts.seed))
  }
  const enrol = await api<{ hosts: { id: string; token: string }[] }>(
    p,
    p.adminToken,
    'POST',
    '/api/v1/agent/enrol',
    {
      agentId: `hand-${name}`,
      hosts: [
        {
          name,
          hardware: pre.hardware,
          kernel: pre.kernel.version,
          bootId: pre.kernel.bootId,
          labels: { rack: 'r9', fleet: 'hand' },
        },
      ],
    },
  )
  if (enrol.status !== 200) throw new Error(`enrol: ${JSON.stringify(enrol.body)}`)
  const token = enrol.body.hosts[0].token
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    name: opts.rollout ?? `${name}-update`,
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { names: [name] },
    policy: { canary: 0 },
  })
  if (created.status !== 201) throw new Error(`create: ${JSON.stringify(created.body)}`)
  const updateId = created.body.hosts[0].id
  const u = await waitFor('dispatch', async () => {
    const row = await p.db.hostUpdate.findUnique({ where: { id: updateId } })
    return row?.state === 'QUEUED' ? row : undefined
  })
  const claim = { attempt: u.attempt, epoch: u.dispatchEpoch, worker: 'fixture' }
  for (const step of [
    'PREFLIGHT',
    'SNAPSHOT_PRE',
    'PRESERVE',
    'KEXEC',
    'RESTORE',
    'SNAPSHOT_POST',
    'FINISH',
  ]) {
    const t0 = Date.now()
    const c = await api(p, token, 'POST', `/api/v1/agent/updates/${updateId}/claim`, { ...claim, step })
    if (c.status >= 300) throw new Error(`claim ${step}: ${JSON.stringify(c.body)}`)
    if (step === 'SNAPSHOT_PRE' || step === 'SNAPSHOT_POST') {
      const phase = step === 'SNAPSHOT_PRE' ? 'pre' : 'post'
      const res = await fetch(`${p.url}/api/v1/agent/updates/${updateId}/snapshots/${phase}`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/octet-stream',
          'x-snapshot-format': 'hitless-snapshot/v1',
        },
        body: buildSnapshot(phase === 'pre' ? pre : post).encode(),
      })
      if (res.status !== 201) throw new Error(`snapshot ${phase}: ${await res.text()}`)
    }
    await new Promise((r) => setTimeout(r, step === 'KEXEC' ? 60 : 25))
    const j = await api(p, token, 'POST', `/api/v1/agent/updates/${updateId}/steps`, {
      ...claim,
      step,
      status: 'done',
      durationMs: Date.now() - t0,
    })
    if (j.status >= 300) throw new Error(`journal ${step}: ${JSON.stringify(j.body)}`)
  }
  const fin = await api(p, token, 'POST', `/api/v1/agent/updates/${updateId}/finish`, {
    ...claim,
    outcome: 'completed',
    bootId: post.kernel.bootId,
    kernel: post.kernel.version,
    blackoutMs: post.blackoutMs,
  })
  if (fin.status >= 300) throw new Error(`finish: ${JSON.stringify(fin.body)}`)
  const verdict = await waitFor('verdict', async () => {
    const v = await api<{ verdict: Verdict }>(p, p.adminToken, 'GET', `/api/v1/updates/${updateId}/verdict`)
    return v.status === 200 ? v.body.verdict : undefined
  })
  return { updateId, rolloutId: created.body.id, verdict }
}

/**
 * Seeds `days` of finished nightly rollouts with verdicts dated in the past, so that the
 * success-rate chart has a history to draw (screenshots, chart tests). Written straight to
 * PostgreSQL and marked `(seeded)` in the rollout name: no host is touched.
 */
export async function seedHistory(p: TestPlatform, days: number, seed = 7): Promise<void> {
  const rnd = seededRandom(seed)
  const hosts = await p.db.host.findMany({ orderBy: { name: 'asc' } })
  const { kernel } = await p.controller.ctx.kernels.register(testKernel('7.2.12-hitless3'))
  const now = Date.now()
  for (let d = days; d >= 1; d--) {
    const at = new Date(now - d * 86400e3)
    const rolloutId = `ro-seed-${d}-${randomUUID().slice(0, 8)}`
    await p.db.rollout.create({
      data: {
        id: rolloutId,
        name: `nightly ${at.toISOString().slice(0, 10)} (seeded)`,
        kernelId: kernel.id,
        strategy: 'serialise',
        policy: {},
        phase: 'COMPLETED',
        createdAt: at,
      },
    })
    for (const h of hosts) {
      const x = rnd()
      const verdict: Verdict =
        x < 0.86
          ? 'hitless'
          : x < 0.92
            ? 'consistent'
            : x < 0.96
              ? 'unverified'
              : x < 0.985
                ? 'diverged'
                : 'faulted'
      const state =
        verdict === 'hitless'
          ? 'SUCCEEDED'
          : verdict === 'diverged' || verdict === 'faulted'
            ? 'FAILED'
            : 'NEEDS_REVIEW'
      const updateId = randomUUID()
      await p.db.hostUpdate.create({
        data: {
          id: updateId,
          rolloutId,
          hostId: h.id,
          state,
          toKernel: kernel.version,
          fromKernel: '7.2.11-hitless2',
          blackoutMs: 20 + Math.round(rnd() * 60),
          startedAt: at,
          finishedAt: new Date(at.getTime() + 2000),
          createdAt: at,
        },
      })
      await p.db.verdictRecord.create({
        data: {
          updateId,
          verdict,
          reasons: [`${verdict} (seeded history)`],
          faults: {
            groundTruth: verdict === 'faulted' ? 1 : 0,
            recorded: verdict === 'faulted' ? 1 : 0,
            lost: 0,
          },
          createdAt: new Date(at.getTime() + 3000),
        },
      })
    }
  }
}
