import type { Host, HostUpdate, Kernel, Labels, ResolvedPolicy, Rollout, StepRecord } from '@hitless/protocol'
import { resolvePolicy } from '../planner/policy.js'

// Maps database rows to API bodies; the only place that knows both shapes.

type HostRow = {
  id: string
  name: string
  agentId: string
  labels: unknown
  state: string
  hardware: string
  kernel: string
  bootId: string
  lastHeartbeat: Date | null
}

export function toHost(h: HostRow): Host {
  return {
    id: h.id,
    name: h.name,
    agentId: h.agentId,
    labels: (h.labels ?? {}) as Labels,
    state: h.state as Host['state'],
    hardware: h.hardware as Host['hardware'],
    kernel: h.kernel,
    bootId: h.bootId,
    lastHeartbeat: h.lastHeartbeat?.toISOString() ?? null,
  }
}

type StepRow = {
  attempt: number
  step: string
  status: string
  startedAt: Date
  finishedAt: Date | null
  durationMs: number | null
}

export function toStep(s: StepRow): StepRecord {
  return {
    attempt: s.attempt,
    step: s.step as StepRecord['step'],
    status: s.status as StepRecord['status'],
    startedAt: s.startedAt.toISOString(),
    finishedAt: s.finishedAt?.toISOString() ?? null,
    durationMs: s.durationMs,
  }
}

type UpdateRow = {
  id: string
  rolloutId: string
  hostId: string
  host: { name: string }
  state: string
  attempt: number
  wave: { index: number } | null
  startedAt: Date | null
  finishedAt: Date | null
  fromKernel: string | null
  toKernel: string
  blackoutMs: number | null
  failureReason: string | null
  steps: StepRow[]
  verdict: { verdict: string } | null
}

const STEP_ORDER = ['PREFLIGHT', 'SNAPSHOT_PRE', 'PRESERVE', 'KEXEC', 'RESTORE', 'SNAPSHOT_POST', 'FINISH']

export function toUpdate(u: UpdateRow): HostUpdate {
  const steps = [...u.steps].sort(
    (a, b) => a.attempt - b.attempt || STEP_ORDER.indexOf(a.step) - STEP_ORDER.indexOf(b.step),
  )
  return {
    id: u.id,
    rolloutId: u.rolloutId,
    hostId: u.hostId,
    hostName: u.host.name,
    state: u.state as HostUpdate['state'],
    attempt: u.attempt,
    wave: u.wave?.index ?? null,
    startedAt: u.startedAt?.toISOString() ?? null,
    finishedAt: u.finishedAt?.toISOString() ?? null,
    fromKernel: u.fromKernel,
    toKernel: u.toKernel,
    blackoutMs: u.blackoutMs,
    failureReason: u.failureReason,
    steps: steps.map(toStep),
    verdict: (u.verdict?.verdict ?? null) as HostUpdate['verdict'],
  }
}

type RolloutRow = {
  id: string
  name: string
  phase: string
  phaseReason: string | null
  strategy: string
  policy: unknown
  rollbackOf: string | null
  createdAt: Date
  createdBy: string | null
  kernel: { id: string; version: string; sha256: string }
  waves: { index: number; kind: string; hostCount: number; startedAt: Date | null; finishedAt: Date | null }[]
  updates: UpdateRow[]
}

export function toRollout(r: RolloutRow): Rollout {
  const hosts = r.updates.map(toUpdate).sort((a, b) => a.hostName.localeCompare(b.hostName))
  const count = (states: string[]) => hosts.filter((h) => states.includes(h.state)).length
  return {
    id: r.id,
    name: r.name,
    phase: r.phase as Rollout['phase'],
    phaseReason: r.phaseReason,
    strategy: r.strategy as Rollout['strategy'],
    kernel: { id: r.kernel.id, version: r.kernel.version, sha256: r.kernel.sha256 },
    rollbackOf: r.rollbackOf,
    policy: storedPolicy(r.policy),
    createdAt: r.createdAt.toISOString(),
    createdBy: r.createdBy,
    summary: {
      hosts: hosts.length,
      succeeded: count(['SUCCEEDED']),
      failed: count(['FAILED', 'FAILED_HELD']),
      needsReview: count(['NEEDS_REVIEW']),
      inProgress: count(['PENDING', 'QUEUED', 'RUNNING', 'VERIFYING']),
      cancelled: count(['CANCELLED']),
    },
    waves: [...r.waves]
      .sort((a, b) => a.index - b.index)
      .map((w) => ({
        index: w.index,
        kind: w.kind as 'canary' | 'wave',
        hostCount: w.hostCount,
        startedAt: w.startedAt?.toISOString() ?? null,
        finishedAt: w.finishedAt?.toISOString() ?? null,
      })),
    hosts,
  }
}

/** Rollout.policy as stored: the resolved policy (rollouts older than the engine get defaults). */
export function storedPolicy(json: unknown): ResolvedPolicy {
  const { selector: _selector, ...rest } = (json ?? {}) as Record<string, unknown>
  return resolvePolicy(rest as Partial<ResolvedPolicy> as never)
}

export function toKernel(k: {
  id: string
  version: string
  image: string
  initrd: string | null
  cmdline: string
  sha256: string
  handoverFormat: number
  createdAt: Date
}): Kernel {
  return { ...k, createdAt: k.createdAt.toISOString() }
}

export const UPDATE_INCLUDE = {
  host: { select: { name: true } },
  wave: { select: { index: true } },
  steps: true,
  verdict: { select: { verdict: true } },
} as const
