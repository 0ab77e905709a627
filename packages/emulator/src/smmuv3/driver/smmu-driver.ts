import type { CpuStorePort } from '../../cpu/cpu-store-port.js'
import type { FrameAllocator } from '../../memory/frame-allocator.js'
import { PAGE_SIZE } from '../../memory/physical-memory.js'
import { CD_SIZE, getCdUsed } from '../context-descriptor.js'
import type { SmmuCommand } from '../commands.js'
import { CMDQ_ENT_SIZE } from '../commands.js'
import { EVTQ_ENT_SIZE, type EventRecord } from '../events.js'
import { drainEventQueue } from '../event-queue.js'
import { readWords } from '../qword-field.js'
import { CR0_CMDQEN, CR0_EVTQEN, CR0_SMMUEN, GBPA_ABORT, REG, type SmmuMmio } from '../registers.js'
import {
  L1STD_SIZE,
  STRTAB_FMT_2LVL,
  STRTAB_FMT_LINEAR,
  encodeL1Std,
  encodeStrtabBaseCfg,
} from '../stream-table.js'
import { STE_SIZE, getSteUsed, makeAbortSte } from '../stream-table-entry.js'
import { CommandQueueWriter } from './command-queue-writer.js'
import { type EntryUpdatePlan, writeEntry } from './entry-writer.js'

/** Linux's STRTAB_SPLIT: 256 STEs per level-2 table (one PCI bus). */
export const STRTAB_SPLIT = 8

export interface SmmuDriverOptions {
  port: CpuStorePort
  allocator: FrameAllocator
  mmio: SmmuMmio
  /** StreamID bits (STRTAB_BASE_CFG.LOG2SIZE). Default 8. */
  sidBits?: number
  /** 'linear' (default) or '2lvl' (SPLIT = 8, L2 tables allocated on first use). */
  format?: 'linear' | '2lvl'
  /** log2 of command/event queue entries. Defaults 8 and 7. */
  cmdqLog2?: number
  evtqLog2?: number
}

/**
 * A low-level SMMUv3 driver over the emulated SMMU, in the spirit of arm_smmu_device_reset() and
 * the STE/CD writers of drivers/iommu/arm/arm-smmu-v3: it lays out the stream table and queues in
 * emulated memory, programs the registers, writes STEs and CDs with the kernel's hitless entry
 * writer, and issues invalidations. The iommufd object model (next issue) builds on it.
 *
 * Every store to a structure goes through the CpuStorePort: a deterministic scheduler can run DMA
 * between any two of them.
 */
export class SmmuDriver {
  readonly port: CpuStorePort
  readonly allocator: FrameAllocator
  readonly mmio: SmmuMmio
  readonly sidBits: number
  readonly format: 'linear' | '2lvl'
  readonly strtab: number
  readonly cmdq: CommandQueueWriter
  readonly evtqBase: number
  /** Frames holding SMMU structures (stream table, L2 tables, queues): what a kexec must preserve. */
  readonly structureFrames: { pa: number; bytes: number; what: string }[] = []

  private constructor(
    opts: SmmuDriverOptions,
    strtab: number,
    cmdqBase: number,
    cmdqLog2: number,
    evtqBase: number,
  ) {
    this.port = opts.port
    this.allocator = opts.allocator
    this.mmio = opts.mmio
    this.sidBits = opts.sidBits ?? 8
    this.format = opts.format ?? 'linear'
    this.strtab = strtab
    this.evtqBase = evtqBase
    this.cmdq = new CommandQueueWriter(opts.port, opts.mmio, cmdqBase, cmdqLog2)
  }

  /**
   * The new kernel's driver over a unit that is already translating (after kexec): the stream
   * table and queues are where STRTAB_BASE(_CFG), CMDQ_BASE and EVTQ_BASE say, the command queue
   * continues at the hardware's CMDQ_PROD, and nothing is reset — no CR0 write, no STE rewritten
   * (arm_smmu_device_reset would write every STE as abort: every device would fault). Only what
   * the registers hold is trusted; a 2-level stream table is refused (not modelled here).
   */
  static adopt(opts: Pick<SmmuDriverOptions, 'port' | 'allocator' | 'mmio'>): SmmuDriver {
    const { mmio } = opts
    const lo = (r: number) => mmio.read32(r) >>> 0
    // Unsigned throughout: a base at or above 2 GiB must not come out negative.
    const base = (r: number, hi: number, mask: number) => ((lo(r) & mask) >>> 0) + lo(hi) * 2 ** 32
    const cfg = lo(REG.STRTAB_BASE_CFG)
    if (((cfg >>> 16) & 3) !== STRTAB_FMT_LINEAR)
      throw new Error('adopting a 2-level stream table is not modelled')
    const sidBits = cfg & 0x3f
    const strtab = base(REG.STRTAB_BASE, REG.STRTAB_BASE_HI, ~0x3f)
    const cmdqLog2 = lo(REG.CMDQ_BASE) & 0x1f
    const cmdqBase = base(REG.CMDQ_BASE, REG.CMDQ_BASE_HI, ~0xfff)
    const evtqLog2 = lo(REG.EVTQ_BASE) & 0x1f
    const evtqBase = base(REG.EVTQ_BASE, REG.EVTQ_BASE_HI, ~0xfff)
    const d = new SmmuDriver({ ...opts, sidBits, format: 'linear' }, strtab, cmdqBase, cmdqLog2, evtqBase)
    const bytes = (n: number) => Math.max(1, Math.ceil(n / PAGE_SIZE)) * PAGE_SIZE
    d.structureFrames.push(
      { pa: strtab, bytes: bytes(2 ** sidBits * STE_SIZE), what: 'stream table' },
      { pa: cmdqBase, bytes: bytes(2 ** cmdqLog2 * CMDQ_ENT_SIZE), what: 'command queue' },
      { pa: evtqBase, bytes: bytes(2 ** evtqLog2 * EVTQ_ENT_SIZE), what: 'event queue' },
    )
    return d
  }

