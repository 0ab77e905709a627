// A QEMU guest running native/iommufd-helper as PID 1, driven over a virtio-serial port.
//
// QEMU exposes the guest port "hitless" as a host unix socket (chardev socket, server=on,wait=off).
// Bytes the host writes before the guest opens the port stay in the socket (QEMU does not read
// them while the guest side is closed), so the host may connect and ask at once. Every request
// carries a fresh tag; answers with other tags (late answers to retried pings) are dropped.
// Every wait is bounded: QEMU itself is killed after `runTimeoutMs` whatever happens.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { type Socket, createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type HelperArg,
  HelperError,
  type HelperOk,
  type HelperResponse,
  formatRequest,
  num,
  parseResponse,
} from './helper-protocol.js'

export interface QemuGuestOptions {
  /** The kernel (bzImage) to boot. */
  kernel: string
  /** The initramfs whose /init is the helper (and which carries /kexec/bzImage). */
  initramfs: string
  /** Kernel command line; default `console=ttyS0 panic=-1 liveupdate=on`. */
  append?: string
  /** Guest memory in MiB; default 1024. */
  memoryMiB?: number
  /** QEMU binary; default `qemu-system-x86_64`. */
  qemu?: string
  /** Hard bound on the whole QEMU run: the process is killed after it; default 240 s. */
  runTimeoutMs?: number
  /** Bound on a single request; default 30 s. */
  requestTimeoutMs?: number
  /** Bound on the first boot (until the helper answers); default 90 s. */
  bootTimeoutMs?: number
  /** Folder for the console log (console.log); default the temporary socket folder, removed on close. */
  workDir?: string
}

