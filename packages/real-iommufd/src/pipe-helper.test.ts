import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import { fakeHelper } from './fake-helper.test-support.js'
import { HelperError } from './helper-protocol.js'
import { PipeHelper } from './pipe-helper.js'

test('requests go out as lines and answers come back by tag, ok or err', async () => {
  const f = fakeHelper({
    ioas_alloc: () => 'id=3',
    destroy: () => ({ err: 'ENOENT', what: 'IOMMU_DESTROY' }),
  })
  const h = new PipeHelper(f.stdout, f.stdin)
  assert.equal((await h.call('ioas_alloc')).values.id, '3')
  const e = await h.call('destroy', 999).catch((x: unknown) => x)
  assert.ok(e instanceof HelperError)
  assert.equal(e.errno, 'ENOENT')
  assert.equal(e.what, 'IOMMU_DESTROY')
  assert.deepEqual(f.seen, ['ioas_alloc', 'destroy 0x3e7'])
})

test('answers out of order, split across chunks, and stray lines are matched by tag', async () => {
  const stdin = new PassThrough()
  const stdout = new PassThrough()
  const h = new PipeHelper(stdout, stdin)
  const a = h.call('ping')
  const b = h.call('ioas_alloc')
  stdout.write('iommufd-helper: a console line, not an answer\np2 ok id')
  stdout.write('=7\np1 ok gen=1\n')
  assert.equal((await b).values.id, '7')
  assert.equal((await a).values.gen, '1')
})

test('a request the helper never answers fails after its bound; a closed helper fails everything', async () => {
  const stdin = new PassThrough()
  const stdout = new PassThrough()
  const h = new PipeHelper(stdout, stdin, { requestTimeoutMs: 50 })
  await assert.rejects(h.call('ping'), /did not answer within 50 ms/)
  const pending = h.call('ping')
  stdout.end()
  await assert.rejects(pending, /closed its output/)
  await assert.rejects(h.call('ping'), /closed its output/)
})

test('a helper binary that cannot start rejects with why', async () => {
  const { helper } = PipeHelper.spawn('/nonexistent/iommufd-helper', { requestTimeoutMs: 5_000 })
  await assert.rejects(helper.call('ping'), /iommufd-helper/)
})