  /** arm_smmu_device_reset: tables and queues allocated and programmed, SMMU enabled. */
  static probe(opts: SmmuDriverOptions): SmmuDriver {
    const { allocator, mmio, port } = opts
    const sidBits = opts.sidBits ?? 8
    const format = opts.format ?? 'linear'
    const cmdqLog2 = opts.cmdqLog2 ?? 8
    const evtqLog2 = opts.evtqLog2 ?? 7
    const frames = (bytes: number) => Math.max(1, Math.ceil(bytes / PAGE_SIZE))
    const strtabBytes =
      format === 'linear' ? 2 ** sidBits * STE_SIZE : 2 ** Math.max(0, sidBits - STRTAB_SPLIT) * L1STD_SIZE
    const nStrtab = frames(strtabBytes)
    const strtab = allocator.allocContiguous(nStrtab, nStrtab)
    const nCmdq = frames(2 ** cmdqLog2 * CMDQ_ENT_SIZE)
    const cmdqBase = allocator.allocContiguous(nCmdq, nCmdq)
    const nEvtq = frames(2 ** evtqLog2 * EVTQ_ENT_SIZE)
    const evtqBase = allocator.allocContiguous(nEvtq, nEvtq)

    // Disable, then program the tables and queues (arm_smmu_device_reset).
    mmio.write32(REG.CR0, 0)
    mmio.write32(REG.GBPA, GBPA_ABORT)
    mmio.write32(REG.STRTAB_BASE, strtab % 2 ** 32)
    mmio.write32(REG.STRTAB_BASE_HI, Math.floor(strtab / 2 ** 32))
    mmio.write32(
      REG.STRTAB_BASE_CFG,
      format === 'linear'
        ? encodeStrtabBaseCfg(STRTAB_FMT_LINEAR, sidBits)
        : encodeStrtabBaseCfg(STRTAB_FMT_2LVL, sidBits, STRTAB_SPLIT),
    )
    mmio.write32(REG.CMDQ_BASE, (cmdqBase % 2 ** 32) + cmdqLog2)
    mmio.write32(REG.CMDQ_BASE_HI, Math.floor(cmdqBase / 2 ** 32))
    mmio.write32(REG.CMDQ_PROD, 0)
    mmio.write32(REG.CMDQ_CONS, 0)
    mmio.write32(REG.EVTQ_BASE, (evtqBase % 2 ** 32) + evtqLog2)
    mmio.write32(REG.EVTQ_BASE_HI, Math.floor(evtqBase / 2 ** 32))
    mmio.write32(REG.EVTQ_PROD, 0)
    mmio.write32(REG.EVTQ_CONS, 0)
    const d = new SmmuDriver(opts, strtab, cmdqBase, cmdqLog2, evtqBase)
    d.structureFrames.push(
      { pa: strtab, bytes: nStrtab * PAGE_SIZE, what: 'stream table' },
      { pa: cmdqBase, bytes: nCmdq * PAGE_SIZE, what: 'command queue' },
      { pa: evtqBase, bytes: nEvtq * PAGE_SIZE, what: 'event queue' },
    )
    // arm_smmu_init_initial_stes: every STE of a linear table starts as abort.
    if (format === 'linear') {
      const abort = makeAbortSte()
      for (let sid = 0; sid < 2 ** sidBits; sid++)
        for (let i = 0; i < 8; i++) port.memory.write64(strtab + sid * STE_SIZE + i * 8, abort[i])
    }
    mmio.write32(REG.CR0, CR0_CMDQEN | CR0_EVTQEN)
    d.submit([{ op: 'CFGI_ALL' }, { op: 'TLBI_NSNH_ALL' }])
    mmio.write32(REG.CR0, CR0_CMDQEN | CR0_EVTQEN | CR0_SMMUEN)
    return d
  }

