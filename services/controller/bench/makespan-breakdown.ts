// Where the makespan beyond the ideal goes (rollout.bench.ts). With M the makespan, C the max
// concurrency, hold(h) the time host h holds its slot (dispatch committed → verdict) and d(h) its
// seeded duration:
//   C·M = Σ hold(h) + idle        and        C·ideal = Σ d(h) + idle_ideal
// so  M − ideal = [Σ (hold(h) − d(h)) + (idle − idle_ideal)] / C  exactly. The first sum is
// split along each host's timeline (dispatch → job enqueued → first claim → steps → finish →
// verify picked → verdict); idle − idle_ideal is the slots left empty beyond what the policy
// itself leaves empty (refill latency after a verdict, wave edges). Every term is given in
// seconds of makespan (its sum over hosts / C), so the terms add up to M − ideal.
import { subscribe } from 'node:diagnostics_channel'
import type { IncomingMessage } from 'node:http'
import type { UpdateStep } from '@hitless/protocol'
import { UPDATE_STEPS } from '@hitless/protocol'
import type { PassTiming } from '../src/loop/controller-loop.js'
import type { BuiltController } from '../src/app.js'
import type { VerifierService } from '../../verifier/src/verifier.js'

export interface AgentTrace {
  calls: { path: string; t0: number; headers: number; end: number }[]
  loopDelayMs: { mean: number; p50: number; p99: number; max: number }
}

export interface UpdateRow {
  id: string
  hostId: string
  finishedAt: Date | null
  steps: { step: string; attempt: number; startedAt: Date; finishedAt: Date | null }[]
  verdict: { createdAt: Date } | null
}

const kindOf = (url: string): string | undefined => {
  const m = /\/agent\/updates\/[^/]+\/(claim|steps|finish)/.exec(url)
  return m?.[1]
}

/** Collects timestamps in the controller's process (controller, loop and verifier). */
export class Recorder {
  readonly dispatched = new Map<string, number>()
  readonly enqueued = new Map<string, number>()
  readonly verifyEnqueued = new Map<string, number>()
  readonly verifyStart = new Map<string, number>()
  readonly kicks: number[] = []
  readonly passes: PassTiming[] = []
  readonly server: { kind: string; t0: number; end: number }[] = []

