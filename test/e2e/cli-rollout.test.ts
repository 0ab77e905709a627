import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { Rollout } from '@hitless/protocol'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { emulatedFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import { playHost } from '../support/dashboard-fixtures.js'
import { runCli } from '../support/cli.js'
import { api, KERNEL, startPlatform, type TestPlatform } from '../support/platform.js'

// The CLI's rollout life cycle against a running controller and an emulated fleet: kernels,
// create from YAML, watch, pause/resume/abort, retry, verdict, login; and its bad input.
let p: TestPlatform
let agent: HostAgent
const dir = mkdtempSync(join(tmpdir(), 'hitless-cli-'))

before(async () => {
  p = await startPlatform()
  const cfg = loadAgentConfig(['--hosts', '4', '--agent-id', 'clirol'], {
    ...p.agentEnv,
    HITLESS_EMU_STEP_MS: '60',
  })
  // Host 2 fails its PREFLIGHT on its first attempt only: the retry (attempt 2) goes through.
  agent = new HostAgent(
    cfg,
    emulatedFleet(cfg.agentId, cfg.hosts, cfg.stepMs, {
      faults: new Map([['clirol-h002', { step: 'PREFLIGHT', kind: 'fail', attempt: 1 }]]),
    }),
  )
  await agent.start()
})
after(async () => {
  await agent?.stop()
  await p?.close()
})

const hitless = (args: string[], env: Record<string, string> = {}) => runCli(p, args, env)

const POLICY_YAML = (name: string, hosts: string[], extra = '') => `# a rollout as an operator writes it
name: ${name}
kernel:
  version: ${KERNEL.version}
  image: ${KERNEL.image}
  sha256: "${KERNEL.sha256}"
strategy: serialise
selector:
  names: [${hosts.join(', ')}]
policy:
  canary: 1
  waves: ["100%"]
  maxConcurrent: 1
  onUnverified: continue
${extra}`

test('kernels: create, then list', async () => {
  const c = await hitless([
    'kernels',
    'create',
    '--version',
    '7.3.0-hitless1',
    '--image',
    '/boot/vmlinuz-7.3.0',
    '--sha256',
    'ef'.repeat(32),
    '--json',
  ])
  assert.equal(c.code, 0, c.err)
  assert.equal(JSON.parse(c.out).version, '7.3.0-hitless1')
  const l = await hitless(['kernels'])
  assert.equal(l.code, 0, l.err)
  assert.match(l.out, /^ID\s+VERSION\s+IMAGE/)
  assert.match(l.out, /7\.3\.0-hitless1/)
})

test('rollout create from a YAML file (dry run first), then watch it to completion', async () => {
  const file = join(dir, 'rollout.yaml')
  writeFileSync(file, POLICY_YAML('cli yaml', ['clirol-h000', 'clirol-h001']))
  const dry = await hitless(['rollout', 'create', '--file', file, '--dry-run'])
  assert.equal(dry.code, 0, dry.err)
  assert.match(dry.out, /^WAVE\s+HOSTS\s+NAMES/)
  assert.equal(await p.db.rollout.count(), 0, 'a dry run creates nothing')
  const created = await hitless(['rollout', 'create', '--file', file, '--json'])
  assert.equal(created.code, 0, created.err)
  const id = (JSON.parse(created.out) as Rollout).id
  const w = await hitless(['rollout', 'watch', id, '--interval', '1'])
  assert.equal(w.code, 0, w.err)
  assert.match(w.out, /cli yaml \(ro-[^)]+\)\s+COMPLETED/)
  assert.match(w.out, /all\s+\[█+\] 2\/2 {2}✓0 !2 ✕0 ▶0/)
  assert.match(w.out, /canary 0\s+\[█+\] 1\/1/)
})

test('pause, resume and abort a rollout; watching an aborted rollout exits 6', async () => {
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    name: 'cli actions',
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { names: ['clirol-h000', 'clirol-h001', 'clirol-h003'] },
    // A window that opens on 1 January only: the rollout runs but starts no host while the CLI acts.
    policy: { windows: [{ cron: '0 0 1 1 *', durationMinutes: 60 }] },
  })
  const id = created.body.id
  const paused = await hitless(['rollout', 'pause', id, '--reason', 'look first', '--json'])
  assert.equal(paused.code, 0, paused.err)
  assert.equal(JSON.parse(paused.out).phase, 'PAUSED')
  const resumed = await hitless(['rollout', 'resume', id, '--json'])
  assert.equal(resumed.code, 0, resumed.err)
  assert.equal(JSON.parse(resumed.out).phase, 'RUNNING')
  const aborted = await hitless(['rollout', 'abort', id])
  assert.equal(aborted.code, 0, aborted.err)
  assert.match(aborted.out, /ABORTED/)
  const again = await hitless(['rollout', 'pause', id])
  assert.equal(again.code, 6)
  assert.equal(again.err.trim().split('\n').length, 1)
  const w = await hitless(['rollout', 'watch', id])
  assert.equal(w.code, 6)
  assert.match(w.err, /was aborted/)
})

