import { type ByteReader, type ByteWriter, OutOfBounds } from './byte-buffer.js'
import { type AreaColumns, emptyAreas, emptyRuns, type FrameRuns } from './handover-format.js'

/**
 * Version 3's columns: each column of a table is stored whole, at the narrowest fixed width that
 * holds it exactly, so both ends are native typed-array copies instead of a loop per entry.
 *
 *   column   u8 kind · kind 0: f64 first entry, f64 every other entry (all after the first equal) ·
 *            kind 1, 2, 4: zero padding to an 8-byte boundary of the blob, n × i8 / i16 / i32 ·
 *            kind 8: padding, n × f64 (anything that is not a 32-bit integer: kept exactly)
 *
 * Columns hold deltas (see writeRuns, writeAreas), so regular tables (contiguous blocks, constant
 * strides) collapse to kind 0 and shuffled pages to i32.
 */

const PAGE = 4096
/** More entries than this in one table is refused (a constant column would otherwise allocate any n). */
export const MAX_COLUMN_ENTRIES = 2 ** 30
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1

type Column = Float64Array | Int32Array | Uint8Array

let scratch = new Float64Array(0)
function scratchOf(n: number): Float64Array {
  // Reused by every table of every encode (one at a time): as large as the largest table seen.
  if (scratch.length < n) scratch = new Float64Array(n)
  return scratch.length === n ? scratch : scratch.subarray(0, n)
}

/** Writes `v[0..n)` as one column. */
function writeColumn(w: ByteWriter, v: Float64Array, n: number): void {
  // The first entry (a delta from 0) is usually unlike the rest: kind 0 stores it apart.
  let min = n > 1 ? v[1] : 0
  let max = min
  let int32 = true
  for (let i = 1; i < n; i++) {
    const x = v[i]
    if ((x | 0) !== x) int32 = false
    if (x < min) min = x
    else if (x > max) max = x
  }
  const first = n ? v[0] : 0
  const kind = !int32
    ? 8
    : min === max
      ? 0
      : (first | 0) !== first
        ? 8
        : Math.min(first, min) >= -0x80 && Math.max(first, max) <= 0x7f
          ? 1
          : Math.min(first, min) >= -0x8000 && Math.max(first, max) <= 0x7fff
            ? 2
            : 4
  w.u8(kind)
  if (kind === 0) {
    w.f64(first)
    w.f64(min)
    return
  }
  w.ensure(n * kind + 8)
  w.align(8)
  const at = w.pos
  const buf = w.raw
  if (LITTLE_ENDIAN) {
    const dst =
      kind === 1
        ? new Int8Array(buf.buffer, buf.byteOffset + at, n)
        : kind === 2
          ? new Int16Array(buf.buffer, buf.byteOffset + at, n)
          : kind === 4
            ? new Int32Array(buf.buffer, buf.byteOffset + at, n)
            : new Float64Array(buf.buffer, buf.byteOffset + at, n)
    dst.set(v.length === n ? v : v.subarray(0, n))
  } else {
    const dv = new DataView(buf.buffer, buf.byteOffset + at, n * kind)
    for (let i = 0; i < n; i++)
      if (kind === 1) dv.setInt8(i, v[i])
      else if (kind === 2) dv.setInt16(i * 2, v[i], true)
      else if (kind === 4) dv.setInt32(i * 4, v[i], true)
      else dv.setFloat64(i * 8, v[i], true)
  }
  w.pos = at + n * kind
}

