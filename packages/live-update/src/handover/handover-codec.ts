import { crc32 } from 'node:zlib'
import { HARDWARE, type Hardware, STRATEGIES, type Strategy } from '@hitless/protocol'
import { ByteReader, ByteWriter, OutOfBounds } from './byte-buffer.js'
import { readAreasV3, readRunsV3, writeAreasV3, writeRunsV3 } from './columns.js'
import { checkHandover } from './handover-checks.js'
import { handoverRefused } from './handover-error.js'
import {
  type AreaColumns,
  emptyAreas,
  emptyRuns,
  type FrameRuns,
  HANDOVER_HEADER_BYTES,
  HANDOVER_MAGIC,
  HANDOVER_VERSION,
  HANDOVER_VERSIONS,
  type HandoverVersion,
  type HandoverState,
  SECTION,
  type UserspaceRecord,
} from './handover-format.js'

const PAGE = 4096

// Version 1's tables: LEB128 varints, one entry at a time (still read, and written on request).

function writeRunsV1(w: ByteWriter, r: FrameRuns): void {
  w.varint(r.n)
  w.ensure(r.n * 20)
  let prevEnd = 0
  for (let i = 0; i < r.n; i++) {
    w.svarint(r.start[i] - prevEnd)
    w.varint(r.count[i])
    prevEnd = r.start[i] + r.count[i]
  }
}

/** Cursor of the hot-loop varint readers below (module state: no object, no closure on the hot path). */
let at = 0

/** LEB128 at `at` in `b` (bounded by `end`), advancing `at`. */
function uv(b: Uint8Array, end: number): number {
  let p = at
  if (p + 4 <= end) {
    let x = b[p]
    let v = x & 0x7f
    if (x < 0x80) {
      at = p + 1
      return v
    }
    x = b[p + 1]
    v |= (x & 0x7f) << 7
    if (x < 0x80) {
      at = p + 2
      return v
    }
    x = b[p + 2]
    v |= (x & 0x7f) << 14
    if (x < 0x80) {
      at = p + 3
      return v
    }
    x = b[p + 3]
    v |= (x & 0x7f) << 21
    if (x < 0x80) {
      at = p + 4
      return v
    }
  }
  let v = 0
  let mul = 1
  for (;;) {
    if (p >= end) throw new OutOfBounds(`varint at ${at} runs past ${end}`)
    const x = b[p++]
    v += (x & 0x7f) * mul
    if (x < 0x80) break
    mul *= 0x80
    if (mul > 2 ** 56) throw new OutOfBounds(`varint at ${at} is longer than 8 bytes`)
  }
  at = p
  return v
}

function sv(b: Uint8Array, end: number): number {
  const z = uv(b, end)
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2
}

function readRunsV1(r: ByteReader): FrameRuns {
  const n = r.varint()
  if (n > r.remaining) throw new OutOfBounds(`${n} frame runs in ${r.remaining} bytes`)
  const out = emptyRuns(n)
  const b = r.buf
  const end = r.end
  at = r.pos
  let prevEnd = 0
  for (let i = 0; i < n; i++) {
    const s = prevEnd + sv(b, end)
    const c = uv(b, end)
    out.start[i] = s
    out.count[i] = c
    prevEnd = s + c
  }
  r.pos = at
  return out
}

/** Areas: IOVA as a delta from the previous area's end, lengths and offsets in pages, offset as a delta from where the previous area of that position ended. */
function writeAreasV1(w: ByteWriter, a: AreaColumns): void {
  w.varint(a.n)
  w.ensure(a.n * 40)
  let prevEnd = 0
  let prevOffEnd = 0
  for (let i = 0; i < a.n; i++) {
    const iova = a.iova[i] / PAGE
    const pages = a.length[i] / PAGE
    const off = a.offset[i] / PAGE
    w.svarint(iova - prevEnd)
    w.varint(pages)
    w.varint(a.file[i] + 1)
    w.svarint(off - prevOffEnd)
    w.u8Unchecked(a.prot[i])
    prevEnd = iova + pages
    prevOffEnd = off + pages
  }
}

