import { field, getNum, set } from './qword-field.js'

/**
 * Event records (IHI 0070, 7.3 "Event records"): 32 bytes, four 64-bit words, written by the SMMU
 * into the event queue. Field positions as Linux's arm-smmu-v3.h `EVTQ_*`.
 */
export const EVTQ_ENT_SIZE = 32

/** Event IDs (IHI 0070, 7.3; Linux EVT_ID_* for 0x10-0x13; QEMU SMMU_EVT_*). */
export const EventId = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_STREAM_DISABLED: 0x06,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
} as const

export const EVENT_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(EventId).map(([k, v]) => [v, k]),
)

export function eventName(id: number): string {
  return EVENT_NAMES[id] ?? `0x${id.toString(16)}`
}

export const EVTQ = {
  ID: field(0, 7, 0),
  SSV: field(0, 11),
  SSID: field(0, 31, 12),
  SID: field(0, 63, 32),
  STAG: field(1, 15, 0),
  STALL: field(1, 31),
  /** PnU: privileged (1) or unprivileged (0) transaction. */
  PnU: field(1, 33),
  /** InD: instruction (1) or data (0). */
  InD: field(1, 34),
  /** RnW: read (1) or write (0). */
  RnW: field(1, 35),
  /** S2: the fault came from stage 2. */
  S2: field(1, 39),
  /** CLASS [41:40]: 0 CD fetch, 1 translation table fetch, 2 input address. */
  CLASS: field(1, 41, 40),
  TT_READ: field(1, 44),
  /** Word 2: input address. */
  ADDR: field(2, 63, 0),
  /** Word 3: IPA or fetch address [51:12] (bits kept in place: [51:3]). */
  IPA: field(3, 51, 3),
} as const

export const EVENT_CLASS_CD = 0
export const EVENT_CLASS_TT = 1
export const EVENT_CLASS_IN = 2

export interface EventRecord {
  id: number
  sid: number
  ssv: boolean
  ssid: number
  pnu: boolean
  ind: boolean
  rnw: boolean
  s2: boolean
  class: number
  /** Input address of the transaction (IOVA). */
  addr: number
  /** Stage-2 faults: IPA; fetch faults: the address fetched. 0 otherwise. */
  ipa: number
}

export function encodeEvent(e: EventRecord): bigint[] {
  const w = [0n, 0n, 0n, 0n]
  set(w, EVTQ.ID, e.id)
  set(w, EVTQ.SSV, e.ssv)
  set(w, EVTQ.SSID, e.ssid)
  set(w, EVTQ.SID, e.sid)
  set(w, EVTQ.PnU, e.pnu)
  set(w, EVTQ.InD, e.ind)
  set(w, EVTQ.RnW, e.rnw)
  set(w, EVTQ.S2, e.s2)
  set(w, EVTQ.CLASS, e.class)
  w[2] = BigInt(e.addr)
  w[3] = BigInt(e.ipa) & EVTQ.IPA.mask
  return w
}

export function decodeEvent(w: readonly bigint[]): EventRecord {
  return {
    id: getNum(w, EVTQ.ID),
    sid: getNum(w, EVTQ.SID),
    ssv: getNum(w, EVTQ.SSV) === 1,
    ssid: getNum(w, EVTQ.SSID),
    pnu: getNum(w, EVTQ.PnU) === 1,
    ind: getNum(w, EVTQ.InD) === 1,
    rnw: getNum(w, EVTQ.RnW) === 1,
    s2: getNum(w, EVTQ.S2) === 1,
    class: getNum(w, EVTQ.CLASS),
    addr: Number(w[2]),
    ipa: Number(w[3] & EVTQ.IPA.mask),
  }
}
