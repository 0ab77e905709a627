import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isHitlessError } from '@hitless/protocol'
import { decodeHandover, encodeHandover } from './handover-codec.js'
import { areasFrom, type HandoverState, runsFromAddresses } from './handover-format.js'

function sample(): HandoverState {
  return {
    meta: {
      hardware: 'vtd-legacy',
      backend: 'emulated-vtd',
      kernel: { version: '6.19.0-hitless0', bootId: 'b-1' },
      targetKernel: '7.2.13-hitless1',
      strategy: 'replay-verify',
    },
    preserved: runsFromAddresses([0x10000, 0x11000, 0x20000]),
    memfds: [
      {
        token: 'memfd:guest',
        name: 'guest',
        size: 3 * 4096,
        frames: runsFromAddresses([0x30000, 0x50000, 0x51000]),
      },
    ],
    ioas: [
      {
        id: 1,
        key: 'ioas:guest',
        allowed: [[0, 2 ** 40 - 1]],
        areas: areasFrom([
          { iova: 0x1000_0000, length: 4096, file: 0, offset: 8192, read: true, write: false },
          { iova: 0x1000_2000, length: 8192, file: 0, offset: 0, read: true, write: true },
        ]),
      },
    ],
    hwpts: [
      {
        id: 2,
        key: 'hwpt:guest',
        ioasId: 1,
        auto: false,
        format: 'vtd-sl',
        tag: 2,
        root: 0x10000,
        tablePages: 3,
      },
    ],
    devices: [{ id: 3, name: 'pci:0000:00:03.0', hwptId: 2 }],
    userspace: { ioas: [], hwpts: [], attachments: [{ device: 'pci:0000:00:03.0', hwptKey: 'hwpt:guest' }] },
    job: {
      updateId: 'u1',
      attempt: 1,
      epoch: 3,
      lockToken: 'tok',
      done: { PREFLIGHT: {} },
      stoppedAt: 5,
      accessesAtStop: 9,
    },
  }
}

function refusedBy(f: () => unknown, check: string): void {
  assert.throws(
    f,
    (e: unknown) => isHitlessError(e) && e.code === 'HITLESS_E_HANDOVER' && e.details?.check === check,
  )
}

test('a handover round-trips: objects, areas, frames, userspace record and job context', () => {
  const s = sample()
  const back = decodeHandover(encodeHandover(s))
  assert.deepEqual(back.meta, s.meta)
  assert.deepEqual(back.hwpts, s.hwpts)
  assert.deepEqual(back.devices, s.devices)
  assert.deepEqual(back.job, s.job)
  assert.deepEqual(back.userspace, s.userspace)
  assert.deepEqual([...back.ioas[0].areas.offset], [8192, 0])
  assert.deepEqual([...back.ioas[0].areas.prot], [1, 3])
  assert.deepEqual(back.ioas[0].allowed, [[0, 2 ** 40 - 1]])
  assert.deepEqual([...back.memfds[0].frames.start], [0x30, 0x50])
  assert.deepEqual([...back.memfds[0].frames.count], [1, 2])
})

test('an untrustworthy blob is refused with the check that failed', () => {
  const blob = encodeHandover(sample())
  const bad = Uint8Array.from(blob)
  bad[0] ^= 1
  refusedBy(() => decodeHandover(bad), 'magic')
  const v2 = Uint8Array.from(blob)
  v2[8] = 2
  refusedBy(() => decodeHandover(v2), 'version')
  refusedBy(() => decodeHandover(blob.subarray(0, blob.length - 5)), 'truncated')
  refusedBy(() => decodeHandover(blob.subarray(0, 10)), 'truncated')
  const flipped = Uint8Array.from(blob)
  flipped[blob.length - 3] ^= 0x10
  refusedBy(() => decodeHandover(flipped), 'checksum')
})

test('a well-formed but inconsistent blob is refused as inconsistent', () => {
  const s = sample()
  refusedBy(
    () => decodeHandover(encodeHandover({ ...s, hwpts: [{ ...s.hwpts[0], ioasId: 9 }] })),
    'inconsistent',
  )
  refusedBy(
    () => decodeHandover(encodeHandover({ ...s, hwpts: [{ ...s.hwpts[0], root: 0x90000 }] })),
    'inconsistent',
  )
  refusedBy(
    () => decodeHandover(encodeHandover({ ...s, devices: [{ ...s.devices[0], hwptId: 7 }] })),
    'inconsistent',
  )
  const past = areasFrom([{ iova: 0, length: 8192, file: 0, offset: 8192, read: true, write: true }])
  refusedBy(
    () => decodeHandover(encodeHandover({ ...s, ioas: [{ ...s.ioas[0], areas: past }] })),
    'inconsistent',
  )
})