  /** Issues commands; with `sync` (default) appends CMD_SYNC and waits for it. */
  submit(cmds: readonly SmmuCommand[], sync = true): void {
    this.cmdq.submit(cmds, sync)
  }

  /**
   * Address of the STE for `sid`. With a 2-level table a missing L2 table is allocated, its STEs
   * initialised to abort, and linked by one L1 descriptor store (arm_smmu_init_l2_strtab), then
   * CFGI_STE (leaf=false) drops any cached invalid L1 descriptor.
   */
  stePa(sid: number): number {
    if (this.format === 'linear') return this.strtab + sid * STE_SIZE
    const l1 = this.strtab + Math.floor(sid / 2 ** STRTAB_SPLIT) * L1STD_SIZE
    let desc = this.port.read64(l1)
    if ((desc & 0x1fn) === 0n) {
      const l2 = this.allocator.allocContiguous(4, 4) // 256 STEs × 64 bytes = 16 KiB
      const abort = makeAbortSte()
      for (let s = 0; s < 2 ** STRTAB_SPLIT; s++)
        for (let i = 0; i < 8; i++) this.port.memory.write64(l2 + s * STE_SIZE + i * 8, abort[i])
      desc = encodeL1Std(l2, STRTAB_SPLIT + 1)
      this.port.store64(l1, desc)
      this.structureFrames.push({
        pa: l2,
        bytes: 4 * PAGE_SIZE,
        what: `L2 stream table for SIDs ${sid >> 8}xx`,
      })
      this.submit([{ op: 'CFGI_STE', sid, leaf: false }])
    }
    return Number(desc & 0xffff_ffff_ffc0n) + (sid % 2 ** STRTAB_SPLIT) * STE_SIZE
  }

  readSte(sid: number): bigint[] {
    return readWords((pa) => this.port.read64(pa), this.stePa(sid), 8)
  }

  /** arm_smmu_write_ste: the entry writer with CFGI_STE(sid) + CMD_SYNC as its sync. */
  writeSte(sid: number, target: readonly bigint[]): EntryUpdatePlan {
    return writeEntry(this.port, this.stePa(sid), target, {
      getUsed: getSteUsed,
      sync: () => this.submit([{ op: 'CFGI_STE', sid, leaf: true }]),
    })
  }

  /** A linear CD table for 2^ssidBits SubstreamIDs (arm_smmu_alloc_cd_tables, linear case). */
  allocCdTable(ssidBits = 0): number {
    const n = Math.max(1, Math.ceil((2 ** ssidBits * CD_SIZE) / PAGE_SIZE))
    const pa = this.allocator.allocContiguous(n, 1)
    this.structureFrames.push({ pa, bytes: n * PAGE_SIZE, what: 'CD table' })
    return pa
  }

  readCd(cdTable: number, ssid = 0): bigint[] {
    return readWords((pa) => this.port.read64(pa), cdTable + ssid * CD_SIZE, 8)
  }

  /** arm_smmu_write_cd_entry: the entry writer with CFGI_CD for every stream of the master. */
  writeCd(
    sids: readonly number[],
    cdTable: number,
    ssid: number,
    target: readonly bigint[],
  ): EntryUpdatePlan {
    return writeEntry(this.port, cdTable + ssid * CD_SIZE, target, {
      getUsed: getCdUsed,
      sync: () => this.submit(sids.map((sid) => ({ op: 'CFGI_CD', sid, ssid, leaf: true }) as const)),
    })
  }

  /** arm_smmu_tlb_inv_asid: TLBI_NH_ASID + CMD_SYNC. */
  tlbiAsid(asid: number, vmid = 0): void {
    this.submit([{ op: 'TLBI_NH_ASID', vmid, asid }])
  }

  /** TLBI_S12_VMALL + CMD_SYNC (stage-2 domain flush). */
  tlbiVmall(vmid: number): void {
    this.submit([{ op: 'TLBI_S12_VMALL', vmid }])
  }

  /** TLBI_NH_VA for each 4 KiB page of [iova, iova+size) (no range invalidation: IDR3.RIL=0). */
  tlbiRange(asid: number, iova: number, size: number, vmid = 0): void {
    const cmds: SmmuCommand[] = []
    for (let a = iova; a < iova + size; a += PAGE_SIZE)
      cmds.push({ op: 'TLBI_NH_VA', vmid, asid, addr: a, leaf: true })
    this.submit(cmds)
  }

  /** arm_smmu_evtq_thread: reads and consumes every pending event record. */
  drainEvents(): { events: EventRecord[]; overflowed: boolean } {
    return drainEventQueue(this.port.memory, this.mmio)
  }
}