test('a host fails: watch exits 9 (halted); retry it and resume; watch exits 0', async () => {
  const file = join(dir, 'halt.json')
  writeFileSync(
    file,
    JSON.stringify({
      name: 'cli halt',
      kernel: KERNEL,
      strategy: 'serialise',
      selector: { names: ['clirol-h002'] },
      policy: { canary: 0, onUnverified: 'continue' },
    }),
  )
  const created = await hitless(['rollout', 'create', '--file', file, '--json'])
  assert.equal(created.code, 0, created.err)
  const id = (JSON.parse(created.out) as Rollout).id
  const w = await hitless(['rollout', 'watch', id, '--interval', '1'])
  assert.equal(w.code, 9, w.out + w.err)
  assert.match(w.err, /^hitless: rollout ro-\S+ halted: .+\[HITLESS_E_NOT_HITLESS\]\n$/)
  assert.match(w.out, /✕ clirol-h002: PREFLIGHT: emulated failure injected at PREFLIGHT/)
  const retry = await hitless(['rollout', 'retry', id, 'clirol-h002'])
  assert.equal(retry.code, 0, retry.err)
  await hitless(['rollout', 'resume', id])
  const w2 = await hitless(['rollout', 'watch', id, '--interval', '1'])
  assert.equal(w2.code, 0, w2.err)
  assert.match(w2.out, /COMPLETED/)
})

test('verdict: reasons, faults and the diff field by field; exit 9 unless hitless', async () => {
  const bad = await playHost(p, 'cli-edge-2', { seed: 2, corruption: 'shifted PA', hardware: 'vtd-scalable' })
  const v = await hitless(['verdict', bad.updateId])
  assert.equal(v.code, 9)
  assert.match(v.out, /^verdict {3}diverged$/m)
  assert.match(v.out, /^ {2}leaf\.pa: 1 \(4096 bytes of IOVA\)$/m)
  assert.match(v.out, /table=vm1\/s2 iova=0x[0-9a-f]+ length=0x1000 {2}pa: 0x[0-9a-f]+ → 0x[0-9a-f]+/)
  assert.match(v.err, /was not hitless: diverged \[HITLESS_E_NOT_HITLESS\]/)
  const good = await playHost(p, 'cli-edge-1', { seed: 1 })
  const g = await hitless(['verdict', good.updateId, '--json'])
  assert.equal(g.code, 0, g.err)
  assert.equal(JSON.parse(g.out).verdict, 'hitless')
})

test('login prints the export lines after checking the token; context says what is in use', async () => {
  const l = await hitless(['login', '--url', p.url, '--token', p.adminToken], { HITLESS_TOKEN: '' })
  assert.equal(l.code, 0, l.err)
  assert.equal(l.out, `export HITLESS_URL='${p.url}'\nexport HITLESS_TOKEN='${p.adminToken}'\n`)
  const c = await hitless(['context'])
  assert.equal(c.code, 0, c.err)
  assert.match(c.out, /status {2}ok/)
  assert.doesNotMatch(c.out, new RegExp(p.adminToken), 'the token is never printed whole')
})

test('bad input: one line on stderr and the exit code of the table', async () => {
  const yaml = join(dir, 'broken.yaml')
  writeFileSync(yaml, 'kernel: [unclosed\n')
  const cases: [string[], Record<string, string>, number, RegExp][] = [
    [['rollout', 'watch'], {}, 2, /rollout watch: missing rollout id/],
    [['rollout', 'retry', 'ro-x'], {}, 2, /give the rollout id and the host/],
    [['rollout', 'frob'], {}, 2, /unknown subcommand frob/],
    [['rollout', 'watch', 'ro-x', '--interval', 'soon'], {}, 2, /--interval must be a number/],
    [['rollout', 'watch', 'ro-missing'], {}, 5, /no rollout ro-missing/],
    [['rollout', 'pause', 'ro-missing'], {}, 5, /no rollout ro-missing/],
    [['rollout', 'create', '--file', yaml], {}, 2, /--file .*broken\.yaml: /],
    [['rollout', 'create', '--file', join(dir, 'nope.yaml')], {}, 2, /ENOENT/],
    [['verdict'], {}, 2, /verdict: missing update id/],
    [['verdict', 'upd-missing'], {}, 5, /no update upd-missing/],
    [['kernels', 'create', '--version', 'v'], {}, 2, /missing --image/],
    [['kernels', '--bogus'], {}, 2, /Unknown option '--bogus'/],
    [['login'], { HITLESS_TOKEN: '' }, 2, /give --token/],
    [['login', '--token', 'hlt_expired'], {}, 4, /unknown or revoked token/],
    [['rollout', 'watch', 'ro-x'], { HITLESS_URL: 'http://127.0.0.1:65531' }, 3, /unreachable/],
  ]
  for (const [args, env, code, re] of cases) {
    const r = await hitless(args, env)
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`)
    assert.match(r.err, re, args.join(' '))
    assert.equal(r.err.trim().split('\n').length, 1, `more than one line: ${r.err}`)
  }
})
