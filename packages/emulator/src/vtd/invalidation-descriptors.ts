/**
 * Queued-invalidation descriptors, 128 bits (256 with IQA.DW=1, upper half zero here)
 * (VT-d spec §6.5.2; drivers/iommu/intel/iommu.h QI_*; QEMU VTD_INV_DESC_*). Type in [3:0] of
 * qw0 (with [11:9] as type bits 6:4, zero for all used here):
 *
 * - 0x1 context-cache: G [5:4] (1 global, 2 domain, 3 device), DID [31:16], SID [47:32], FM [49:48]
 *   (QI_CC_GRAN(DMA_CCMD_*) = 1/2/3 << 4)
 * - 0x2 IOTLB: G [5:4] (1 global, 2 domain, 3 page), DW bit 6, DR bit 7, DID [31:16];
 *   qw1: AM [5:0], IH bit 6, ADDR [63:12] (QI_IOTLB_*)
 * - 0x5 wait: IF bit 4, SW bit 5, FN bit 6, PD bit 7, status data [63:32]; qw1: status address [63:2]
 *   (QI_IWD_*)
 * - 0x6 PASID-based IOTLB: G [5:4] (2 all of DID+PASID = QI_GRAN_NONG_PASID, 3 page =
 *   QI_GRAN_PSI_PASID), DID [31:16], PASID [51:32]; qw1: AM [5:0], IH bit 6, ADDR [63:12]
 *   (QI_EIOTLB_*)
 * - 0x7 PASID-cache: G [5:4] (0 all PASIDs of DID = QI_PC_ALL_PASIDS, 1 PASID-selective =
 *   QI_PC_PASID_SEL, 3 global = QI_PC_GLOBAL), DID [31:16], PASID [51:32] (QI_PC_*)
 * - 0x3 device-IOTLB and 0x4 interrupt-entry-cache are accepted and have nothing to drop here.
 */
export const QI_TYPE = { CC: 0x1, IOTLB: 0x2, DIOTLB: 0x3, IEC: 0x4, IWD: 0x5, EIOTLB: 0x6, PC: 0x7 } as const

export const QI_CC_GRAN = { GLOBAL: 1, DOMAIN: 2, DEVICE: 3 } as const
export const QI_IOTLB_GRAN = { GLOBAL: 1, DOMAIN: 2, PAGE: 3 } as const
export const QI_EIOTLB_GRAN = { NONG_PASID: 2, PSI_PASID: 3 } as const
export const QI_PC_GRAN = { ALL_PASIDS: 0, PASID_SEL: 1, GLOBAL: 3 } as const
export const QI_IWD = { IF: 1 << 4, SW: 1 << 5, FN: 1 << 6, PD: 1 << 7 } as const

export type InvDesc =
  | { type: 'context-cache'; granularity: number; did: number; sid: number; fm: number }
  | {
      type: 'iotlb'
      granularity: number
      did: number
      dr: boolean
      dw: boolean
      addr: number
      ih: boolean
      am: number
    }
  | {
      type: 'pasid-iotlb'
      granularity: number
      did: number
      pasid: number
      addr: number
      ih: boolean
      am: number
    }
  | { type: 'pasid-cache'; granularity: number; did: number; pasid: number }
  | {
      type: 'wait'
      interruptFlag: boolean
      statusWrite: boolean
      fence: boolean
      statusData: number
      statusAddr: number
    }
  | { type: 'device-iotlb' | 'iec'; raw: [number, number, number, number] }
  | { type: 'invalid'; code: number }

const b = (n: number): bigint => BigInt(n)