function readAreasV1(r: ByteReader): AreaColumns {
  const n = r.varint()
  if (n * 5 > r.remaining) throw new OutOfBounds(`${n} areas in ${r.remaining} bytes`)
  const a = emptyAreas(n)
  const b = r.buf
  const end = r.end
  at = r.pos
  let prevEnd = 0
  let prevOffEnd = 0
  for (let i = 0; i < n; i++) {
    const iova = prevEnd + sv(b, end)
    const pages = uv(b, end)
    const file = uv(b, end) - 1
    const off = prevOffEnd + sv(b, end)
    if (at >= end) throw new OutOfBounds(`area ${i} runs past ${end}`)
    a.iova[i] = iova * PAGE
    a.length[i] = pages * PAGE
    a.file[i] = file
    a.offset[i] = off * PAGE
    a.prot[i] = b[at++]
    prevEnd = iova + pages
    prevOffEnd = off + pages
  }
  r.pos = at
  return a
}

function section(w: ByteWriter, tag: number, body: () => void): void {
  w.u16(tag)
  w.u16(0)
  const at = w.placeholder32()
  const start = w.pos
  body()
  w.patch32(at, w.pos - start)
}

/**
 * Encodes a handover (the old kernel finalising its KHO state) in `version` (default the newest;
 * an update to or from a kernel that reads only version 1 writes version 1).
 */
export function encodeHandover(s: HandoverState, version: HandoverVersion = HANDOVER_VERSION): Uint8Array {
  if (!HANDOVER_VERSIONS.includes(version)) throw new RangeError(`no handover format version ${version}`)
  const writeRuns = version === 1 ? writeRunsV1 : writeRunsV3
  const writeAreas = version === 1 ? writeAreasV1 : writeAreasV3
  // One buffer of about the final size (v3: i32 deltas and an i8 column at most, usually): every
  // regrowth is a fresh large allocation and copy.
  let rows = s.preserved.n * 8
  for (const m of s.memfds) rows += m.frames.n * 8
  for (const io of s.ioas) rows += io.areas.n * 9
  for (const io of s.userspace?.ioas ?? []) rows += io.maps.n * 9
  const w = new ByteWriter((1 << 16) + (version === 1 ? Math.ceil(rows / 2) : rows))
  w.bytes(new Uint8Array(HANDOVER_HEADER_BYTES))
  let sections = 0
  const sec = (tag: number, body: () => void) => {
    section(w, tag, body)
    sections++
  }
  sec(SECTION.META, () => {
    w.str(s.meta.hardware)
    w.str(s.meta.backend)
    w.str(s.meta.kernel.version)
    w.str(s.meta.kernel.bootId)
    w.str(s.meta.targetKernel)
    w.str(s.meta.strategy)
  })
  sec(SECTION.PRESERVED, () => writeRuns(w, s.preserved))
  sec(SECTION.MEMFDS, () => {
    w.varint(s.memfds.length)
    for (const m of s.memfds) {
      w.str(m.token)
      w.str(m.name)
      w.varint(m.size)
      writeRuns(w, m.frames)
    }
  })
  sec(SECTION.IOAS, () => {
    w.varint(s.ioas.length)
    for (const io of s.ioas) {
      w.varint(io.id)
      w.str(io.key)
      w.varint(io.allowed ? io.allowed.length + 1 : 0)
      for (const [a, b] of io.allowed ?? []) {
        w.f64(a)
        w.f64(b)
      }
      writeAreas(w, io.areas)
    }
  })
  sec(SECTION.HWPTS, () => {
    w.varint(s.hwpts.length)
    for (const h of s.hwpts) {
      w.varint(h.id)
      w.str(h.key)
      w.varint(h.ioasId)
      w.u8(h.auto ? 1 : 0)
      w.str(h.format)
      w.varint(h.tag)
      w.varint(h.root)
      w.varint(h.tablePages)
    }
  })
  sec(SECTION.DEVICES, () => {
    w.varint(s.devices.length)
    for (const d of s.devices) {
      w.varint(d.id)
      w.str(d.name)
      w.varint(d.hwptId)
    }
  })
  if (s.userspace)
    sec(SECTION.USERSPACE, () => {
      const u = s.userspace!
      w.varint(u.ioas.length)
      for (const io of u.ioas) {
        w.str(io.key)
        writeAreas(w, io.maps)
      }
      w.varint(u.hwpts.length)
      for (const h of u.hwpts) {
        w.str(h.key)
        w.str(h.ioasKey)
        w.str(h.device)
        w.u8(h.nestParent ? 1 : 0)
      }
      w.varint(u.attachments.length)
      for (const a of u.attachments) {
        w.str(a.device)
        w.str(a.hwptKey)
      }
    })
  if (s.job) sec(SECTION.JOB, () => w.str(JSON.stringify(s.job)))
  const out = w.finish()
  const payload = out.subarray(HANDOVER_HEADER_BYTES)
  const h = new DataView(out.buffer, out.byteOffset, HANDOVER_HEADER_BYTES)
  out.set(HANDOVER_MAGIC, 0)
  h.setUint16(8, version, true)
  h.setUint16(10, 0, true)
  h.setUint16(12, sections, true)
  h.setUint32(16, payload.length, true)
  h.setUint32(20, crc32(payload), true)
  return out
}

