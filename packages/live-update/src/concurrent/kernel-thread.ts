import { Worker } from 'node:worker_threads'
import { ERROR_CODES, type ErrorCode, HitlessError } from '@hitless/protocol'
import type {
  DmaReading,
  KernelMessage,
  KernelWorkerData,
  SerializedError,
  Syscall,
  SyscallResults,
} from './kernel-syscalls.js'

/** A kernel thread's life as the agent saw it (performance.now() times). */
export interface KernelThreadEvents {
  spawnedAt: number
  bootedAt?: number
  /** When the 'exit' event came: the thread is gone. */
  exitedAt?: number
  exitCode?: number
}

function rebuild(e: SerializedError): Error {
  if (e.code && e.code in ERROR_CODES) return new HitlessError(e.code as ErrorCode, e.message, e.details)
  const err = new Error(e.message)
  err.name = e.name
  return err
}

/**
 * The agent's handle on a kernel worker (concurrent mode): boots it from `KernelWorkerData` — the
 * only way in — makes syscalls and waits for their answers, and terminates it at kexec.
 */
export class KernelThread {
  readonly events: KernelThreadEvents
  /** Resolves with the exit code once the thread has exited (terminated or crashed). */
  readonly exited: Promise<number>
  version = ''
  bootId = ''
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private failure: Error | undefined

  private constructor(private readonly worker: Worker) {
    this.events = { spawnedAt: performance.now() }
    this.exited = new Promise((resolve) => {
      worker.on('exit', (code) => {
        this.events.exitedAt = performance.now()
        this.events.exitCode = code
        this.fail(new Error(`the kernel thread exited (code ${code})`))
        resolve(code)
      })
    })
    worker.on('error', (e) => this.fail(e))
    worker.on('message', (m: KernelMessage) => {
      if (m.type !== 'reply') return
      const p = this.pending.get(m.id)
      this.pending.delete(m.id)
      if (m.ok) p?.resolve(m.value)
      else p?.reject(rebuild(m.error))
    })
  }

  /**
   * Starts a kernel from `image` with `data` alone; resolves once it has booted. A kernel that
   * has not booted within `timeoutMs` is terminated and the boot rejected: a hung boot must end
   * the update (failed-held), not hang it with the DMA worker still running.
   */
  static async boot(image: URL, data: KernelWorkerData, timeoutMs = 60_000): Promise<KernelThread> {
    const t = new KernelThread(new Worker(image, { workerData: data }))
    let timer: NodeJS.Timeout | undefined
    const booted = new Promise<void>((resolve, reject) => {
      t.worker.on('message', (m: KernelMessage) => {
        if (m.type === 'booted') {
          t.events.bootedAt = performance.now()
          t.version = m.version
          t.bootId = m.bootId
          resolve()
        } else if (m.type === 'boot-failed') reject(rebuild(m.error))
      })
      t.worker.once('error', reject)
      t.exited.then((code) => reject(new Error(`the kernel thread exited (code ${code}) before it booted`)))
      timer = setTimeout(() => {
        reject(new Error(`the kernel thread did not boot within ${timeoutMs} ms`))
        void t.worker.terminate()
      }, timeoutMs)
    })
    try {
      await booted
    } finally {
      clearTimeout(timer)
    }
    return t
  }

  /** One syscall; `dma` is what the agent read of the DMA counters just before. */
  call<C extends Syscall>(call: C, dma: DmaReading): Promise<SyscallResults[C['op']]> {
    if (this.failure) return Promise.reject(this.failure)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.worker.postMessage({ id, call, dma })
    })
  }

  /** worker.terminate(): the kernel is gone, and so is every object it held. Resolves on 'exit'. */
  async terminate(): Promise<number> {
    await this.worker.terminate()
    return this.exited
  }

  private fail(e: Error): void {
    this.failure ??= e
    for (const p of this.pending.values()) p.reject(e)
    this.pending.clear()
  }
}
