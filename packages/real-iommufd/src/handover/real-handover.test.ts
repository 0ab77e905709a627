import assert from 'node:assert/strict'
import { test } from 'node:test'
import { REAL_HANDOVER_FORMAT, type RealHandover, decodeHandover, encodeHandover } from './real-handover.js'

const h: RealHandover = {
  format: REAL_HANDOVER_FORMAT,
  kernel: { version: '7.2.13', bootId: 'b0' },
  ioas: {
    key: 'vm1',
    hwptKey: 'vm1/hwpt',
    device: 'mock:0',
    iovaRanges: { alignment: 0x800, ranges: '0x1000000-0x7fffffff' },
    mappings: [{ iova: 0x1000000, length: 0x2000, prot: 'rw', file: 'guest-ram-0', offset: 0x1000 }],
  },
  memfds: [{ token: 'guest-ram-0', luoToken: 1, size: 0x4000, fnv1a: '0x1', pfn0: '0x2' }],
}

test('a handover blob round-trips', () => {
  assert.deepEqual(decodeHandover(encodeHandover(h)), h)
})

test('a blob of another format, not JSON, or naming memory it does not carry is refused', () => {
  const bytes = (x: unknown) => new TextEncoder().encode(JSON.stringify(x))
  assert.throws(() => decodeHandover(bytes({ ...h, format: 'v0' })), /format "v0"/)
  assert.throws(() => decodeHandover(new Uint8Array([0xff, 0x00])), /not UTF-8 JSON/)
  const stray = { ...h, ioas: { ...h.ioas, mappings: [{ ...h.ioas.mappings[0], file: 'other' }] } }
  assert.throws(() => decodeHandover(bytes(stray)), /names no preserved memfd \(other\)/)
  const long = { ...h, ioas: { ...h.ioas, mappings: [{ ...h.ioas.mappings[0], length: 0x4000 }] } }
  assert.throws(() => decodeHandover(bytes(long)), /runs past the end of guest-ram-0/)
})
