import type { PhysicalMemory } from '../memory/physical-memory.js'
import { EVTQ_ENT_SIZE, type EventRecord, decodeEvent, encodeEvent } from './events.js'
import { CR0_EVTQEN, Q_OVERFLOW_FLAG, REG, type SmmuRegisters } from './registers.js'

/** Queue geometry from a *_BASE register value: ADDR [51:5], LOG2SIZE [4:0]. */
export function queueGeometry(baseReg: number): { base: number; log2size: number } {
  const v = baseReg % 2 ** 52
  return { base: v - (v % 32), log2size: v % 32 }
}

/** True when a queue with `log2size` is full: same index, different wrap bit (IHI 0070, 3.5.1). */
export function queueFull(prod: number, cons: number, log2size: number): boolean {
  const n = 2 ** log2size
  return prod % n === cons % n && (prod & n) !== (cons & n)
}

export function queueEmpty(prod: number, cons: number, log2size: number): boolean {
  const m = 2 ** (log2size + 1) - 1
  return (prod & m) === (cons & m)
}

/** Next index+wrap value (IHI 0070, 3.5: the wrap bit sits just above the index bits). */
export function queueInc(p: number, log2size: number): number {
  const m = 2 ** (log2size + 1) - 1
  return (((p & m) + 1) & m) | (p & Q_OVERFLOW_FLAG)
}

/**
 * The SMMU side of the event queue (IHI 0070, 3.5 "Command and event queues", 7.4 "Event queue
 * overflow"): records are written at EVTQ_PROD in emulated memory and PROD advances. A full queue
 * loses the event and toggles EVTQ_PROD.OVFLG (once, until the driver acknowledges it by copying it
 * to EVTQ_CONS.OVACKFLG). With CR0.EVTQEN=0 events are not recorded at all. Either way the event is
 * lost, and counted, per StreamID too: "no event recorded" is not "no fault".
 */
export class EventQueue {
  overflows = 0
  readonly lostBySid = new Map<number, number>()

  constructor(
    readonly memory: PhysicalMemory,
    readonly regs: SmmuRegisters,
    readonly atomic = false,
  ) {}

  /**
   * Events recorded and lost so far. They live in the register file (REG.IMPDEF_EVENTS_*), not in
   * this object: they are hardware state, read by a kernel on any thread and kept across a kexec.
   */
  get recorded(): number {
    return this.regs.read32(REG.IMPDEF_EVENTS_RECORDED)
  }

  get lost(): number {
    return this.regs.read32(REG.IMPDEF_EVENTS_LOST)
  }

  /** Records `e`; returns false if it was lost. */
  record(e: EventRecord): boolean {
    const regs = this.regs
    if ((regs.read32(REG.CR0) & CR0_EVTQEN) === 0) return this.lose(e.sid)
    const { base, log2size } = queueGeometry(regs.read64(REG.EVTQ_BASE))
    const prod = regs.read32(REG.EVTQ_PROD)
    const cons = regs.read32(REG.EVTQ_CONS)
    if (queueFull(prod, cons, log2size)) {
      if ((prod & Q_OVERFLOW_FLAG) === (cons & Q_OVERFLOW_FLAG)) {
        regs.write32(REG.EVTQ_PROD, (prod ^ Q_OVERFLOW_FLAG) >>> 0)
        this.overflows++
      }
      return this.lose(e.sid)
    }
    const slot = base + (prod % 2 ** log2size) * EVTQ_ENT_SIZE
    if (!this.memory.contains(slot, EVTQ_ENT_SIZE)) return this.lose(e.sid)
    const words = encodeEvent(e)
    for (let i = 0; i < 4; i++) {
      if (this.atomic) this.memory.atomicWrite64(slot + i * 8, words[i])
      else this.memory.write64(slot + i * 8, words[i])
    }
    // Publishing PROD after the record: an Atomics store orders the record before it.
    regs.write32(REG.EVTQ_PROD, queueInc(prod, log2size))
    regs.write32(REG.IMPDEF_EVENTS_RECORDED, this.recorded + 1)
    return true
  }

  private lose(sid: number): false {
    this.regs.write32(REG.IMPDEF_EVENTS_LOST, this.lost + 1)
    this.lostBySid.set(sid, (this.lostBySid.get(sid) ?? 0) + 1)
    return false
  }
}

/**
 * The driver side: reads every pending record and advances EVTQ_CONS (arm_smmu_evtq_thread), and
 * acknowledges an overflow by copying OVFLG into OVACKFLG. Returns the records and whether an
 * overflow had been signalled.
 */
export function drainEventQueue(
  memory: PhysicalMemory,
  mmio: { read32(o: number): number; write32(o: number, v: number): void },
): { events: EventRecord[]; overflowed: boolean } {
  const baseReg = mmio.read32(REG.EVTQ_BASE + 4) * 4294967296 + mmio.read32(REG.EVTQ_BASE)
  const { base, log2size } = queueGeometry(baseReg)
  const prod = mmio.read32(REG.EVTQ_PROD)
  let cons = mmio.read32(REG.EVTQ_CONS)
  const events: EventRecord[] = []
  while (!queueEmpty(prod, cons, log2size)) {
    const slot = base + (cons % 2 ** log2size) * EVTQ_ENT_SIZE
    const w = [0, 1, 2, 3].map((i) => memory.atomicRead64(slot + i * 8))
    events.push(decodeEvent(w))
    cons = queueInc(cons, log2size)
  }
  const overflowed = (prod & Q_OVERFLOW_FLAG) !== (cons & Q_OVERFLOW_FLAG)
  cons = ((cons & ~Q_OVERFLOW_FLAG) | (prod & Q_OVERFLOW_FLAG)) >>> 0
  mmio.write32(REG.EVTQ_CONS, cons)
  return { events, overflowed }
}
