/**
 * Little-endian byte writer and reader for the handover format: fixed-width fields, LEB128
 * varints for counts and zigzag deltas (numbers up to 2^53, so IOVAs and page numbers of any
 * 48- or 57-bit address space fit), and length-prefixed UTF-8 strings.
 */
export class ByteWriter {
  private buf: Uint8Array
  private view: DataView
  pos = 0

  constructor(initial = 1 << 16) {
    this.buf = new Uint8Array(initial)
    this.view = new DataView(this.buf.buffer)
  }

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  u8(v: number): void {
    this.ensure(1)
    this.buf[this.pos++] = v
  }

  u16(v: number): void {
    this.ensure(2)
    this.view.setUint16(this.pos, v, true)
    this.pos += 2
  }

  u32(v: number): void {
    this.ensure(4)
    this.view.setUint32(this.pos, v, true)
    this.pos += 4
  }

  f64(v: number): void {
    this.ensure(8)
    this.view.setFloat64(this.pos, v, true)
    this.pos += 8
  }

  /** Unsigned LEB128 of a non-negative safe integer. */
  varint(v: number): void {
    if (this.pos + 8 > this.buf.length) this.ensure(8)
    const b = this.buf
    let p = this.pos
    if (v < 0x80000000) {
      // Fast path: integer shifts (most counts, pages and deltas).
      while (v >= 0x80) {
        b[p++] = (v & 0x7f) | 0x80
        v >>>= 7
      }
      b[p++] = v
      this.pos = p
      return
    }
    while (v >= 0x80) {
      b[p++] = (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    b[p++] = v
    this.pos = p
  }

  /** Zigzag LEB128 of a signed safe integer (small deltas either way stay small). */
  svarint(v: number): void {
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1)
  }

  /** Zero bytes up to a multiple of `k` (positions are offsets in the finished blob). */
  align(k: number): void {
    const pad = (k - (this.pos % k)) % k
    this.ensure(pad)
    this.buf.fill(0, this.pos, this.pos + pad)
    this.pos += pad
  }

  /** The backing bytes (offset 0 is the blob's first byte); valid until the next write that grows. */
  get raw(): Uint8Array {
    return this.buf
  }

  /** A byte without a bounds check (the caller ensured room). */
  u8Unchecked(v: number): void {
    this.buf[this.pos++] = v
  }

  str(s: string): void {
    const bytes = Buffer.from(s, 'utf8')
    this.varint(bytes.length)
    this.bytes(bytes)
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /** Reserves a u32 to patch later (a section's length). */
  placeholder32(): number {
    const at = this.pos
    this.u32(0)
    return at
  }

  patch32(at: number, v: number): void {
    this.view.setUint32(at, v, true)
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos)
  }
}

/** Thrown by ByteReader when a read runs past the end of its window (the caller names the check). */
export class OutOfBounds extends Error {}

export class ByteReader {
  private readonly view: DataView
  pos: number

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    this.pos = start
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new OutOfBounds(`read of ${n} bytes at ${this.pos} past ${this.end}`)
  }

  get remaining(): number {
    return this.end - this.pos
  }

  u8(): number {
    this.need(1)
    return this.buf[this.pos++]
  }

  u16(): number {
    this.need(2)
    const v = this.view.getUint16(this.pos, true)
    this.pos += 2
    return v
  }

  u32(): number {
    this.need(4)
    const v = this.view.getUint32(this.pos, true)
    this.pos += 4
    return v
  }

  f64(): number {
    this.need(8)
    const v = this.view.getFloat64(this.pos, true)
    this.pos += 8
    return v
  }

  varint(): number {
    const b = this.buf
    let p = this.pos
    if (p + 4 <= this.end) {
      // Fast path: up to 28 bits in at most four bytes, with integer shifts.
      let x = b[p]
      if (x < 0x80) {
        this.pos = p + 1
        return x
      }
      let v = x & 0x7f
      x = b[p + 1]
      v |= (x & 0x7f) << 7
      if (x < 0x80) {
        this.pos = p + 2
        return v
      }
      x = b[p + 2]
      v |= (x & 0x7f) << 14
      if (x < 0x80) {
        this.pos = p + 3
        return v
      }
      x = b[p + 3]
      v |= (x & 0x7f) << 21
      if (x < 0x80) {
        this.pos = p + 4
        return v
      }
    }
    let v = 0
    let mul = 1
    for (;;) {
      if (p >= this.end) throw new OutOfBounds(`varint at ${this.pos} runs past ${this.end}`)
      const x = b[p++]
      v += (x & 0x7f) * mul
      if (x < 0x80) break
      mul *= 0x80
      if (mul > 2 ** 56) throw new OutOfBounds(`varint at ${this.pos} is longer than 8 bytes`)
    }
    this.pos = p
    return v
  }

  svarint(): number {
    const z = this.varint()
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2
  }

  str(): string {
    const n = this.varint()
    this.need(n)
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, n).toString('utf8')
    this.pos += n
    return s
  }

  bytes(n: number): Uint8Array {
    this.need(n)
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }
}
