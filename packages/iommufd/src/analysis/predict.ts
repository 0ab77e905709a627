import {
  decodeLegacyContextEntry,
  encodeLegacyContextEntry,
  encodePasidEntry,
  getCdUsed,
  getSteUsed,
  makeS1Cd,
  makeS2DomainSte,
  PGTT,
  planEntryUpdate,
  qwordsToWords,
} from '@hitless/emulator'
import type { Hardware } from '@hitless/protocol'
import type { SwitchMethod } from './switch-methods.js'

/** What the hardware rules say a method does, and why. */
export interface Prediction {
  hitless: boolean
  /**
   * How it fails when it does: `invalid-entry` (a transaction sees V=0 / P=0: a configuration
   * fault), `bbm-hazard` (two leaf sizes live under one TLB tag on BBML < 2: UNPREDICTABLE).
   */
  failure?: 'invalid-entry' | 'bbm-hazard'
  rule: string
}

// Two distinct table roots and tags; only their relations matter to the rules.
const OLD_ROOT = 0x10_0000
const NEW_ROOT = 0x20_0000
const OLD_TAG = 1
const NEW_TAG = 2

/** IDR3.BBML of the model. */
function bbml(h: Hardware): number {
  return h === 'smmuv3-bbml2' ? 2 : 0
}

/**
 * arm_smmu_write_entry's rule (3.3 of the notes): an update is hitless iff exactly one qword the
 * SMMU uses changes; two or more → a V=0 break, which a cold miss observes as C_BAD_STE/C_BAD_CD.
 * Then the BBM rule (3.5): the same translations at another leaf size under a kept TLB tag leave
 * two sizes cached for one address, UNPREDICTABLE unless BBML2.
 */
function smmuEntrySwap(h: Hardware, entry: 'cd' | 'ste', keepTag: boolean, resized: boolean): Prediction {
  const plan =
    entry === 'cd'
      ? planEntryUpdate(
          getCdUsed,
          makeS1Cd({ asid: OLD_TAG, ttb0: OLD_ROOT }),
          makeS1Cd({ asid: keepTag ? OLD_TAG : NEW_TAG, ttb0: NEW_ROOT }),
        )
      : planEntryUpdate(
          getSteUsed,
          makeS2DomainSte({ vmid: OLD_TAG, s2ttb: OLD_ROOT }),
          makeS2DomainSte({ vmid: keepTag ? OLD_TAG : NEW_TAG, s2ttb: NEW_ROOT }),
        )
  if (plan.kind === 'breaking')
    return {
      hitless: false,
      failure: 'invalid-entry',
      rule: `${entry.toUpperCase()} qwords ${bits(plan.usedQwordDiff)} change: arm_smmu_write_entry must break (V=0)`,
    }
  if (resized && keepTag && bbml(h) < 2)
    return {
      hitless: false,
      failure: 'bbm-hazard',
      rule: `one qword (${plan.criticalQword}) changes, but leaf sizes change under the same tag and IDR3.BBML=${bbml(h)}`,
    }
  return {
    hitless: true,
    rule: `one used qword (${plan.criticalQword}) changes: a single 64-bit store${resized ? '; BBML2 tolerates the leaf-size change' : ''}`,
  }
}

/**
 * VT-d reads context and PASID entries in 128-bit chunks (Lu Baolu, Jan 2026): a store sequence
 * is observed at every prefix. One cmpxchg16b exposes only old and new; two 64-bit stores (high
 * then low) expose the mix (new high, old low), which translates as the old entry iff the fields
 * it takes from the new high half leave the old tables' walk unchanged (AW, and not P/TT/pointer).
 */
