import { NO_FILE } from '@hitless/protocol'

/** Never equal to a pre index nor to NO_FILE: a post token the pre snapshot does not have. */
const UNKNOWN = 0xfffffffe

/**
 * Maps post-snapshot file indexes to pre-snapshot ones (by token), so backing is compared by
 * token, not by position in each snapshot's own table.
 */
export function postToPreFiles(pre: readonly string[], post: readonly string[]): (i: number) => number {
  const rank = new Map(pre.map((t, i) => [t, i]))
  const map = Uint32Array.from(post, (t) => rank.get(t) ?? UNKNOWN)
  return (i) => (i === NO_FILE ? NO_FILE : map[i])
}

export function sameFiles(pre: readonly string[], post: readonly string[]): boolean {
  return pre.length === post.length && pre.every((t, i) => t === post[i])
}

export function fileName(files: readonly string[], i: number): string | null {
  return i === NO_FILE ? null : files[i]
}
