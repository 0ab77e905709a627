// The target kernel is an artifact: the agent finds its image on the host, checks the image's
// sha256 in PREFLIGHT and stages exactly that image, initrd and command line. A mismatch or a
// missing image fails the host at PREFLIGHT with the old kernel live (`failed`, not held).
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, test } from 'node:test'
import type { HostUpdate, Rollout } from '@hitless/protocol'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { BASE_KERNEL, emulatedFleet, emulatedIommuFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import type { HostRuntime } from '../../services/host-agent/src/runtime/host-runtime.js'
import type { StubEmulatedHost } from '../../services/host-agent/src/runtime/stub-emulated-host.js'
import { api, startPlatform, type TestPlatform, waitFor, writeBootFile } from '../support/platform.js'

let p: TestPlatform
let agent: HostAgent
let hosts: HostRuntime[]

const bytes = (s: string) => Buffer.from(s.repeat(2048))
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

before(async () => {
  p = await startPlatform({ loopMs: 100 })
  const cfg = loadAgentConfig(['--hosts', '4', '--agent-id', 'emu-art'], {
    ...p.agentEnv,
    HITLESS_EMU_STEP_MS: '5',
  })
  assert.equal(cfg.bootRoot, p.bootRoot)
  // Three hosts on the emulated IOMMU hardware (the real live update), one stub host.
  hosts = [
    ...(await emulatedIommuFleet('emu-art', 3, { mappings: 64, stepMs: 5, bootRoot: cfg.bootRoot! })),
    ...emulatedFleet('emu-art-s', 1, 5, { bootRoot: cfg.bootRoot! }),
  ]
  agent = new HostAgent(cfg, hosts)
  await agent.start()
})

after(async () => {
  await agent?.stop()
  await p?.close()
})

/** Rolls `kernel` out to the host `name` and answers its update once it has ended. */
async function rollTo(name: string, kernel: Record<string, unknown>): Promise<HostUpdate> {
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel,
    strategy: 'serialise',
    selector: { names: [name] },
    policy: { onUnverified: 'continue' },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  return waitFor(
    `the update of ${name}`,
    async () => {
      const r = await api<Rollout>(p, p.adminToken, 'GET', `/api/v1/rollouts/${created.body.id}`)
      const h = r.body.hosts[0]
      return ['FAILED', 'FAILED_HELD', 'SUCCEEDED', 'NEEDS_REVIEW'].includes(h.state) ? h : undefined
    },
    60000,
  )
}

async function hostKernel(name: string): Promise<string> {
  return (await api<{ kernel: string }>(p, p.adminToken, 'GET', `/api/v1/hosts/${name}`)).body.kernel
}

test('an image whose sha256 is not the artifact’s fails its host at PREFLIGHT, the old kernel kept', async () => {
  const image = bytes('kernel 7.2.14-hitless9\n')
  writeBootFile(p, '/boot/vmlinuz-7.2.14-hitless9', image)
  const claimed = 'cd'.repeat(32)
  const h = await rollTo('emu-art-h000', {
    version: '7.2.14-hitless9',
    image: '/boot/vmlinuz-7.2.14-hitless9',
    sha256: claimed,
  })
  assert.equal(h.state, 'FAILED', JSON.stringify(h))
  assert.equal(
    h.failureReason,
    `PREFLIGHT: kernel image /boot/vmlinuz-7.2.14-hitless9: sha256 ${sha(image)} does not match the artifact's ${claimed}`,
  )
  assert.deepEqual(
    h.steps.map((s) => `${s.step}:${s.status}`),
    ['PREFLIGHT:failed'],
  )
  assert.equal(await hostKernel('emu-art-h000'), BASE_KERNEL)
  assert.equal(hosts[0].kernel(), BASE_KERNEL)
})

test('a missing image fails its host at PREFLIGHT, naming the path, the old kernel kept', async () => {
  const h = await rollTo('emu-art-h001', {
    version: '7.2.15-hitless1',
    image: '/boot/vmlinuz-7.2.15-hitless1',
    sha256: 'ef'.repeat(32),
  })
  assert.equal(h.state, 'FAILED', JSON.stringify(h))
  assert.match(
    h.failureReason ?? '',
    /^PREFLIGHT: kernel image \/boot\/vmlinuz-7\.2\.15-hitless1: no such file on this host/,
  )
  assert.equal(await hostKernel('emu-art-h001'), BASE_KERNEL)
})

test('a good artifact is checked, staged as given (image, initrd, command line) and booted', async () => {
  const image = bytes('kernel 7.2.16-hitless1\n')
  writeBootFile(p, '/boot/vmlinuz-7.2.16-hitless1', image)
  writeBootFile(p, '/boot/initrd.img-7.2.16-hitless1', bytes('initrd\n'))
  const kernel = {
    version: '7.2.16-hitless1',
    image: '/boot/vmlinuz-7.2.16-hitless1',
    initrd: '/boot/initrd.img-7.2.16-hitless1',
    cmdline: 'console=ttyS0 quiet',
    sha256: sha(image),
  }
  // The stub host: it records what it staged.
  const h = await rollTo('emu-art-s-h000', kernel)
  assert.equal(h.state, 'NEEDS_REVIEW', JSON.stringify(h))
  assert.equal(await hostKernel('emu-art-s-h000'), kernel.version)
  assert.deepEqual((hosts[3] as StubEmulatedHost).staged, {
    image: kernel.image,
    initrd: kernel.initrd,
    cmdline: kernel.cmdline,
  })
  // The live update on the emulated hardware, to the same artifact: checked and booted.
  const h2 = await rollTo('emu-art-h002', kernel)
  assert.equal(h2.state, 'SUCCEEDED', JSON.stringify(h2))
  assert.equal(h2.verdict, 'hitless')
  assert.equal(await hostKernel('emu-art-h002'), kernel.version)
})