/**
 * Decodes and checks a handover, refusing (HITLESS_E_HANDOVER, `details.check`) at the first
 * check that fails: magic, version, truncated, checksum, section, inconsistent.
 */
export function decodeHandover(bytes: Uint8Array): HandoverState {
  if (bytes.length < HANDOVER_HEADER_BYTES) {
    if (bytes.length >= 8 && !HANDOVER_MAGIC.every((b, i) => bytes[i] === b))
      throw handoverRefused('magic', 'not a Hitless handover blob')
    throw handoverRefused(
      'truncated',
      `${bytes.length} bytes, shorter than the ${HANDOVER_HEADER_BYTES}-byte header`,
    )
  }
  if (!HANDOVER_MAGIC.every((b, i) => bytes[i] === b))
    throw handoverRefused('magic', 'not a Hitless handover blob')
  const h = new DataView(bytes.buffer, bytes.byteOffset, HANDOVER_HEADER_BYTES)
  const version = h.getUint16(8, true)
  if (!(HANDOVER_VERSIONS as readonly number[]).includes(version))
    throw handoverRefused(
      'version',
      `format version ${version}; this kernel reads versions ${HANDOVER_VERSIONS.join(' and ')}`,
    )
  const tables = version === 1 ? V1_TABLES : V3_TABLES
  const sections = h.getUint16(12, true)
  const payloadBytes = h.getUint32(16, true)
  if (bytes.length < HANDOVER_HEADER_BYTES + payloadBytes)
    throw handoverRefused(
      'truncated',
      `header promises ${payloadBytes} payload bytes, ${bytes.length - HANDOVER_HEADER_BYTES} present`,
    )
  const payload = bytes.subarray(HANDOVER_HEADER_BYTES, HANDOVER_HEADER_BYTES + payloadBytes)
  const want = h.getUint32(20, true)
  const got = crc32(payload)
  if (want !== got)
    throw handoverRefused(
      'checksum',
      `CRC-32 0x${got.toString(16)} does not match the header's 0x${want.toString(16)}`,
    )

  const s: Partial<HandoverState> = { userspace: null, job: null }
  const r = new ByteReader(bytes, HANDOVER_HEADER_BYTES, HANDOVER_HEADER_BYTES + payloadBytes)
  let tag = 0
  try {
    for (let i = 0; i < sections; i++) {
      tag = r.u16()
      r.u16()
      const len = r.u32()
      const end = r.pos + len
      if (end > r.end) throw new OutOfBounds(`section ${tag} of ${len} bytes runs past the payload`)
      const b = new ByteReader(bytes, r.pos, end)
      readSection(tag, b, s, tables)
      if (b.pos !== end) throw new OutOfBounds(`section ${tag}: ${end - b.pos} bytes left over`)
      r.pos = end
    }
  } catch (e) {
    if (e instanceof OutOfBounds) throw handoverRefused('section', `section ${tag}: ${e.message}`)
    throw e
  }
  if (r.pos !== r.end) throw handoverRefused('section', `${r.end - r.pos} bytes after the last section`)
  for (const k of ['meta', 'preserved', 'memfds', 'ioas', 'hwpts', 'devices'] as const)
    if (s[k] === undefined) throw handoverRefused('section', `no ${k} section`)
  const state = s as HandoverState
  checkHandover(state)
  return state
}