/** Encodes a descriptor as two qwords (the driver pads to four for 256-bit queues). */
export function encodeInvDesc(d: InvDesc): [bigint, bigint] {
  switch (d.type) {
    case 'context-cache':
      return [
        b(QI_TYPE.CC) |
          (b(d.granularity & 3) << 4n) |
          (b(d.did & 0xffff) << 16n) |
          (b(d.sid & 0xffff) << 32n) |
          (b(d.fm & 3) << 48n),
        0n,
      ]
    case 'iotlb':
      return [
        b(QI_TYPE.IOTLB) |
          (b(d.granularity & 3) << 4n) |
          (d.dw ? 1n << 6n : 0n) |
          (d.dr ? 1n << 7n : 0n) |
          (b(d.did & 0xffff) << 16n),
        (b(d.addr) & ~0xfffn) | (d.ih ? 1n << 6n : 0n) | b(d.am & 0x3f),
      ]
    case 'pasid-iotlb':
      return [
        b(QI_TYPE.EIOTLB) |
          (b(d.granularity & 3) << 4n) |
          (b(d.did & 0xffff) << 16n) |
          (b(d.pasid & 0xfffff) << 32n),
        (b(d.addr) & ~0xfffn) | (d.ih ? 1n << 6n : 0n) | b(d.am & 0x3f),
      ]
    case 'pasid-cache':
      return [
        b(QI_TYPE.PC) |
          (b(d.granularity & 3) << 4n) |
          (b(d.did & 0xffff) << 16n) |
          (b(d.pasid & 0xfffff) << 32n),
        0n,
      ]
    case 'wait':
      return [
        b(QI_TYPE.IWD) |
          (d.interruptFlag ? b(QI_IWD.IF) : 0n) |
          (d.statusWrite ? b(QI_IWD.SW) : 0n) |
          (d.fence ? b(QI_IWD.FN) : 0n) |
          (b(d.statusData >>> 0) << 32n),
        b(d.statusAddr) & ~3n,
      ]
    case 'device-iotlb':
    case 'iec':
      return [b(d.raw[0]) | (b(d.raw[1]) << 32n), b(d.raw[2]) | (b(d.raw[3]) << 32n)]
    case 'invalid':
      return [b(d.code & 0xf), 0n]
  }
}

/** Decodes the first 128 bits of a descriptor, given as four 32-bit words. */
export function decodeInvDesc(w: ArrayLike<number>): InvDesc {
  const type = w[0] & 0xf
  const typeHi = (w[0] >>> 9) & 7
  const gran = (w[0] >>> 4) & 3
  const did = (w[0] >>> 16) & 0xffff
  const addr = (w[3] >>> 0) * 0x100000000 + ((w[2] & 0xfffff000) >>> 0)
  if (typeHi !== 0) return { type: 'invalid', code: type | (typeHi << 4) }
  switch (type) {
    case QI_TYPE.CC:
      if (gran === 0) return { type: 'invalid', code: type }
      return { type: 'context-cache', granularity: gran, did, sid: w[1] & 0xffff, fm: (w[1] >>> 16) & 3 }
    case QI_TYPE.IOTLB:
      if (gran === 0) return { type: 'invalid', code: type }
      return {
        type: 'iotlb',
        granularity: gran,
        did,
        dw: (w[0] & (1 << 6)) !== 0,
        dr: (w[0] & (1 << 7)) !== 0,
        addr,
        ih: (w[2] & (1 << 6)) !== 0,
        am: w[2] & 0x3f,
      }
    case QI_TYPE.EIOTLB:
      if (gran < 2) return { type: 'invalid', code: type }
      return {
        type: 'pasid-iotlb',
        granularity: gran,
        did,
        pasid: w[1] & 0xfffff,
        addr,
        ih: (w[2] & (1 << 6)) !== 0,
        am: w[2] & 0x3f,
      }
    case QI_TYPE.PC:
      if (gran === 2) return { type: 'invalid', code: type }
      return { type: 'pasid-cache', granularity: gran, did, pasid: w[1] & 0xfffff }
    case QI_TYPE.IWD:
      return {
        type: 'wait',
        interruptFlag: (w[0] & QI_IWD.IF) !== 0,
        statusWrite: (w[0] & QI_IWD.SW) !== 0,
        fence: (w[0] & QI_IWD.FN) !== 0,
        statusData: w[1] >>> 0,
        statusAddr: (w[3] >>> 0) * 0x100000000 + ((w[2] & 0xfffffffc) >>> 0),
      }
    case QI_TYPE.DIOTLB:
      return { type: 'device-iotlb', raw: [w[0], w[1], w[2], w[3]] }
    case QI_TYPE.IEC:
      return { type: 'iec', raw: [w[0], w[1], w[2], w[3]] }
    default:
      return { type: 'invalid', code: type }
  }
}
