import type { Attachment } from '@hitless/protocol'
import type { DiffCollector } from './diff-collector.js'

const keyOf = (a: Attachment) => (a.pasid === undefined ? a.device : `${a.device}/pasid:${a.pasid}`)

/** Device (and PASID) → HWPT before and after: a device on another HWPT has moved domain. */
export function compareAttachments(pre: Attachment[], post: Attachment[], diff: DiffCollector): void {
  const after = new Map(post.map((a) => [keyOf(a), a]))
  for (const a of pre) {
    const b = after.get(keyOf(a))
    if (!b) diff.add('attachment.missing', { device: keyOf(a), pre: a.hwpt })
    else if (b.hwpt !== a.hwpt) diff.add('attachment.moved', { device: keyOf(a), pre: a.hwpt, post: b.hwpt })
    after.delete(keyOf(a))
  }
  for (const [device, b] of after) diff.add('attachment.extra', { device, post: b.hwpt })
}
