// The helper as a child process on a real host: the same line protocol as in the lane's guest,
// over the child's stdin/stdout (native/iommufd-helper serves stdin/stdout when it is not PID 1).
// Requests are answered in order, but every answer is still matched by its tag; every request has
// a bounded wait, and a helper that exits rejects everything pending with its exit status.
import { type ChildProcess, spawn } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'
import {
  type HelperArg,
  HelperError,
  type HelperOk,
  type HelperResponse,
  formatRequest,
  parseResponse,
} from './helper-protocol.js'
import type { HelperTransport } from './helper-transport.js'

export interface PipeHelperOptions {
  /** Bound on a single request; default 30 s. */
  requestTimeoutMs?: number
}

export interface SpawnHelperOptions extends PipeHelperOptions {
  /** Extra arguments for the helper (none today). */
  args?: string[]
  /** Where the helper's stderr goes: kept (default; the tail is in errors) or inherited. */
  stderr?: 'keep' | 'inherit'
}

/** A helper spoken to over a pair of streams: its stdout (answers) and its stdin (requests). */
export class PipeHelper implements HelperTransport {
  private buffer = ''
  private nextTag = 1
  private closedWhy: string | undefined
  private readonly waiters = new Map<
    string,
    { resolve: (r: HelperResponse) => void; reject: (e: Error) => void }
  >()

  constructor(
    input: Readable,
    private readonly output: Writable,
    private readonly opts: PipeHelperOptions = {},
    /** Why the stream ended, for error messages (a child's exit status and stderr). */
    private readonly describeEnd: () => string = () => 'the helper closed its output',
  ) {
    input.setEncoding('utf8')
    input.on('data', (d: string) => this.onData(d))
    input.on('end', () => this.fail(this.describeEnd()))
    input.on('error', (e) => this.fail(`helper output: ${e.message}`))
    output.on('error', (e) => this.fail(`helper input: ${e.message}`))
  }

  /** Spawns the helper binary and speaks to it over its stdin/stdout. */
  static spawn(path: string, opts: SpawnHelperOptions = {}): { helper: PipeHelper; child: ChildProcess } {
    const child = spawn(path, opts.args ?? [], {
      stdio: ['pipe', 'pipe', opts.stderr === 'inherit' ? 'inherit' : 'pipe'],
    })
    let stderr = ''
    let exit = ''
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000)
    })
    child.on('exit', (code, signal) => {
      exit = `helper ${path} exited (code ${code}, signal ${signal})`
    })
    child.on('error', (e) => {
      exit = `helper ${path} failed to start: ${e.message}`
      helper.fail(exit)
    })
    const helper = new PipeHelper(child.stdout!, child.stdin!, opts, () =>
      [exit || `helper ${path} closed its stdout`, stderr.trim() && `stderr: ${stderr.trim()}`]
        .filter(Boolean)
        .join('; '),
    )
    return { helper, child }
  }

  private onData(d: string): void {
    this.buffer += d
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl)
      this.buffer = this.buffer.slice(nl + 1)
      const r = parseResponse(line)
      if (r) this.waiters.get(r.tag)?.resolve(r)
    }
  }

  private fail(why: string): void {
    this.closedWhy ??= why
    for (const w of [...this.waiters.values()]) w.reject(new Error(this.closedWhy))
  }

  /** Sends one request and returns the raw answer; rejects only on timeout or a closed helper. */
  send(command: string, args: readonly HelperArg[] = [], timeoutMs = this.opts.requestTimeoutMs ?? 30_000) {
    if (this.closedWhy) return Promise.reject(new Error(this.closedWhy))
    const tag = `p${this.nextTag++}`
    const line = formatRequest(tag, command, args)
    return new Promise<HelperResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(tag)
        reject(new Error(`${command}: the helper did not answer within ${timeoutMs} ms`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.waiters.delete(tag)
      }
      this.waiters.set(tag, {
        resolve: (r) => {
          done()
          resolve(r)
        },
        reject: (e) => {
          done()
          reject(e)
        },
      })
      this.output.write(line)
    })
  }

  async call(command: string, ...args: HelperArg[]): Promise<HelperOk> {
    const r = await this.send(command, args)
    if (!r.ok) throw new HelperError(command, r.errno, r.what)
    return r
  }

  /** Ends the helper's input (it exits at end of input) and rejects whatever is still pending. */
  close(): void {
    this.output.end()
    this.fail('helper closed')
  }
}
