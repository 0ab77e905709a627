// The line protocol of native/iommufd-helper (docs/real-kernel-lane.md, "Helper protocol").
//   request:  <tag> <command> [arg ...]\n
//   response: <tag> ok [key=value ...]\n   |   <tag> err <ERRNO-NAME> <what, with %20 for spaces>\n
// Pure: formatting and parsing only; the transport lives in qemu-guest.ts.

/** A successful answer: its key=value pairs, as strings (numbers are decimal or 0x-hex). */
export interface HelperOk {
  tag: string
  ok: true
  values: Record<string, string>
}

/** A failed answer: the errno name the kernel (or the helper) returned and the call that failed. */
export interface HelperErr {
  tag: string
  ok: false
  errno: string
  what: string
}

export type HelperResponse = HelperOk | HelperErr

/** An argument: numbers go as 0x-hex (bigint too, for 64-bit IOVAs), strings as they are. */
export type HelperArg = string | number | bigint

/** Thrown by a request whose answer was `err`: `errno` is the name (`ENOENT`, `EINVAL`, ...). */
export class HelperError extends Error {
  constructor(
    readonly command: string,
    readonly errno: string,
    readonly what: string,
  ) {
    super(`${command}: ${what} failed with ${errno}`)
    this.name = 'HelperError'
  }
}

export function formatArg(a: HelperArg): string {
  if (typeof a === 'number') {
    if (!Number.isSafeInteger(a) || a < 0)
      throw new RangeError(`helper argument ${a} is not a safe unsigned integer`)
    return '0x' + a.toString(16)
  }
  if (typeof a === 'bigint') {
    if (a < 0n) throw new RangeError(`helper argument ${a} is negative`)
    return '0x' + a.toString(16)
  }
  if (a === '' || /[\s]/.test(a))
    throw new RangeError(`helper argument ${JSON.stringify(a)} is empty or has spaces`)
  return a
}

export function formatRequest(tag: string, command: string, args: readonly HelperArg[]): string {
  if (!/^[A-Za-z0-9_.:-]+$/.test(tag)) throw new RangeError(`bad tag ${JSON.stringify(tag)}`)
  if (!/^[a-z0-9_]+$/.test(command)) throw new RangeError(`bad command ${JSON.stringify(command)}`)
  return [tag, command, ...args.map(formatArg)].join(' ') + '\n'
}

/** Parses one response line (without its newline); undefined for a line that is not a response. */
export function parseResponse(line: string): HelperResponse | undefined {
  const parts = line.trim().split(/\s+/)
  if (parts.length < 2) return undefined
  const [tag, status, ...rest] = parts
  if (status === 'ok') {
    const values: Record<string, string> = {}
    for (const kv of rest) {
      const eq = kv.indexOf('=')
      if (eq <= 0) return undefined
      values[kv.slice(0, eq)] = kv.slice(eq + 1)
    }
    return { tag, ok: true, values }
  }
  if (status === 'err' && rest.length >= 1) {
    return { tag, ok: false, errno: rest[0], what: decodeURIComponent(rest.slice(1).join(' ')) }
  }
  return undefined
}

/** A numeric value of a response (decimal or 0x-hex) as a number; throws if absent or not safe. */
export function num(r: HelperOk, key: string): number {
  const v = big(r, key)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${key}=${r.values[key]} exceeds 2^53`)
  return Number(v)
}

/** A numeric value of a response as a bigint (for full 64-bit IOVAs such as the last of a range). */
export function big(r: HelperOk, key: string): bigint {
  const s = r.values[key]
  if (s === undefined) throw new Error(`response ${r.tag} has no ${key}=`)
  return BigInt(s)
}

/** `START-LAST,START-LAST` (hex) → ranges; `''` → none. */
export function parseRanges(s: string): { start: bigint; last: bigint }[] {
  if (!s) return []
  return s.split(',').map((r) => {
    const [start, last] = r.split('-')
    return { start: BigInt(start), last: BigInt(last) }
  })
}

/** The `text=` of read_file: bytes escaped as %xx (spaces, newlines, %, non-ASCII) back to UTF-8. */
export function decodeText(escaped: string): string {
  const bytes: number[] = []
  for (let i = 0; i < escaped.length; i++) {
    if (escaped[i] === '%' && /^[0-9a-fA-F]{2}$/.test(escaped.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(escaped.slice(i + 1, i + 3), 16))
      i += 2
    } else bytes.push(escaped.charCodeAt(i))
  }
  return Buffer.from(bytes).toString('utf8')
}