export interface GuestTimings {
  /** Host wall time from spawning QEMU to the helper's first answer. */
  bootMs: number
  /** Guest CLOCK_BOOTTIME when the helper first answered (kernel boot as the guest saw it). */
  guestUptimeMs: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class QemuGuest {
  readonly consoleLog: string
  private readonly socketPath: string
  private socket: Socket | undefined
  private buffer = ''
  private nextTag = 1
  private readonly waiters = new Map<
    string,
    { resolve: (r: HelperResponse) => void; reject: (e: Error) => void }
  >()
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined
  private readonly exitWaiters: (() => void)[] = []
  private stderr = ''
  private killTimer: NodeJS.Timeout | undefined

  private constructor(
    private readonly proc: ChildProcess,
    workDir: string,
    private readonly socketDir: string,
    private readonly requestTimeoutMs: number,
  ) {
    this.consoleLog = join(workDir, 'console.log')
    this.socketPath = join(socketDir, 'hitless.sock')
  }

  /** Starts QEMU, connects to the helper's port and waits until the helper answers a ping. */
  static async start(opts: QemuGuestOptions): Promise<{ guest: QemuGuest; timings: GuestTimings }> {
    // The socket lives in its own short temporary folder (unix socket paths are limited to 108 bytes).
    const socketDir = mkdtempSync(join(tmpdir(), 'hitless-qemu-'))
    const socketPath = join(socketDir, 'hitless.sock')
    const workDir = opts.workDir ?? socketDir
    mkdirSync(workDir, { recursive: true })
    const args = [
      ...['-machine', 'pc', '-m', String(opts.memoryMiB ?? 1024), '-smp', '1'],
      ...['-nodefaults', '-no-reboot', '-display', 'none', '-monitor', 'none'],
      ...['-serial', `file:${join(workDir, 'console.log')}`],
      ...['-device', 'virtio-serial-pci'],
      ...['-chardev', `socket,path=${socketPath},server=on,wait=off,id=c0`],
      ...['-device', 'virtserialport,chardev=c0,name=hitless'],
      ...['-kernel', opts.kernel, '-initrd', opts.initramfs],
      ...['-append', opts.append ?? 'console=ttyS0 panic=-1 liveupdate=on'],
    ]
    const started = Date.now()
    const proc = spawn(opts.qemu ?? 'qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    const guest = new QemuGuest(proc, workDir, socketDir, opts.requestTimeoutMs ?? 30_000)
    proc.stderr?.on('data', (d: Buffer) => {
      guest.stderr += d.toString()
    })
    proc.on('exit', (code, signal) => {
      guest.exited = { code, signal }
      guest.rejectAll(guest.describeExit() ?? 'QEMU exited')
      for (const w of guest.exitWaiters.splice(0)) w()
    })
    proc.on('error', (e) => {
      guest.stderr += String(e)
      guest.exited ??= { code: null, signal: null }
      guest.rejectAll(guest.describeExit() ?? 'QEMU failed to start')
      for (const w of guest.exitWaiters.splice(0)) w()
    })
    guest.killTimer = setTimeout(() => proc.kill('SIGKILL'), opts.runTimeoutMs ?? 240_000)
    guest.killTimer.unref()
    try {
      await guest.connect(10_000)
      const ready = await guest.waitForGeneration(1, opts.bootTimeoutMs ?? 90_000)
      return { guest, timings: { bootMs: Date.now() - started, guestUptimeMs: num(ready, 'uptime_ms') } }
    } catch (e) {
      await guest.close()
      throw e
    }
  }

  /** Why QEMU is gone (or undefined while it runs), with the tail of its stderr and the console. */
  describeExit(): string | undefined {
    if (!this.exited) return undefined
    return `QEMU exited (code ${this.exited.code}, signal ${this.exited.signal}); stderr: ${this.stderr.trim() || '-'}; console tail:\n${this.consoleTail(30)}`
  }

  consoleTail(lines: number): string {
    if (!existsSync(this.consoleLog)) return '(no console log)'
    return readFileSync(this.consoleLog, 'utf8').split('\n').slice(-lines).join('\n')
  }

  console(): string {
    return existsSync(this.consoleLog) ? readFileSync(this.consoleLog, 'utf8') : ''
  }

  private async connect(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (this.exited) throw new Error(this.describeExit())
      if (existsSync(this.socketPath)) {
        try {
          this.socket = await new Promise<Socket>((resolve, reject) => {
            const s = createConnection(this.socketPath)
            s.once('connect', () => resolve(s))
            s.once('error', reject)
          })
          break
        } catch {
          // QEMU created the socket file but is not listening yet: retry.
        }
      }
      if (Date.now() > deadline)
        throw new Error(`QEMU's socket ${this.socketPath} did not accept within ${timeoutMs} ms`)
      await sleep(50)
    }
    this.socket.setEncoding('utf8')
    this.socket.on('data', (d: string) => this.onData(d))
    this.socket.on('error', () => {})
  }

  private onData(d: string): void {
    this.buffer += d
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl)
      this.buffer = this.buffer.slice(nl + 1)
      const r = parseResponse(line)
      if (!r) continue
      this.waiters.get(r.tag)?.resolve(r)
    }
  }

  /** Sends one request and returns the raw answer (ok or err); rejects only on timeout, QEMU exit or close. */
  async send(
    command: string,
    args: readonly HelperArg[] = [],
    timeoutMs = this.requestTimeoutMs,
  ): Promise<HelperResponse> {
    if (!this.socket) throw new Error('not connected')
    if (this.exited) throw new Error(this.describeExit())
    const tag = `r${this.nextTag++}`
    const line = formatRequest(tag, command, args)
    return new Promise<HelperResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(tag)
        reject(
          new Error(`${command}: no answer within ${timeoutMs} ms; console tail:\n${this.consoleTail(20)}`),
        )
      }, timeoutMs)
      this.waiters.set(tag, {
        resolve: (r) => {
          clearTimeout(timer)
          this.waiters.delete(tag)
          resolve(r)
        },
        reject: (e) => {
          clearTimeout(timer)
          this.waiters.delete(tag)
          reject(e)
        },
      })
      this.socket!.write(line)
    })
  }

  private rejectAll(why: string): void {
    for (const w of [...this.waiters.values()]) w.reject(new Error(why))
  }

  /** Sends one request; throws HelperError on `err`. */
  async call(command: string, ...args: HelperArg[]): Promise<HelperOk> {
    const r = await this.send(command, args)
    if (!r.ok) throw new HelperError(command, r.errno, r.what)
    return r
  }

  /** Sends one request that must fail; returns the errno name (throws if it succeeded). */
  async fails(command: string, ...args: HelperArg[]): Promise<string> {
    const r = await this.send(command, args)
    if (r.ok) throw new Error(`${command} ${args.join(' ')} succeeded but was expected to fail`)
    return r.errno
  }

  /**
   * Pings (every `intervalMs`) until the helper of generation `gen` answers: after boot, and after
   * a kexec, when the old kernel's helper is gone and the new one has opened the port. Pings may
   * be lost while the port changes hands; late answers to earlier pings are dropped.
   */
  async waitForGeneration(gen: number, timeoutMs: number, intervalMs = 500): Promise<HelperOk> {
    const deadline = Date.now() + timeoutMs
    const pings: string[] = []
    let found: HelperOk | undefined
    try {
      while (!found) {
        if (this.exited) throw new Error(`waiting for generation ${gen}: ${this.describeExit()}`)
        const left = deadline - Date.now()
        if (left <= 0) {
          throw new Error(
            `generation ${gen} did not answer within ${timeoutMs} ms; console tail:\n${this.consoleTail(30)}`,
          )
        }
        pings.push(`r${this.nextTag}`)
        this.send('ping', [], Math.min(left, intervalMs * 4)).then(
          (r) => {
            if (r.ok && Number(r.values.gen) === gen) found = r
          },
          () => {},
        )
        const tick = Date.now() + Math.min(intervalMs, left)
        while (!found && Date.now() < tick && !this.exited) await sleep(20)
      }
      return found
    } finally {
      for (const tag of pings) this.waiters.get(tag)?.reject(new Error('superseded ping'))
    }
  }

  /** Waits for QEMU to exit (bounded); true if it did. */
  async waitExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return true
    let timer: NodeJS.Timeout | undefined
    const exited = await Promise.race([
      new Promise<boolean>((r) => this.exitWaiters.push(() => r(true))),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    return exited
  }

  /** Powers the guest off (bounded), kills QEMU if needed and removes the temporary folder. */
  async close(): Promise<void> {
    if (!this.exited && this.socket) {
      await this.send('poweroff', [], 5_000).catch(() => undefined)
      await this.waitExit(10_000)
    }
    if (!this.exited) {
      this.proc.kill('SIGKILL')
      await this.waitExit(5_000)
    }
    clearTimeout(this.killTimer)
    this.rejectAll('guest closed')
    this.socket?.destroy()
    rmSync(this.socketDir, { recursive: true, force: true })
  }
}
