// Examples of the API's bodies, one consistent story (rack a of a GPU pool moving to 7.2.13),
// attached to the schemas they illustrate so the OpenAPI description shows them. They are not
// typed by the schemas (a schema's type would then refer to itself through its own `examples`):
// examples.test.ts checks that every named schema has one and that it validates.

const AT = '2026-11-24T22:04:11.512Z'

export const EXAMPLE_POLICY = {
  canary: 1,
  waves: ['25%', '100%'],
  maxConcurrent: '10%',
  spreadBy: 'rack',
  errorBudget: '2%',
  bakeSeconds: 600,
  windows: [{ cron: '0 22 * * 1-5', timeZone: 'Europe/Paris', durationMinutes: 360, cutoffMinutes: 30 }],
  blackoutSloMs: 500,
  onUnverified: 'pause',
  onConsistent: 'pause',
  returnDeadlineSeconds: 300,
  onHalt: 'keep',
}

export const KERNEL_EXAMPLE = {
  id: 'kernel-3f2a9c0d1e4b5a6f',
  version: '7.2.13-hitless1',
  image: '/boot/vmlinuz-7.2.13-hitless1',
  initrd: '/boot/initrd.img-7.2.13-hitless1',
  cmdline: 'console=ttyS0 iommu.passthrough=0',
  sha256: '5f1c0b8e3d7a92c4e6b1f0a8d2c4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0',
  handoverFormat: 1,
  createdAt: '2026-11-20T09:12:00.000Z',
}

export const HOST_EXAMPLE = {
  id: 'host-0c9e2f4a-7b1d-4e8a-9f3c-5d6e7f8a9b0c',
  name: 'gpu-a-017',
  agentId: 'agent-gpu-a',
  labels: { pool: 'gpu', rack: 'a' },
  state: 'READY',
  hardware: 'smmuv3-bbml2',
  kernel: '7.2.13-hitless1',
  bootId: '9b2f6c1e-4d3a-4b8e-a1f0-7c5d9e2b3a41',
  lastHeartbeat: '2026-11-24T22:05:02.000Z',
}

export const VERDICT_EXAMPLE = {
  updateId: 'upd-7e1d2c3b-4a59-4f6e-8d7c-6b5a49382716',
  verdict: 'hitless',
  reasons: [
    'IOAS state identical before and after (1,024 mappings, 2 devices)',
    'no DMA fault (ground truth 0, recorded 0, lost 0)',
    '1,873 DMA accesses during the 212 ms blackout',
  ],
  diff: null,
  faults: { groundTruth: 0, recorded: 0, lost: 0 },
  createdAt: '2026-11-24T22:04:12.101Z',
}

export const HOST_UPDATE_EXAMPLE = {
  id: VERDICT_EXAMPLE.updateId,
  rolloutId: 'ro-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
  hostId: HOST_EXAMPLE.id,
  hostName: HOST_EXAMPLE.name,
  state: 'SUCCEEDED',
  attempt: 1,
  wave: 1,
  startedAt: '2026-11-24T22:04:09.860Z',
  finishedAt: AT,
  fromKernel: '7.1.9-hitless2',
  toKernel: '7.2.13-hitless1',
  blackoutMs: 212.4,
  failureReason: null,
  steps: [
    ['PREFLIGHT', 41],
    ['SNAPSHOT_PRE', 96],
    ['PRESERVE', 133],
    ['KEXEC', 804],
    ['RESTORE', 188],
    ['SNAPSHOT_POST', 91],
    ['FINISH', 19],
  ].map(([step, ms]) => ({
    attempt: 1,
    step,
    status: 'done',
    startedAt: '2026-11-24T22:04:09.860Z',
    finishedAt: AT,
    durationMs: ms,
  })),
  verdict: 'hitless',
}

export const AUDIT_EXAMPLE = {
  id: '4211',
  at: AT,
  actor: 'ops-alice',
  action: 'rollout.pause',
  target: HOST_UPDATE_EXAMPLE.rolloutId,
  detail: { phase: 'PAUSED', reason: 'a consistent verdict on gpu-a-017: looking' },
}

export const ERROR_EXAMPLE = {
  code: 'HITLESS_E_UNPROCESSABLE',
  message: 'policy.waves: the waves cover 12 of the 16 selected hosts: end them with "100%"',
  details: { field: 'policy.waves' },
}

export const ROLLOUT_EXAMPLE = {
  id: HOST_UPDATE_EXAMPLE.rolloutId,
  name: 'gpu pool to 7.2.13',
  phase: 'RUNNING',
  phaseReason: 'wave 1 of 2: 6 hosts in flight',
  strategy: 'serialise',
  kernel: { id: KERNEL_EXAMPLE.id, version: KERNEL_EXAMPLE.version, sha256: KERNEL_EXAMPLE.sha256 },
  rollbackOf: null,
  policy: { ...EXAMPLE_POLICY, maxPerDomain: 1 },
  createdAt: '2026-11-24T21:58:40.000Z',
  createdBy: 'ops-alice',
  summary: { hosts: 64, succeeded: 17, failed: 0, inProgress: 6, needsReview: 0, cancelled: 0 },
  waves: [
    {
      index: 0,
      kind: 'canary',
      hostCount: 1,
      startedAt: '2026-11-24T22:00:00.000Z',
      finishedAt: '2026-11-24T22:00:03.100Z',
    },
    { index: 1, kind: 'wave', hostCount: 16, startedAt: '2026-11-24T22:10:03.100Z', finishedAt: null },
    { index: 2, kind: 'wave', hostCount: 47, startedAt: null, finishedAt: null },
  ],
  hosts: [HOST_UPDATE_EXAMPLE],
}

export const SESSION_EXAMPLE = {
  name: 'ops-alice',
  role: 'operator',
  csrfToken: 'c2f0a9e4b7d14e6f8a3b5c7d9e1f2a4b',
  expiresAt: '2026-11-25T10:04:11.000Z',
}

export const TOKEN_INFO_EXAMPLE = {
  id: 'b6d1e2f3-a4b5-4c6d-8e7f-9a0b1c2d3e4f',
  name: 'ci-deployer',
  role: 'operator',
  createdAt: '2026-11-01T08:00:00.000Z',
  revokedAt: null,
}
