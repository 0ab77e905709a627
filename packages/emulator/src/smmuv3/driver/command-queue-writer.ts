import type { CpuStorePort } from '../../cpu/cpu-store-port.js'
import { CMDQ_ENT_SIZE, type SmmuCommand, encodeCommand } from '../commands.js'
import { queueFull, queueInc } from '../event-queue.js'
import { REG, type SmmuMmio } from '../registers.js'

/**
 * The driver's producer side of the command queue (arm_smmu_cmdq_issue_cmdlist, simplified to one
 * CPU): each command's two qwords are written with 64-bit stores through the CpuStorePort (store
 * boundaries, like any other memory write), then CMDQ_PROD is written (the doorbell). With `sync`
 * a CMD_SYNC is appended and the writer waits until the SMMU consumed it.
 */
export class CommandQueueWriter {
  private prod: number
  issued = 0
  syncs = 0

  constructor(
    readonly port: CpuStorePort,
    readonly mmio: SmmuMmio,
    readonly base: number,
    readonly log2size: number,
  ) {
    this.prod = mmio.read32(REG.CMDQ_PROD)
  }

  submit(cmds: readonly SmmuCommand[], sync = true): void {
    const all = sync ? [...cmds, { op: 'CMD_SYNC' } as const] : cmds
    for (const c of all) {
      if (queueFull(this.prod, this.mmio.read32(REG.CMDQ_CONS), this.log2size)) {
        this.mmio.write32(REG.CMDQ_PROD, this.prod)
        this.mmio.waitCmdqConsumed(this.prod)
      }
      const [w0, w1] = encodeCommand(c)
      const slot = this.base + (this.prod % 2 ** this.log2size) * CMDQ_ENT_SIZE
      this.port.store64(slot, w0)
      this.port.store64(slot + 8, w1)
      this.prod = queueInc(this.prod, this.log2size)
      this.issued++
    }
    this.mmio.write32(REG.CMDQ_PROD, this.prod)
    if (sync) {
      this.syncs++
      this.mmio.waitCmdqConsumed(this.prod)
    }
  }
}
