// What the kernel exposes to userspace about unrecoverable DMA faults: the IOMMU drivers' fault
// interrupts in /proc/interrupts, counted since boot. The fault records themselves (VT-d fault
// recording registers, the SMMUv3 event queue, the AMD event log) are consumed by the kernel and
// only printed to the kernel log (rate-limited); no counter of them, and no count of lost ones,
// reaches userspace. iommufd's own fault objects (IOMMU_FAULT_QUEUE_ALLOC) carry recoverable
// page requests of HWPTs allocated for them (IOPF), not faults of ordinary DMA.

/**
 * Interrupt lines that only signal translation faults, by their /proc/interrupts name:
 * - `dmar0`, `dmar1` ...: the VT-d fault event interrupt (drivers/iommu/intel/dmar.c, dmar_fault);
 * - `arm-smmu-v3-evtq`: the SMMUv3 event queue interrupt (drivers/iommu/arm/arm-smmu-v3);
 * - `AMD-Vi0-Evt` ...: the AMD IOMMU event log interrupt, when it has its own vector.
 * The selftest mock IOMMU has none: in the lane the count is 0 with no source.
 */
const FAULT_IRQ = [/^dmar\d+$/, /^arm-smmu-v3-evtq$/, /^AMD-Vi\d+-Evt$/]

export interface FaultInterrupts {
  /** Fault interrupts since boot, all CPUs. Each is at least one fault (one may carry several). */
  count: number
  /** The /proc/interrupts lines counted (empty: this kernel's IOMMU exposes no fault interrupt). */
  sources: string[]
}

/** Sums the fault interrupt lines of a /proc/interrupts text. */
export function faultInterrupts(procInterrupts: string): FaultInterrupts {
  const lines = procInterrupts.split('\n')
  const cpus = (lines[0] ?? '')
    .trim()
    .split(/\s+/)
    .filter((c) => /^CPU\d+$/.test(c)).length
  const out: FaultInterrupts = { count: 0, sources: [] }
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < cpus + 2 || !fields[0].endsWith(':')) continue
    const name = fields[fields.length - 1]
    if (!FAULT_IRQ.some((re) => re.test(name))) continue
    let n = 0
    for (const f of fields.slice(1, 1 + cpus)) n += Number(f) || 0
    out.count += n
    out.sources.push(name)
  }
  return out
}
