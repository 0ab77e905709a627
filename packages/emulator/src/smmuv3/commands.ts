import { field, getNum, set } from './qword-field.js'

/**
 * Command queue entries (IHI 0070, 4 "Commands"): 16 bytes, two 64-bit words, opcode in [7:0] of
 * word 0. Opcodes and field positions as Linux's arm-smmu-v3.h `CMDQ_OP_*` / `CMDQ_*`.
 */
export const CMDQ_ENT_SIZE = 16

export const CmdOp = {
  PREFETCH_CFG: 0x01,
  CFGI_STE: 0x03,
  CFGI_ALL: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  CMD_SYNC: 0x46,
} as const

export const CMDQ = {
  OP: field(0, 7, 0),
  SSV: field(0, 11),
  /** CFGI_*: SSID [31:12], SID [63:32]; word 1 Leaf bit 0 (CFGI_ALL: Range [4:0] = 31). */
  CFGI_SSID: field(0, 31, 12),
  CFGI_SID: field(0, 63, 32),
  CFGI_LEAF: field(1, 0),
  CFGI_RANGE: field(1, 4, 0),
  /** TLBI_*: NUM [16:12], SCALE [24:20], VMID [47:32], ASID [63:48]; word 1 Leaf, TTL, TG, Address [63:12]. */
  TLBI_NUM: field(0, 16, 12),
  TLBI_SCALE: field(0, 24, 20),
  TLBI_VMID: field(0, 47, 32),
  TLBI_ASID: field(0, 63, 48),
  TLBI_LEAF: field(1, 0),
  TLBI_TTL: field(1, 9, 8),
  TLBI_TG: field(1, 11, 10),
  TLBI_ADDR: field(1, 63, 12),
  /** CMD_SYNC: CS [13:12] completion signal (0 none, 1 IRQ, 2 SEV). */
  SYNC_CS: field(0, 13, 12),
} as const

export type SmmuCommand =
  | { op: 'PREFETCH_CFG'; sid: number }
  | { op: 'CFGI_STE'; sid: number; leaf?: boolean }
  | { op: 'CFGI_ALL' }
  | { op: 'CFGI_CD'; sid: number; ssid: number; leaf?: boolean }
  | { op: 'CFGI_CD_ALL'; sid: number }
  | { op: 'TLBI_NH_ALL'; vmid: number }
  | { op: 'TLBI_NH_ASID'; vmid: number; asid: number }
  | { op: 'TLBI_NH_VA'; vmid: number; asid: number; addr: number; leaf?: boolean }
  | { op: 'TLBI_S12_VMALL'; vmid: number }
  | { op: 'TLBI_S2_IPA'; vmid: number; addr: number; leaf?: boolean }
  | { op: 'TLBI_NSNH_ALL' }
  | { op: 'CMD_SYNC' }

/** arm_smmu_cmdq_build_cmd: a command as its two words. */
export function encodeCommand(c: SmmuCommand): [bigint, bigint] {
  const w: bigint[] = [0n, 0n]
  set(w, CMDQ.OP, CmdOp[c.op])
  switch (c.op) {
    case 'PREFETCH_CFG':
      set(w, CMDQ.CFGI_SID, c.sid)
      break
    case 'CFGI_STE':
      set(w, CMDQ.CFGI_SID, c.sid)
      set(w, CMDQ.CFGI_LEAF, c.leaf ?? true)
      break
    case 'CFGI_ALL':
      // Cover the full StreamID range (Linux: cfgi.span = 31).
      set(w, CMDQ.CFGI_RANGE, 31)
      break
    case 'CFGI_CD':
      set(w, CMDQ.CFGI_SID, c.sid)
      set(w, CMDQ.CFGI_SSID, c.ssid)
      set(w, CMDQ.CFGI_LEAF, c.leaf ?? true)
      break
    case 'CFGI_CD_ALL':
      set(w, CMDQ.CFGI_SID, c.sid)
      break
    case 'TLBI_NH_ALL':
    case 'TLBI_S12_VMALL':
      set(w, CMDQ.TLBI_VMID, c.vmid)
      break
    case 'TLBI_NH_ASID':
      set(w, CMDQ.TLBI_VMID, c.vmid)
      set(w, CMDQ.TLBI_ASID, c.asid)
      break
    case 'TLBI_NH_VA':
      set(w, CMDQ.TLBI_VMID, c.vmid)
      set(w, CMDQ.TLBI_ASID, c.asid)
      set(w, CMDQ.TLBI_LEAF, c.leaf ?? false)
      w[1] |= BigInt(c.addr) & CMDQ.TLBI_ADDR.mask
      break
    case 'TLBI_S2_IPA':
      set(w, CMDQ.TLBI_VMID, c.vmid)
      set(w, CMDQ.TLBI_LEAF, c.leaf ?? false)
      w[1] |= BigInt(c.addr) & ((1n << 52n) - 1n) & CMDQ.TLBI_ADDR.mask
      break
    case 'TLBI_NSNH_ALL':
    case 'CMD_SYNC':
      break
  }
  return [w[0], w[1]]
}

const OP_NAMES = new Map<number, SmmuCommand['op']>(
  Object.entries(CmdOp).map(([k, v]) => [v, k as SmmuCommand['op']]),
)

/** Decodes a command; undefined for an opcode this model does not implement (CERROR_ILL). */
export function decodeCommand(w0: bigint, w1: bigint): SmmuCommand | undefined {
  const w = [w0, w1]
  const op = OP_NAMES.get(getNum(w, CMDQ.OP))
  const sid = getNum(w, CMDQ.CFGI_SID)
  const vmid = getNum(w, CMDQ.TLBI_VMID)
  const asid = getNum(w, CMDQ.TLBI_ASID)
  const leaf = getNum(w, CMDQ.TLBI_LEAF) === 1
  const addr = Number(w1 & CMDQ.TLBI_ADDR.mask)
  switch (op) {
    case undefined:
      return undefined
    case 'PREFETCH_CFG':
    case 'CFGI_CD_ALL':
      return { op, sid }
    case 'CFGI_STE':
      return { op, sid, leaf }
    case 'CFGI_ALL':
    case 'TLBI_NSNH_ALL':
    case 'CMD_SYNC':
      return { op }
    case 'CFGI_CD':
      return { op, sid, ssid: getNum(w, CMDQ.CFGI_SSID), leaf }
    case 'TLBI_NH_ALL':
    case 'TLBI_S12_VMALL':
      return { op, vmid }
    case 'TLBI_NH_ASID':
      return { op, vmid, asid }
    case 'TLBI_NH_VA':
      return { op, vmid, asid, addr, leaf }
    case 'TLBI_S2_IPA':
      return { op, vmid, addr, leaf }
  }
}