interface TableReaders {
  runs: (r: ByteReader) => FrameRuns
  areas: (r: ByteReader) => AreaColumns
}
const V1_TABLES: TableReaders = { runs: readRunsV1, areas: readAreasV1 }
const V3_TABLES: TableReaders = { runs: readRunsV3, areas: readAreasV3 }

function readSection(tag: number, r: ByteReader, s: Partial<HandoverState>, t: TableReaders): void {
  const readRuns = t.runs
  const readAreas = t.areas
  switch (tag) {
    case SECTION.META: {
      const hardware = r.str()
      const backend = r.str()
      const kernel = { version: r.str(), bootId: r.str() }
      const targetKernel = r.str()
      const strategy = r.str()
      if (!(HARDWARE as readonly string[]).includes(hardware))
        throw handoverRefused('inconsistent', `unknown hardware ${hardware}`)
      if (!(STRATEGIES as readonly string[]).includes(strategy))
        throw handoverRefused('inconsistent', `unknown strategy ${strategy}`)
      s.meta = {
        hardware: hardware as Hardware,
        backend,
        kernel,
        targetKernel,
        strategy: strategy as Strategy,
      }
      return
    }
    case SECTION.PRESERVED:
      s.preserved = readRuns(r)
      return
    case SECTION.MEMFDS: {
      const n = r.varint()
      s.memfds = []
      for (let i = 0; i < n; i++)
        s.memfds.push({ token: r.str(), name: r.str(), size: r.varint(), frames: readRuns(r) })
      return
    }
    case SECTION.IOAS: {
      const n = r.varint()
      s.ioas = []
      for (let i = 0; i < n; i++) {
        const id = r.varint()
        const key = r.str()
        const na = r.varint()
        const allowed: [number, number][] | null = na ? [] : null
        for (let k = 0; k < na - 1; k++) allowed!.push([r.f64(), r.f64()])
        s.ioas.push({ id, key, allowed, areas: readAreas(r) })
      }
      return
    }
    case SECTION.HWPTS: {
      const n = r.varint()
      s.hwpts = []
      for (let i = 0; i < n; i++)
        s.hwpts.push({
          id: r.varint(),
          key: r.str(),
          ioasId: r.varint(),
          auto: r.u8() === 1,
          format: r.str(),
          tag: r.varint(),
          root: r.varint(),
          tablePages: r.varint(),
        })
      return
    }
    case SECTION.DEVICES: {
      const n = r.varint()
      s.devices = []
      for (let i = 0; i < n; i++) s.devices.push({ id: r.varint(), name: r.str(), hwptId: r.varint() })
      return
    }
    case SECTION.USERSPACE: {
      const u: UserspaceRecord = { ioas: [], hwpts: [], attachments: [] }
      const ni = r.varint()
      for (let i = 0; i < ni; i++) u.ioas.push({ key: r.str(), maps: readAreas(r) })
      const nh = r.varint()
      for (let i = 0; i < nh; i++)
        u.hwpts.push({ key: r.str(), ioasKey: r.str(), device: r.str(), nestParent: r.u8() === 1 })
      const na = r.varint()
      for (let i = 0; i < na; i++) u.attachments.push({ device: r.str(), hwptKey: r.str() })
      s.userspace = u
      return
    }
    case SECTION.JOB:
      try {
        s.job = JSON.parse(r.str())
      } catch (e) {
        throw handoverRefused('inconsistent', `job context is not JSON: ${(e as Error).message}`)
      }
      return
    default:
      throw handoverRefused('section', `unknown section tag ${tag}`)
  }
}

/** A copy of the state with `areas` replaced in IOAS `key` (what fault injection and tests use). */
export function withAreas(s: HandoverState, key: string, areas: AreaColumns): HandoverState {
  return { ...s, ioas: s.ioas.map((io) => (io.key === key ? { ...io, areas } : io)) }
}
