import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatRequest, parseRanges, parseResponse } from './helper-protocol.js'

test('requests are one line of space-separated tokens, numbers in hex', () => {
  assert.equal(
    formatRequest('r1', 'ioas_map', [3, 0x1000000, 1n << 40n, 'prot=rw']),
    'r1 ioas_map 0x3 0x1000000 0x10000000000 prot=rw\n',
  )
  assert.throws(() => formatRequest('r1', 'fd_write', ['a b']), RangeError)
  assert.throws(() => formatRequest('r 1', 'ping', []), RangeError)
  assert.throws(() => formatRequest('r1', 'ping', [-1]), RangeError)
})

test('ok and err responses parse; anything else is not a response', () => {
  assert.deepEqual(parseResponse('r7 ok iova=0x1000000 uptr=0x7f00'), {
    tag: 'r7',
    ok: true,
    values: { iova: '0x1000000', uptr: '0x7f00' },
  })
  assert.deepEqual(parseResponse('r8 err ENOENT IOMMU_IOAS_UNMAP'), {
    tag: 'r8',
    ok: false,
    errno: 'ENOENT',
    what: 'IOMMU_IOAS_UNMAP',
  })
  assert.equal(parseResponse('r9 err ENOEXEC no%20kexec%20image')?.ok, false)
  assert.equal(
    (parseResponse('r9 err ENOEXEC no%20kexec%20image') as { what: string }).what,
    'no kexec image',
  )
  assert.equal(parseResponse('[    1.234] random console noise'), undefined)
  assert.equal(parseResponse('r1 ok novalue'), undefined)
})

test('iova ranges parse to bigints', () => {
  assert.deepEqual(parseRanges('0x1000000-0x7fffffff,0x100000000-0xffffffffffffffff'), [
    { start: 0x1000000n, last: 0x7fffffffn },
    { start: 0x100000000n, last: 0xffffffffffffffffn },
  ])
  assert.deepEqual(parseRanges(''), [])
})
