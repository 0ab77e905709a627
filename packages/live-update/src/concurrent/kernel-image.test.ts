import assert from 'node:assert/strict'
import { test } from 'node:test'
import { keptOnSuccess } from './kernel-image.js'

test('a build is made once and shared; a failed one is not kept, the next call builds again', async () => {
  let builds = 0
  const fail = [true, false]
  const image = keptOnSuccess(async () => {
    const n = ++builds
    await new Promise((r) => setTimeout(r, 5))
    if (fail[n - 1]) throw new Error(`build ${n} failed`)
    return `image ${n}`
  })
  // Two callers during the first build share it, and its failure.
  const [a, b] = await Promise.allSettled([image(), image()])
  assert.equal(builds, 1)
  assert.equal(a.status, 'rejected')
  assert.equal(b.status, 'rejected')
  assert.equal(await image(), 'image 2')
  assert.equal(await image(), 'image 2')
  assert.equal(builds, 2)
})
