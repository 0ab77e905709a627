/**
 * A field of an SMMUv3 structure made of little-endian 64-bit words (STE, CD, commands, event
 * records), located as the specification does: word index and bit range [msb:lsb] within it.
 * Structures declare their fields as constants built with `field()` (e.g. `STE.V`, `CD.ASID`), so
 * that a reader can compare them with IHI 0070 and with Linux's arm-smmu-v3.h line by line.
 *
 * `get`/`set` work on bigint words (driver side, codecs, tests); `getHalf` reads a field from the
 * two unsigned 32-bit halves of a word (the SMMU's fetch path, no BigInt).
 */
export interface QwordField {
  readonly qword: number
  readonly lsb: number
  readonly width: number
  /** The field's mask in its 64-bit word (GENMASK_ULL(msb, lsb)). */
  readonly mask: bigint
}

/** Field at bits [msb:lsb] of word `qword`. */
export function field(qword: number, msb: number, lsb = msb): QwordField {
  const width = msb - lsb + 1
  return { qword, lsb, width, mask: ((1n << BigInt(width)) - 1n) << BigInt(lsb) }
}

export function get(words: readonly bigint[], f: QwordField): bigint {
  return (words[f.qword] & f.mask) >> BigInt(f.lsb)
}

export function getNum(words: readonly bigint[], f: QwordField): number {
  return Number(get(words, f))
}

/** Sets a field in place (value truncated to the field's width). */
export function set(words: bigint[], f: QwordField, value: bigint | number | boolean): void {
  const v = typeof value === 'bigint' ? value : BigInt(typeof value === 'boolean' ? (value ? 1 : 0) : value)
  words[f.qword] = (words[f.qword] & ~f.mask) | ((v << BigInt(f.lsb)) & f.mask)
}

/**
 * Reads a field of at most 32 bits that lies entirely in one half of its word, from the halves.
 */
export function getHalf(lo: number, hi: number, f: QwordField): number {
  const m = f.width === 32 ? 0xffffffff : (1 << f.width) - 1
  if (f.lsb >= 32) return ((hi >>> (f.lsb - 32)) & m) >>> 0
  return ((lo >>> f.lsb) & m) >>> 0
}

/**
 * Reads an address field [msb:lsb] (e.g. S1ContextPtr [51:6], TTB0 [51:4]) as a byte address:
 * the field's bits stay in place, lower bits are zero.
 */
export function getAddress(lo: number, hi: number, f: QwordField): number {
  const loMask = (0xffffffff << f.lsb) >>> 0
  const msb = f.lsb + f.width - 1
  const hiMask = msb >= 63 ? 0xffffffff : 2 ** (msb - 31) - 1
  return (hi & hiMask) * 4294967296 + ((lo & loMask) >>> 0)
}

/** Reads `count` words at `pa` (driver side). */
export function readWords(read64: (pa: number) => bigint, pa: number, count: number): bigint[] {
  const out: bigint[] = []
  for (let i = 0; i < count; i++) out.push(read64(pa + i * 8))
  return out
}

export function hex(words: readonly bigint[]): string {
  return words.map((w) => `0x${w.toString(16).padStart(16, '0')}`).join(' ')
}
