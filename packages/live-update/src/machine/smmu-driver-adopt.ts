import {
  CMDQ_ENT_SIZE,
  type CpuStorePort,
  EVTQ_ENT_SIZE,
  type FrameAllocator,
  PAGE_SIZE,
  REG,
  SmmuDriver,
  type SmmuMmio,
  STE_SIZE,
} from '@hitless/emulator'

/**
 * The new kernel's SMMUv3 driver over a unit that is already translating (after kexec): the
 * stream table and queues are where STRTAB_BASE, CMDQ_BASE and EVTQ_BASE say, the command queue
 * continues at the hardware's CMDQ_PROD, and nothing is reset — no CR0 write, no STE rewritten
 * (arm_smmu_device_reset would write every STE as abort: every device faults).
 *
 * SmmuDriver only has `probe()` (a reset); its constructor takes the layout, so this adapter
 * reads the layout from the registers and constructs it (kept here rather than in the emulator
 * package, which models the hardware and the booting driver).
 */
export function adoptSmmuDriver(o: {
  port: CpuStorePort
  allocator: FrameAllocator
  mmio: SmmuMmio
}): SmmuDriver {
  const { mmio } = o
  const lo = (r: number) => mmio.read32(r) >>> 0
  const base = (r: number, hi: number) => (lo(r) & ~0x3f) + lo(hi) * 2 ** 32
  const cfg = lo(REG.STRTAB_BASE_CFG)
  const fmt = (cfg >>> 16) & 3
  const sidBits = cfg & 0x3f
  if (fmt !== 0) throw new Error('adopting a 2-level stream table is not modelled')
  const strtab = base(REG.STRTAB_BASE, REG.STRTAB_BASE_HI)
  const cmdqLog2 = lo(REG.CMDQ_BASE) & 0x1f
  const cmdqBase = base(REG.CMDQ_BASE, REG.CMDQ_BASE_HI) & ~0xfff
  const evtqLog2 = lo(REG.EVTQ_BASE) & 0x1f
  const evtqBase = base(REG.EVTQ_BASE, REG.EVTQ_BASE_HI) & ~0xfff
  const Ctor = SmmuDriver as unknown as new (
    opts: {
      port: CpuStorePort
      allocator: FrameAllocator
      mmio: SmmuMmio
      sidBits: number
      format: 'linear'
    },
    strtab: number,
    cmdqBase: number,
    cmdqLog2: number,
    evtqBase: number,
  ) => SmmuDriver
  const d = new Ctor({ ...o, sidBits, format: 'linear' }, strtab, cmdqBase, cmdqLog2, evtqBase)
  const bytes = (n: number) => Math.max(1, Math.ceil(n / PAGE_SIZE)) * PAGE_SIZE
  d.structureFrames.push(
    { pa: strtab, bytes: bytes(2 ** sidBits * STE_SIZE), what: 'stream table' },
    { pa: cmdqBase, bytes: bytes(2 ** cmdqLog2 * CMDQ_ENT_SIZE), what: 'command queue' },
    { pa: evtqBase, bytes: bytes(2 ** evtqLog2 * EVTQ_ENT_SIZE), what: 'event queue' },
  )
  return d
}
