import type { PhysicalMemory } from '../memory/physical-memory.js'
import { CMDQ_ENT_SIZE, type SmmuCommand, decodeCommand } from './commands.js'
import { queueEmpty, queueGeometry, queueInc } from './event-queue.js'
import {
  CERROR_ILL,
  CMDQ_CONS_ERR_SHIFT,
  CR0_CMDQEN,
  GERROR_CMDQ_ERR,
  REG,
  type SmmuRegisters,
} from './registers.js'

/**
 * The SMMU side of the command queue (IHI 0070, 3.5 and 4): the driver writes 16-byte commands
 * into emulated memory (each qword a CPU store) and rings CMDQ_PROD; the SMMU consumes from
 * CMDQ_CONS up to PROD, executing each command before advancing CONS. Consumption is synchronous
 * here (deterministic mode: inside the doorbell write; concurrent mode: when the SMMU's thread
 * polls the doorbell), so a CMD_SYNC completes as soon as CONS passes it.
 *
 * An opcode this model does not implement stops consumption with CMDQ_CONS.ERR = CERROR_ILL and
 * toggles GERROR.CMDQ_ERR, as the architecture specifies for an illegal command (IHI 0070, 7.1).
 */
export class CommandQueueConsumer {
  consumed = 0
  errors = 0

  constructor(
    readonly memory: PhysicalMemory,
    readonly regs: SmmuRegisters,
    readonly atomic = false,
  ) {}

  /** Consumes every pending command; returns how many were executed. */
  consume(execute: (cmd: SmmuCommand) => void): number {
    const regs = this.regs
    if ((regs.read32(REG.CR0) & CR0_CMDQEN) === 0) return 0
    let cons = regs.read32(REG.CMDQ_CONS)
    if (cons >>> CMDQ_CONS_ERR_SHIFT !== 0) return 0 // stopped on an error until the driver clears it
    const { base, log2size } = queueGeometry(regs.read64(REG.CMDQ_BASE))
    const prod = regs.read32(REG.CMDQ_PROD)
    let n = 0
    while (!queueEmpty(prod, cons, log2size)) {
      const slot = base + (cons % 2 ** log2size) * CMDQ_ENT_SIZE
      const w0 = this.atomic ? this.memory.atomicRead64(slot) : this.memory.read64(slot)
      const w1 = this.atomic ? this.memory.atomicRead64(slot + 8) : this.memory.read64(slot + 8)
      const cmd = decodeCommand(w0, w1)
      if (cmd === undefined) {
        this.errors++
        regs.write32(REG.CMDQ_CONS, (cons | (CERROR_ILL << CMDQ_CONS_ERR_SHIFT)) >>> 0)
        regs.write32(REG.GERROR, regs.read32(REG.GERROR) ^ GERROR_CMDQ_ERR)
        return n
      }
      execute(cmd)
      cons = queueInc(cons, log2size)
      regs.write32(REG.CMDQ_CONS, cons)
      n++
      this.consumed++
    }
    return n
  }
}