/** Reads one column of `out.length` entries into `out` (a native conversion from the stored width). */
function readColumn(r: ByteReader, out: Column): void {
  const n = out.length
  const kind = r.u8()
  if (kind === 0) {
    const first = r.f64()
    out.fill(r.f64())
    if (n) out[0] = first
    return
  }
  if (kind !== 1 && kind !== 2 && kind !== 4 && kind !== 8) throw new OutOfBounds(`column kind ${kind}`)
  const b = r.buf
  // Padding is relative to the blob's first byte (as written), whatever address the blob is at now.
  const at = r.pos + ((8 - (r.pos % 8)) % 8)
  if (at + n * kind > r.end) throw new OutOfBounds(`column of ${n} × ${kind} bytes runs past ${r.end}`)
  const off = b.byteOffset + at
  if (LITTLE_ENDIAN) {
    // Typed-array views need an aligned offset: copy the column out when the blob is not aligned.
    const src = off % kind === 0 ? b.buffer : b.slice(at, at + n * kind).buffer
    const o = off % kind === 0 ? off : 0
    out.set(
      kind === 1
        ? new Int8Array(src, o, n)
        : kind === 2
          ? new Int16Array(src, o, n)
          : kind === 4
            ? new Int32Array(src, o, n)
            : new Float64Array(src, o, n),
    )
  } else {
    const dv = new DataView(b.buffer, off, n * kind)
    for (let i = 0; i < n; i++)
      out[i] =
        kind === 1
          ? dv.getInt8(i)
          : kind === 2
            ? dv.getInt16(i * 2, true)
            : kind === 4
              ? dv.getInt32(i * 4, true)
              : dv.getFloat64(i * 8, true)
  }
  r.pos = at + n * kind
}

function readCount(r: ByteReader, what: string): number {
  const n = r.varint()
  if (n > MAX_COLUMN_ENTRIES) throw new OutOfBounds(`${n} ${what}, more than ${MAX_COLUMN_ENTRIES}`)
  return n
}

/** Frame runs: varint n; column start − previous run's end; column count. */
export function writeRunsV3(w: ByteWriter, r: FrameRuns): void {
  const n = r.n
  w.varint(n)
  const d = scratchOf(n)
  const start = r.start
  const count = r.count
  let prevEnd = 0
  for (let i = 0; i < n; i++) {
    const s = start[i]
    d[i] = s - prevEnd
    prevEnd = s + count[i]
  }
  writeColumn(w, d, n)
  writeColumn(w, count, n)
}

export function readRunsV3(r: ByteReader): FrameRuns {
  const n = readCount(r, 'frame runs')
  const out = emptyRuns(n)
  const start = out.start
  const count = out.count
  readColumn(r, start)
  readColumn(r, count)
  let prevEnd = 0
  for (let i = 0; i < n; i++) {
    const s = prevEnd + start[i]
    start[i] = s
    prevEnd = s + count[i]
  }
  return out
}

/**
 * Areas, in pages: varint n; columns iova − previous area's end, pages, file, offset − previous
 * area's offset end, prot.
 */
export function writeAreasV3(w: ByteWriter, a: AreaColumns): void {
  const n = a.n
  w.varint(n)
  const d = scratchOf(n)
  const iova = a.iova
  const length = a.length
  const offset = a.offset
  let prevEnd = 0
  for (let i = 0; i < n; i++) {
    const x = iova[i] / PAGE
    d[i] = x - prevEnd
    prevEnd = x + length[i] / PAGE
  }
  writeColumn(w, d, n)
  for (let i = 0; i < n; i++) d[i] = length[i] / PAGE
  writeColumn(w, d, n)
  d.set(a.file.length === n ? a.file : a.file.subarray(0, n))
  writeColumn(w, d, n)
  let prevOffEnd = 0
  for (let i = 0; i < n; i++) {
    const o = offset[i] / PAGE
    d[i] = o - prevOffEnd
    prevOffEnd = o + length[i] / PAGE
  }
  writeColumn(w, d, n)
  d.set(a.prot.length === n ? a.prot : a.prot.subarray(0, n))
  writeColumn(w, d, n)
}

export function readAreasV3(r: ByteReader): AreaColumns {
  const n = readCount(r, 'areas')
  const a = emptyAreas(n)
  const iova = a.iova
  const length = a.length
  const offset = a.offset
  readColumn(r, iova)
  readColumn(r, length)
  readColumn(r, a.file)
  readColumn(r, offset)
  readColumn(r, a.prot)
  let prevEnd = 0
  let prevOffEnd = 0
  for (let i = 0; i < n; i++) {
    const pages = length[i]
    const x = prevEnd + iova[i]
    const o = prevOffEnd + offset[i]
    iova[i] = x * PAGE
    length[i] = pages * PAGE
    offset[i] = o * PAGE
    prevEnd = x + pages
    prevOffEnd = o + pages
  }
  return a
}
