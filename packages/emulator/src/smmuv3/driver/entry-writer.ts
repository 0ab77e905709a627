import type { CpuStorePort } from '../../cpu/cpu-store-port.js'

/**
 * The kernel's hitless STE/CD update, arm_smmu_write_entry() (drivers/iommu/arm/arm-smmu-v3/
 * arm-smmu-v3.c, Jason Gunthorpe, v6.9+), over emulated memory. The SMMU guarantees only 64-bit
 * single-copy atomicity of CPU stores while an entry is 8 qwords, so the writer reasons about the
 * bits the hardware *uses* (get_used):
 *
 *   unused_update[i] = (entry[i] & cur_used[i]) | (target[i] & ~cur_used[i])
 *   qword i is critical if (unused_update[i] & target_used[i]) != target[i]
 *
 *   - no critical qword: nothing the HW uses changes; write the target (normally a no-op).
 *   - exactly 1 critical qword → hitless: (1) write the currently unused bits of the other qwords,
 *     sync; (2) write the critical qword with ONE 64-bit store, sync; (3) write the final target
 *     (clearing bits now unused), sync. At every store boundary the HW sees the old or the new
 *     configuration, whichever qwords it combines.
 *   - 2+ critical qwords → breaking: (1) qword 0 with V=0, sync; (2) qwords 1..7, sync;
 *     (3) qword 0 with V=1, sync. Between (1) and (3) a transaction that misses the config cache
 *     sees V=0: C_BAD_STE / C_BAD_CD.
 *
 * "sync" is CFGI_STE/CFGI_CD for every stream of the master, then CMD_SYNC.
 */
export const NUM_ENTRY_QWORDS = 8

export type EntryUpdateKind = 'none' | 'hitless' | 'breaking'

export interface EntryWriterOps {
  getUsed(entry: readonly bigint[]): bigint[]
  /** Invalidate the SMMU's cached copy of this entry and wait for it (CFGI_* + CMD_SYNC). */
  sync(): void
}

/** One step of an update: qword writes (each one 64-bit store), then a sync if any was written. */
export type EntryUpdateStep = { index: number; value: bigint }[]

export interface EntryUpdatePlan {
  kind: EntryUpdateKind
  /** Bit i set: qword i's used bits must change (arm_smmu_entry_qword_diff). */
  usedQwordDiff: number
  criticalQword: number
  steps: EntryUpdateStep[]
}

/** arm_smmu_entry_qword_diff. */
export function entryQwordDiff(
  getUsed: EntryWriterOps['getUsed'],
  entry: readonly bigint[],
  target: readonly bigint[],
): { diff: number; unusedUpdate: bigint[] } {
  const curUsed = getUsed(entry)
  const targetUsed = getUsed(target)
  const unusedUpdate: bigint[] = []
  let diff = 0
  for (let i = 0; i < NUM_ENTRY_QWORDS; i++) {
    // The make functions may not set bits the used function says are unused (WARN_ON_ONCE).
    if ((target[i] & ~targetUsed[i]) !== 0n)
      throw new Error(
        `target qword ${i} sets bits the hardware ignores: 0x${(target[i] & ~targetUsed[i]).toString(16)}`,
      )
    unusedUpdate[i] = (entry[i] & curUsed[i]) | (target[i] & ~curUsed[i])
    if ((unusedUpdate[i] & targetUsed[i]) !== target[i]) diff |= 1 << i
  }
  return { diff, unusedUpdate }
}

/** The sequence of stores arm_smmu_write_entry performs, without performing it (pure). */
export function planEntryUpdate(
  getUsed: EntryWriterOps['getUsed'],
  entry: readonly bigint[],
  target: readonly bigint[],
): EntryUpdatePlan {
  const { diff, unusedUpdate } = entryQwordDiff(getUsed, entry, target)
  const cur = [...entry]
  const steps: EntryUpdateStep[] = []
  // entry_set: write the qwords in [start, start+len) that differ.
  const entrySet = (want: readonly bigint[], start: number, len: number) => {
    const step: EntryUpdateStep = []
    for (let i = start; i < start + len; i++) {
      if (cur[i] !== want[i]) {
        step.push({ index: i, value: want[i] })
        cur[i] = want[i]
      }
    }
    if (step.length) steps.push(step)
  }
  const bits = popcount(diff)
  if (bits === 1) {
    const critical = 31 - Math.clz32(diff)
    unusedUpdate[critical] = entry[critical]
    entrySet(unusedUpdate, 0, NUM_ENTRY_QWORDS)
    entrySet(target, critical, 1)
    entrySet(target, 0, NUM_ENTRY_QWORDS)
    return { kind: 'hitless', usedQwordDiff: diff, criticalQword: critical, steps }
  }
  if (bits > 1) {
    unusedUpdate[0] = 0n
    entrySet(unusedUpdate, 0, 1)
    entrySet(target, 1, NUM_ENTRY_QWORDS - 1)
    entrySet(target, 0, 1)
    return { kind: 'breaking', usedQwordDiff: diff, criticalQword: -1, steps }
  }
  entrySet(target, 0, NUM_ENTRY_QWORDS)
  return { kind: 'none', usedQwordDiff: 0, criticalQword: -1, steps }
}

/** Reads the entry at `pa`, then performs arm_smmu_write_entry's stores and syncs. */
export function writeEntry(port: CpuStorePort, pa: number, target: readonly bigint[], ops: EntryWriterOps) {
  const entry: bigint[] = []
  for (let i = 0; i < NUM_ENTRY_QWORDS; i++) entry.push(port.read64(pa + i * 8))
  const plan = planEntryUpdate(ops.getUsed, entry, target)
  for (const step of plan.steps) {
    // WRITE_ONCE of each qword: one 64-bit single-copy-atomic store.
    for (const w of step) port.store64(pa + w.index * 8, w.value)
    ops.sync()
  }
  return plan
}

function popcount(x: number): number {
  let n = 0
  for (; x; x &= x - 1) n++
  return n
}