  constructor(controller: BuiltController, verifier: VerifierService) {
    const { loop, queues } = controller.ctx
    const prev = loop.observer
    loop.observer = {
      ...prev,
      applied: (rolloutId, actions) => {
        const t = Date.now()
        for (const a of actions) if (a.kind === 'dispatch') this.dispatched.set(a.updateId, t)
        prev.applied?.(rolloutId, actions)
      },
      passed: (p) => this.passes.push(p),
    }
    const enqueue = queues.enqueueHostUpdate.bind(queues)
    queues.enqueueHostUpdate = async (agentId, job) => {
      await enqueue(agentId, job)
      this.enqueued.set(job.updateId, Date.now())
    }
    const enqueueVerify = queues.enqueueVerify.bind(queues)
    queues.enqueueVerify = async (job) => {
      await enqueueVerify(job)
      if (!this.verifyEnqueued.has(job.updateId)) this.verifyEnqueued.set(job.updateId, Date.now())
    }
    const verify = verifier.verify.bind(verifier)
    verifier.verify = (updateId) => {
      this.verifyStart.set(updateId, Date.now())
      return verify(updateId)
    }
    const kick = loop.kick.bind(loop)
    loop.kick = () => {
      this.kicks.push(Date.now())
      kick()
    }
    const open = new WeakMap<IncomingMessage, number>()
    const now = () => performance.timeOrigin + performance.now()
    subscribe('http.server.request.start', (m) =>
      open.set((m as { request: IncomingMessage }).request, now()),
    )
    subscribe('http.server.response.finish', (m) => {
      const req = (m as { request: IncomingMessage }).request
      const t0 = open.get(req)
      const kind = kindOf(req.url ?? '')
      if (t0 !== undefined && kind) this.server.push({ kind, t0, end: now() })
    })
  }
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN)
const q = (xs: number[], p: number) => {
  if (!xs.length) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-')
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-')
const dist = (xs: number[]) =>
  `mean ${f0(mean(xs))} p50 ${f0(q(xs, 0.5))} p90 ${f0(q(xs, 0.9))} p99 ${f0(q(xs, 0.99))}`

/** The breakdown as printable lines, and the terms (seconds of makespan) for the summary. */
export function breakdown(o: {
  rec: Recorder
  agent: AgentTrace | undefined
  updates: UpdateRow[]
  durationMs: (hostId: string, step: UpdateStep) => number
  concurrency: number
  windowStart: number
  windowEnd: number
  idealMs: number
}): { lines: string[]; terms: Record<string, number> } {
  const { rec, updates, concurrency: C } = o
  const lines: string[] = []
  const per = {
    'dispatch committed → job enqueued': [] as number[],
    'job enqueued → first step claimed': [] as number[],
    'steps beyond their durations (7 steps, 8 calls)': [] as number[],
    'last report → finish committed': [] as number[],
    'finish → verify job enqueued': [] as number[],
    'verify job enqueued → picked': [] as number[],
    'verify picked → verdict': [] as number[],
  }
  let holdSum = 0
  let durSum = 0
  const verdicts: number[] = []
  for (const u of updates) {
    const d = rec.dispatched.get(u.id)
    const e = rec.enqueued.get(u.id)
    const vs = rec.verifyStart.get(u.id)
    const steps = u.steps.filter((s) => s.attempt === 1)
    const at = (s: string) => steps.find((x) => x.step === s)
    const first = at(UPDATE_STEPS[0])
    const last = at(UPDATE_STEPS[UPDATE_STEPS.length - 1])
    if (d === undefined || e === undefined || vs === undefined || !first || !last?.finishedAt) continue
    if (!u.finishedAt || !u.verdict) continue
    const v = u.verdict.createdAt.getTime()
    verdicts.push(v)
    const dur = UPDATE_STEPS.reduce((a, s) => a + o.durationMs(u.hostId, s), 0)
    holdSum += v - d
    durSum += dur
    per['dispatch committed → job enqueued'].push(e - d)
    per['job enqueued → first step claimed'].push(first.startedAt.getTime() - e)
    per['steps beyond their durations (7 steps, 8 calls)'].push(
      last.finishedAt.getTime() - first.startedAt.getTime() - dur,
    )
    per['last report → finish committed'].push(u.finishedAt.getTime() - last.finishedAt.getTime())
    const ve = rec.verifyEnqueued.get(u.id) ?? vs
    per['finish → verify job enqueued'].push(ve - u.finishedAt.getTime())
    per['verify job enqueued → picked'].push(vs - ve)
    per['verify picked → verdict'].push(v - vs)
  }
  const n = verdicts.length
  const M = o.windowEnd - o.windowStart
  const idle = C * M - holdSum
  const idleIdeal = C * o.idealMs - durSum
  const terms: Record<string, number> = {}
  lines.push(
    `makespan − ideal = ${((M - o.idealMs) / 1000).toFixed(2)} s over ${n} hosts; in seconds of makespan (Σ over hosts / ${C}), per host in ms:`,
  )
  for (const [k, xs] of Object.entries(per)) {
    const s = xs.reduce((a, b) => a + b, 0) / C / 1000
    terms[k] = s
    lines.push(`  ${k.padEnd(48)} ${s.toFixed(2).padStart(6)} s   ${dist(xs)}`)
  }
  const idleS = (idle - idleIdeal) / C / 1000
  terms['empty slots beyond the ideal'] = idleS
  lines.push(
    `  ${'empty slots beyond the ideal'.padEnd(48)} ${idleS.toFixed(2).padStart(6)} s   (${f1(idle / C / 1000)} s of slot-time / ${C} vs ${f1(idleIdeal / C / 1000)} s in the ideal)`,
  )

  // Refill: each dispatch takes the slot freed longest ago (the first C are free at the start).
  const events = [
    ...verdicts.map((t) => ({ t, free: true })),
    ...[...rec.dispatched.values()].map((t) => ({ t, free: false })),
  ].sort((a, b) => a.t - b.t || (a.free ? -1 : 1))
  const free: number[] = Array.from({ length: C }, () => o.windowStart)
  const refill: number[] = []
  for (const ev of events) {
    if (ev.free) free.push(ev.t)
    else {
      const t = free.shift()
      if (t !== undefined && t > o.windowStart) refill.push(ev.t - t)
    }
  }
  lines.push(`  slot freed (verdict) → next dispatch committed, ms: ${dist(refill)}`)
  // The wake-up path: verdict → kick (verify job completion event) → pass → dispatch.
  const kicks = [...rec.kicks].sort((a, b) => a - b)
  const wake: number[] = []
  for (const v of verdicts) {
    const k = kicks.find((t) => t >= v)
    if (k !== undefined) wake.push(k - v)
  }
  lines.push(`  verdict committed → loop kicked (job-completion event), ms: ${dist(wake)}`)
  const ps = rec.passes.filter((p) => p.start >= o.windowStart && p.start <= o.windowEnd)
  const busy = ps.reduce((a, p) => a + p.ms, 0)
  lines.push(
    `  loop passes: ${ps.length} (${ps.filter((p) => p.upkeep).length} timer, ${ps.filter((p) => p.planned === false).length} of them lease and upkeep only), busy ${f0((busy / M) * 100)}% of the time; per pass ms: total ${dist(ps.map((p) => p.ms))}`,
  )
  lines.push(`    lease ${dist(ps.map((p) => p.leaseMs))}; upkeep ${dist(ps.map((p) => p.upkeepMs))}`)
  lines.push(
    `    load ${dist(ps.filter((p) => p.planned !== false).map((p) => p.loadMs))}; plan+apply ${dist(ps.filter((p) => p.planned !== false).map((p) => p.applyMs))}`,
  )
  // The agent API as the server and as the agent see it.
  for (const kind of ['claim', 'steps', 'finish']) {
    const sv = rec.server.filter((s) => s.kind === kind).map((s) => s.end - s.t0)
    const cl = (o.agent?.calls ?? []).filter((c) => kindOf(c.path) === kind).map((c) => c.end - c.t0)
    lines.push(
      `  agent ${kind.padEnd(6)} calls ${String(sv.length).padStart(5)}: server ${dist(sv)}; client ${dist(cl)}`,
    )
  }
  if (o.agent) {
    const d = o.agent.loopDelayMs
    lines.push(
      `  agent event-loop delay ms: mean ${f1(d.mean)} p50 ${f1(d.p50)} p99 ${f1(d.p99)} max ${f0(d.max)}`,
    )
  }
  return { lines, terms }
}