function vtdContext(h: Hardware, method: 'context-cmpxchg128' | 'context-two-stores'): Prediction {
  if (method === 'context-cmpxchg128')
    return { hitless: true, rule: 'one 128-bit store: the hardware sees the old or the new entry' }
  if (h === 'vtd-scalable') {
    // The scalable context entry's chunk 0: PASIDDIRPTR and PDTS in val0, RID_PASID in val1. A
    // switch to a new PASID directory changes val0 only; the high store rewrites val1 unchanged.
    return { hitless: true, rule: 'only the low qword changes (PASIDDIRPTR): the high store is a no-op' }
  }
  const [oldLo, oldHi] = encodeLegacyContextEntry({
    p: true,
    fpd: false,
    tt: 0,
    slptptr: OLD_ROOT,
    aw: 2,
    avail: 0,
    did: OLD_TAG,
  })
  const [, newHi] = encodeLegacyContextEntry({
    p: true,
    fpd: false,
    tt: 0,
    slptptr: NEW_ROOT,
    aw: 2,
    avail: 0,
    did: NEW_TAG,
  })
  const mixed = decodeLegacyContextEntry(qwordsToWords([oldLo, newHi]))
  const old = decodeLegacyContextEntry(qwordsToWords([oldLo, oldHi]))
  const same = mixed.p && mixed.tt === old.tt && mixed.aw === old.aw && mixed.slptptr === old.slptptr
  return same
    ? {
        hitless: true,
        rule: 'torn (new DID, old SLPTPTR) but that walks the old, identical tables with the same AW',
      }
    : {
        hitless: false,
        failure: 'invalid-entry',
        rule: 'the torn entry walks the old tables with another format',
      }
}

/** A PASID entry replace: hitless iff every changed qword lies in one 128-bit chunk written at once. */
function pasidChunk0(): Prediction {
  const a = encodePasidEntry({ p: true, did: OLD_TAG, pgtt: PGTT.SL_ONLY, slptptr: OLD_ROOT, aw: 2 })
  const b = encodePasidEntry({ p: true, did: NEW_TAG, pgtt: PGTT.SL_ONLY, slptptr: NEW_ROOT, aw: 2 })
  const chunks = new Set(a.flatMap((q, i) => (q !== b[i] ? [Math.floor(i / 2)] : [])))
  return chunks.size === 1
    ? { hitless: true, rule: `SLPTPTR and DID both in chunk ${[...chunks][0]}: one cmpxchg16b` }
    : { hitless: false, failure: 'invalid-entry', rule: 'the change spans chunks' }
}

/** What the hardware rules predict for `method` on `hardware` (no DMA is run). */
export function predict(hardware: Hardware, method: SwitchMethod): Prediction {
  switch (method) {
    case 'cd-ttb0-swap-keep-asid':
      return smmuEntrySwap(hardware, 'cd', true, false)
    case 'cd-ttb0-swap-keep-asid-resized':
      return smmuEntrySwap(hardware, 'cd', true, true)
    case 'cd-swap-new-asid':
      return smmuEntrySwap(hardware, 'cd', false, false)
    case 'ste-s2ttb-swap-keep-vmid':
      return smmuEntrySwap(hardware, 'ste', true, false)
    case 'ste-s2ttb-swap-keep-vmid-resized':
      return smmuEntrySwap(hardware, 'ste', true, true)
    case 'ste-s2ttb-swap-new-vmid':
      return smmuEntrySwap(hardware, 'ste', false, false)
    case 'context-cmpxchg128':
    case 'context-two-stores':
      return vtdContext(hardware, method)
    case 'pasid-clear-invalidate-set':
      return {
        hitless: false,
        failure: 'invalid-entry',
        rule: 'the PASID entry is not present between clear and set',
      }
    case 'pasid-chunk0-cmpxchg128':
      return pasidChunk0()
    case 'break-invalid':
      return { hitless: false, failure: 'invalid-entry', rule: 'a cache miss in the window sees V=0 / P=0' }
    case 'adopt-existing-tables':
      return { hitless: true, rule: 'nothing the hardware reads changes' }
  }
}

function bits(mask: number): string {
  const out: number[] = []
  for (let i = 0; i < 8; i++) if (mask & (1 << i)) out.push(i)
  return out.join('+')
}
