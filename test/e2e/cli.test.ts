import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { runCli } from '../support/cli.js'
import { api, KERNEL, startPlatform, type TestPlatform } from '../support/platform.js'

let p: TestPlatform
before(async () => {
  p = await startPlatform()
  await api(p, p.adminToken, 'POST', '/api/v1/agent/enrol', {
    agentId: 'cli',
    hosts: ['a', 'b', 'c'].map((n, i) => ({
      name: `cli-${n}`,
      hardware: 'smmuv3-bbml2',
      kernel: '6.19',
      bootId: `b${i}`,
      labels: { rack: i < 2 ? 'r1' : 'r2' },
    })),
  })
})
after(async () => p?.close())

const hitless = (args: string[], env: Record<string, string> = {}) => runCli(p, args, env)

test('hosts list as a table and as JSON, filtered by selector', async () => {
  const t = await hitless(['hosts', '--selector', 'rack=r1'])
  assert.equal(t.code, 0, t.err)
  assert.match(t.out, /^NAME\s+STATE/)
  assert.equal(t.out.trim().split('\n').length, 3)
  const j = await hitless(['hosts', '--json'])
  assert.equal(j.code, 0)
  assert.deepEqual(
    (JSON.parse(j.out) as { name: string }[]).map((h) => h.name),
    ['cli-a', 'cli-b', 'cli-c'],
  )
})

test('rollout create --dry-run prints the plan and creates nothing', async () => {
  const r = await hitless([
    'rollout',
    'create',
    '--kernel',
    KERNEL.version,
    '--image',
    KERNEL.image,
    '--sha256',
    KERNEL.sha256,
    '--strategy',
    'serialise',
    '--selector',
    'rack=r2',
    '--dry-run',
    '-o',
    'json',
  ])
  assert.equal(r.code, 0, r.err)
  assert.deepEqual(JSON.parse(r.out).hosts, ['cli-c'])
})

test('bad input: one line on stderr and the exit code of the table', async () => {
  const cases: [string[], Record<string, string>, number, RegExp][] = [
    [['frobnicate'], {}, 2, /unknown command frobnicate/],
    [['hosts', '--nope'], {}, 2, /Unknown option '--nope'/],
    [['rollout', 'create', '--kernel', 'k'], {}, 2, /missing --image/],
    [
      ['rollout', 'create', '--kernel', 'k', '--image', 'i', '--sha256', 'zz', '--strategy', 'serialise'],
      {},
      2,
      /rollout\/kernel\/sha256/,
    ],
    [['rollout', 'get', 'ro-missing'], {}, 5, /no rollout ro-missing/],
    [['hosts'], { HITLESS_TOKEN: 'hlt_expired' }, 4, /unknown or revoked token/],
    [['hosts'], { HITLESS_URL: 'http://127.0.0.1:65531' }, 3, /unreachable \(ECONNREFUSED\)/],
    [['hosts', '--output', 'yaml'], {}, 2, /--output must be table or json/],
  ]
  for (const [args, env, code, re] of cases) {
    const r = await hitless(args, env)
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`)
    assert.match(r.err, re)
    assert.equal(r.err.trim().split('\n').length, 1, `more than one line: ${r.err}`)
  }
})
