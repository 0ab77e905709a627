import {
  type FinishBody,
  type FinishFields,
  type HostUpdateJob,
  type StepClaimResponse,
  isHitlessError,
  UPDATE_STEPS,
  type UpdateStep,
} from '@hitless/protocol'
import type { ControllerClient } from './api/controller-client.js'
import type { HostRuntime } from './runtime/host-runtime.js'

export type RunOutcome = { result: 'completed' | 'failed' | 'failed-held' | 'abandoned'; reason?: string }

/** Steps from which a failure leaves the old kernel's state live (nothing irreversible yet). */
const REVERSIBLE: ReadonlySet<UpdateStep> = new Set(['PREFLIGHT', 'SNAPSHOT_PRE', 'PRESERVE'])

/** Claim refusals meaning someone else owns the update now: the job stops, doing nothing. */
const ABANDON: ReadonlySet<string> = new Set([
  'HITLESS_E_STALE_CLAIM',
  'HITLESS_E_CONFLICT',
  'HITLESS_E_NOT_FOUND',
  'HITLESS_E_FORBIDDEN',
])

/**
 * Runs one host-update job: for each step, claim it through the agent API (which checks host,
 * attempt and epoch, and says `skip` for a step the journal has as done), run it, journal it;
 * the journal of a step carries the claim of the next (`next`), so a step costs one call, and
 * the journal of the last step (or of a failed one) carries the end of the attempt (`finish`).
 * Delivery is at-least-once; this makes the effects exactly-once.
 */
export async function runUpdateJob(
  job: HostUpdateJob,
  host: HostRuntime,
  token: string,
  client: ControllerClient,
  worker: string,
): Promise<RunOutcome> {
  const ctx = { attempt: job.attempt, epoch: job.epoch, worker }
  // The claim of a step after the first rides on the report of the step before (one call).
  let claimed: StepClaimResponse | undefined
  for (const [i, step] of UPDATE_STEPS.entries()) {
    try {
      const claim = claimed ?? (await client.claim(token, job.updateId, { ...ctx, step }))
      claimed = undefined
      if (claim.action === 'skip') continue
    } catch (e) {
      // Someone else owns this update now (stale epoch, newer attempt, another worker, or it
      // already ended): doing nothing is the only safe effect.
      if (isHitlessError(e) && ABANDON.has(e.code)) return { result: 'abandoned', reason: e.message }
      throw e
    }
    const t0 = performance.now()
    let detail: Record<string, unknown>
    try {
      detail = await host.runStep(step, job)
      if (step === 'SNAPSHOT_PRE' || step === 'SNAPSHOT_POST') {
        const snap = await host.snapshot(step === 'SNAPSHOT_PRE' ? 'pre' : 'post')
        if (snap) {
          const stored = await client.uploadSnapshot(
            token,
            job.updateId,
            step === 'SNAPSHOT_PRE' ? 'pre' : 'post',
            snap.data,
            snap.format,
          )
          detail = { ...detail, snapshot: stored }
        } else {
          detail = { ...detail, snapshot: null }
        }
      }
    } catch (e) {
      const reason = `${step}: ${(e as Error).message}`
      const outcome: FinishBody['outcome'] = REVERSIBLE.has(step) ? 'failed' : 'failed-held'
      // The failed step's journal and the end of the attempt, in one call.
      await client.reportAndFinish(token, job.updateId, {
        ...ctx,
        step,
        status: 'failed',
        durationMs: performance.now() - t0,
        detail: { error: reason },
        finish: { outcome, reason, bootId: host.bootId(), kernel: host.kernel() },
      })
      return { result: outcome, reason }
    }
    const done = { ...ctx, step, status: 'done' as const, durationMs: performance.now() - t0, detail }
    const next = UPDATE_STEPS[i + 1]
    if (next === undefined) {
      // The last step's journal carries the end of the attempt (one call).
      await client.reportAndFinish(token, job.updateId, { ...done, finish: completed(host) })
      return { result: 'completed' }
    }
    const r = await client.reportAndClaim(token, job.updateId, { ...done, next })
    if ('refused' in r) {
      if (ABANDON.has(r.refused.code)) return { result: 'abandoned', reason: r.refused.message }
      throw r.refused
    }
    claimed = r.claim
  }
  // Every step was journaled done already (a redelivered job whose run ended before `finish`).
  await client.finish(token, job.updateId, { ...ctx, ...completed(host) })
  return { result: 'completed' }
}

/** The end of a completed attempt, with what the host measured of it. */
function completed(host: HostRuntime): FinishFields {
  return { outcome: 'completed', bootId: host.bootId(), kernel: host.kernel(), ...host.lastUpdateReport() }
}
