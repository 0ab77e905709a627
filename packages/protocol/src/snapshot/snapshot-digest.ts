import { createHash } from 'node:crypto'

/**
 * Identity of an encoded snapshot: `sha256:<hex>` of its bytes, the same digest the controller
 * records for an upload (Snapshot.digest), so an agent can check what was stored.
 */
export function snapshotDigest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}
