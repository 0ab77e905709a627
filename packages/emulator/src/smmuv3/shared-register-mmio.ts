import {
  CMDQ_CONS_ERR_SHIFT,
  GBPA_UPDATE,
  GERROR_CMDQ_ERR,
  REG,
  type SmmuMmio,
  type SmmuRegisters,
} from './registers.js'

/**
 * The CPU's view of an SMMU that runs on another thread (concurrent mode): register writes go to
 * the shared register file with Atomics, a CMDQ_PROD write wakes the SMMU, and CMD_SYNC completion
 * is awaited with Atomics.wait on CMDQ_CONS — as a driver polls CONS (arm_smmu_cmdq_poll_until_sync).
 */
export class SharedRegisterMmio implements SmmuMmio {
  constructor(
    readonly regs: SmmuRegisters,
    readonly timeoutMs = 10_000,
  ) {}

  read32(offset: number): number {
    return this.regs.read32(offset)
  }

  write32(offset: number, value: number): void {
    const regs = this.regs
    if (offset === REG.CR0) {
      regs.write32(REG.CR0, value)
      regs.write32(REG.CR0ACK, value)
    } else if (offset === REG.GBPA) regs.write32(REG.GBPA, (value & ~GBPA_UPDATE) >>> 0)
    else {
      regs.write32(offset, value)
      if (offset === REG.CMDQ_PROD) Atomics.notify(regs.i32, REG.CMDQ_PROD >> 2)
    }
  }

  waitCmdqConsumed(prod: number): void {
    const i32 = this.regs.i32
    const deadline = Date.now() + this.timeoutMs
    for (;;) {
      const cons = Atomics.load(i32, REG.CMDQ_CONS >> 2)
      if (cons >>> CMDQ_CONS_ERR_SHIFT !== 0 || (this.regs.read32(REG.GERROR) & GERROR_CMDQ_ERR) !== 0)
        throw new Error(`SMMU command queue error: CMDQ_CONS=0x${(cons >>> 0).toString(16)}`)
      if (((cons ^ prod) & 0x00ffffff) === 0) return
      if (Date.now() > deadline)
        throw new Error('SMMU did not consume the command queue (is its thread running?)')
      Atomics.wait(i32, REG.CMDQ_CONS >> 2, cons, 1)
    }
  }
}
