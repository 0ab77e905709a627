import type { KexecExecutor, KexecTarget } from './kexec-executor.js'

/** Runs a program to completion (no shell). */
export type CommandRunner = (
  file: string,
  args: readonly string[],
) => Promise<{ code: number; stderr: string }>

/** The file-system calls the executor makes; `open` throws a Node error (code ENOENT, EBUSY…). */
export interface ExecutorFs {
  exists(path: string): boolean
  open(path: string): number
}

/**
 * The LUO ioctls, which Node cannot make itself: on a real host, the static helper
 * (native/iommufd-helper, `luo_create_session` / `luo_preserve`) given the fd this executor holds.
 */
export interface LuoIoctls {
  /** LIVEUPDATE_IOCTL_CREATE_SESSION on the /dev/liveupdate fd: the session's fd. */
  createSession(liveupdateFd: number, name: string): Promise<number>
  /** A memfd holding `bytes`, preserved in the session under `token` (LIVEUPDATE_SESSION_PRESERVE_FD). */
  preserve(sessionFd: number, token: string, bytes: Uint8Array): Promise<void>
}

export interface RealKexecOptions {
  run: CommandRunner
  fs: ExecutorFs
  /** Effective uid is 0 (kexec_file_load needs CAP_SYS_BOOT; /dev/liveupdate is root's). */
  isRoot: () => boolean
  luo?: LuoIoctls
  /** Default `kexec` (kexec-tools, on PATH). */
  kexec?: string
  /** Default `/dev/liveupdate`. */
  device?: string
  /** The LUO session's name. Default `hitless`. */
  session?: string
}

export class KexecRefused extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'KexecRefused'
  }
}

/** `kexec -s -l IMAGE [--initrd=…] --command-line=…`: kexec_file_load (-s), load only (-l). */
export function kexecLoadArgs(t: KexecTarget): string[] {
  return ['-s', '-l', t.image, ...(t.initrd ? [`--initrd=${t.initrd}`] : []), `--command-line=${t.cmdline}`]
}

/**
 * A real host's kexec (issue 5 item 5): `kexec -s -l` to load, a LUO session through
 * /dev/liveupdate to keep bytes, `kexec -e` to reboot.
 *
 * The real rules it keeps:
 * - /dev/liveupdate has a single opener: it is opened once, here, and the fd is held; a second
 *   opener gets EBUSY, reported as such (another agent or the helper holds it).
 * - The process holding the LUO session must keep its fds open into the reboot: closing them
 *   (or being killed) unpreserves everything. So nothing here closes them, and the reboot is
 *   `kexec -e` from this very process. NOT `systemctl kexec`: that is a shutdown transaction —
 *   systemd stops every service first (this agent, or the helper holding the session, among
 *   them), the session fds close, LUO unpreserves the memfds and the blob, and the new kernel
 *   finds nothing to restore. `kexec -e` reboots at once with this process still alive.
 * - Not root, or /dev/liveupdate missing when preservation is asked for: a clear refusal before
 *   anything is loaded or preserved.
 */
export class RealKexecExecutor implements KexecExecutor {
  private staged: KexecTarget | undefined
  private liveupdateFd: number | undefined
  private sessionFd: number | undefined

  constructor(private readonly o: RealKexecOptions) {}

  private get kexecBin(): string {
    return this.o.kexec ?? 'kexec'
  }

  private get device(): string {
    return this.o.device ?? '/dev/liveupdate'
  }

  private requireRoot(what: string): void {
    if (!this.o.isRoot()) throw new KexecRefused(`${what} needs root (CAP_SYS_BOOT); this agent is not root`)
  }

  async stage(target: KexecTarget): Promise<void> {
    this.requireRoot('kexec -s -l')
    const args = kexecLoadArgs(target)
    const r = await this.o.run(this.kexecBin, args)
    if (r.code !== 0)
      throw new Error(`${this.kexecBin} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`)
    this.staged = target
  }

  /** Opens /dev/liveupdate once and creates the session; both fds are held until the reboot. */
  private async session(): Promise<number> {
    if (this.sessionFd !== undefined) return this.sessionFd
    this.requireRoot('a LUO session')
    if (!this.o.fs.exists(this.device))
      throw new KexecRefused(
        `${this.device} is missing: this kernel has no LUO (CONFIG_LIVEUPDATE), so nothing can be preserved`,
      )
    if (!this.o.luo) throw new KexecRefused('no LUO ioctl port (the helper): cannot create a session')
    if (this.liveupdateFd === undefined) {
      try {
        this.liveupdateFd = this.o.fs.open(this.device)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EBUSY')
          throw new KexecRefused(
            `${this.device} is busy: it has a single opener and another process holds it (another agent, or the helper)`,
          )
        throw e
      }
    }
    this.sessionFd = await this.o.luo.createSession(this.liveupdateFd, this.o.session ?? 'hitless')
    return this.sessionFd
  }

  async preserve(name: string, bytes: Uint8Array): Promise<void> {
    const s = await this.session()
    await this.o.luo!.preserve(s, name, bytes)
  }

  async reboot(): Promise<void> {
    if (!this.staged) throw new KexecRefused('kexec -e: no kernel staged (stage() first)')
    this.requireRoot('kexec -e')
    // The session fds stay open: this process is alive when the kernel goes.
    const r = await this.o.run(this.kexecBin, ['-e'])
    throw new Error(
      `${this.kexecBin} -e returned (exit ${r.code}): ${r.stderr.trim() || 'no reboot happened'}`,
    )
  }

  /** The held fds (for the caller's tests and diagnostics). */
  get fds(): { liveupdate?: number; session?: number } {
    return {
      ...(this.liveupdateFd !== undefined ? { liveupdate: this.liveupdateFd } : {}),
      ...(this.sessionFd !== undefined ? { session: this.sessionFd } : {}),
    }
  }
}
