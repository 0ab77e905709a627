import { createHash } from 'node:crypto'
import { type ErrorCode, HitlessError } from '@hitless/protocol'
import type { KexecExecutor, KexecTarget } from './kexec-executor.js'

/** Where the kexec happens (this host, or a guest driven through the helper). */
export interface KexecHost {
  /** Effective uid 0 there (kexec_file_load needs CAP_SYS_BOOT; /dev/liveupdate is root's). */
  isRoot(): Promise<boolean>
  /** The LUO device node exists there (the kernel has CONFIG_LIVEUPDATE). */
  hasDevice(path: string): Promise<boolean>
}

/** Loads the next kernel and reboots into it. */
export interface KexecLoader {
  /** kexec_file_load of `target`; nothing is stopped yet. */
  load(target: KexecTarget): Promise<void>
  /**
   * Reboots into the loaded kernel. On this host it never returns (a return is an error); a
   * remote host answers first and then goes, so its promise resolves as the reboot starts.
   */
  reboot(): Promise<void>
}

/**
 * The LUO UAPI (include/uapi/linux/liveupdate.h), which Node cannot call: ioctls on
 * /dev/liveupdate and on session fds. On a real host and in the lane's guest this is the static
 * helper (native/iommufd-helper). The port opens /dev/liveupdate itself: the device has a single
 * opener, so the process that makes the ioctls must be the one holding it — were Node to open it,
 * the helper could not (EBUSY), and Node cannot pass the ioctls on.
 */
export interface LuoPort {
  /** Opens /dev/liveupdate once and holds it; a second opener's EBUSY is thrown with `code`. */
  open(): Promise<number>
  /** LIVEUPDATE_IOCTL_CREATE_SESSION: the session's fd, held into the reboot. */
  createSession(name: string): Promise<number>
  /** A memfd holding `bytes`, preserved in the session under `token` (LIVEUPDATE_SESSION_PRESERVE_FD). */
  preserve(sessionFd: number, token: number, bytes: Uint8Array): Promise<void>
  /** After the reboot: LIVEUPDATE_IOCTL_RETRIEVE_SESSION. */
  retrieveSession(name: string): Promise<number>
  /** After the reboot: the bytes of the file preserved under `token` (LIVEUPDATE_SESSION_RETRIEVE_FD). */
  retrieve(sessionFd: number, token: number): Promise<Uint8Array>
  /** LIVEUPDATE_SESSION_FINISH: the files return to the kernel's normal rules. */
  finish(sessionFd: number): Promise<void>
}

export interface RealKexecOptions {
  host: KexecHost
  loader: KexecLoader
  luo?: LuoPort
  /** Default `/dev/liveupdate`. */
  device?: string
  /** The LUO session's name. Default `hitless`. */
  session?: string
}

/** Why a kexec was refused before anything irreversible happened: `details.check` names the rule. */
export type KexecCheck =
  | 'root'
  | 'luo-device'
  | 'luo-busy'
  | 'luo-port'
  | 'not-staged'
  | 'target'
  | 'luo-session'
  | 'luo-file'

const KEXEC_CODES: Record<KexecCheck, ErrorCode> = {
  root: 'HITLESS_E_CONFIG',
  'luo-device': 'HITLESS_E_CONFIG',
  'luo-port': 'HITLESS_E_CONFIG',
  'luo-busy': 'HITLESS_E_CONFLICT',
  'not-staged': 'HITLESS_E_CONFLICT',
  target: 'HITLESS_E_UNPROCESSABLE',
  'luo-session': 'HITLESS_E_HANDOVER',
  'luo-file': 'HITLESS_E_HANDOVER',
}

export function kexecRefused(check: KexecCheck, message: string): HitlessError {
  return new HitlessError(KEXEC_CODES[check], `kexec refused (${check}): ${message}`, { check })
}

/**
 * The LUO token (a u64 in the UAPI) a name is preserved under: the first 32 bits of its SHA-256,
 * so the new kernel's agent finds the same file by the same name without any table crossing over.
 */
export function luoToken(name: string): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0)
}

/**
 * A real host's kexec (issue 5 item 5): load through the loader (`kexec -s -l`, or the helper's
 * kexec_file_load), keep bytes in a LUO session through /dev/liveupdate, reboot.
 *
 * The real rules it keeps:
 * - /dev/liveupdate has a single opener: the LUO port opens it once and holds it; a second
 *   opener's EBUSY is reported as such (another agent, or another helper, holds it).
 * - The process holding the LUO session must keep its fds open into the reboot: closing them
 *   (or being killed) unpreserves everything. So nothing here closes them, and the reboot is
 *   `kexec -e` (or the helper's reboot(LINUX_REBOOT_CMD_KEXEC)) with the holder still alive.
 *   NOT `systemctl kexec`: that is a shutdown transaction — systemd stops every service first
 *   (this agent, or the helper holding the session, among them), the session fds close, LUO
 *   unpreserves the memfds and the blob, and the new kernel finds nothing to restore.
 * - Not root, or /dev/liveupdate missing when preservation is asked for: a clear refusal before
 *   anything is loaded or preserved.
 */
export class RealKexecExecutor implements KexecExecutor {
  private staged: KexecTarget | undefined
  private liveupdateFd: number | undefined
  private sessionFd: number | undefined
  private sessionReady: Promise<number> | undefined

  constructor(private readonly o: RealKexecOptions) {}

  private get device(): string {
    return this.o.device ?? '/dev/liveupdate'
  }

  private async requireRoot(what: string): Promise<void> {
    if (!(await this.o.host.isRoot()))
      throw kexecRefused('root', `${what} needs root (CAP_SYS_BOOT); this agent is not root`)
  }

  async stage(target: KexecTarget): Promise<void> {
    await this.requireRoot('kexec_file_load')
    await this.o.loader.load(target)
    this.staged = target
  }

  /**
   * The session every preserve() goes into. One promise for all callers: two preserves in flight
   * must not both open /dev/liveupdate, or the second open is our own first one's EBUSY, reported
   * as another process holding the device. A failure is not kept: the next call tries again.
   */
  private session(): Promise<number> {
    this.sessionReady ??= this.openSession().catch((e: unknown) => {
      this.sessionReady = undefined
      throw e
    })
    return this.sessionReady
  }

  /** Opens /dev/liveupdate once (through the port) and creates the session; both are held until the reboot. */
  private async openSession(): Promise<number> {
    await this.requireRoot('a LUO session')
    if (!(await this.o.host.hasDevice(this.device)))
      throw kexecRefused(
        'luo-device',
        `${this.device} is missing: this kernel has no LUO (CONFIG_LIVEUPDATE), so nothing can be preserved`,
      )
    const luo = this.o.luo
    if (!luo) throw kexecRefused('luo-port', 'no LUO port (the helper): cannot create a session')
    if (this.liveupdateFd === undefined) {
      try {
        this.liveupdateFd = await luo.open()
      } catch (e) {
        if (
          (e as { code?: string; errno?: string }).code === 'EBUSY' ||
          (e as { errno?: string }).errno === 'EBUSY'
        )
          throw kexecRefused(
            'luo-busy',
            `${this.device} is busy: it has a single opener and another process holds it (another agent, or another helper)`,
          )
        throw e
      }
    }
    this.sessionFd = await luo.createSession(this.o.session ?? 'hitless')
    return this.sessionFd
  }

  async preserve(name: string, bytes: Uint8Array): Promise<void> {
    const s = await this.session()
    await this.o.luo!.preserve(s, luoToken(name), bytes)
  }

  async reboot(): Promise<void> {
    if (!this.staged) throw kexecRefused('not-staged', 'kexec reboot: no kernel staged (stage() first)')
    await this.requireRoot('kexec reboot')
    // The session fds stay open: their holder is alive when the kernel goes.
    await this.o.loader.reboot()
  }

  /** The held fds (for the caller's tests and diagnostics). */
  get fds(): { liveupdate?: number; session?: number } {
    return {
      ...(this.liveupdateFd !== undefined ? { liveupdate: this.liveupdateFd } : {}),
      ...(this.sessionFd !== undefined ? { session: this.sessionFd } : {}),
    }
  }
}

/** A LUO session the new kernel was handed: its files by the names they were preserved under. */
export interface PreservedSession {
  sessionFd: number
  /** The bytes preserved under `name`, or a refusal naming it (`luo-file`). */
  get(name: string): Promise<Uint8Array>
  /** LUO_SESSION_FINISH: what was not retrieved returns to the kernel. */
  finish(): Promise<void>
}

/**
 * The new kernel's side: the session an old agent preserved, or a refusal that says it was not
 * handed over (`luo-session`). A session is retrieved once per boot (the kernel answers a second
 * RETRIEVE_SESSION of the same name with EINVAL), so keep the returned object.
 */
export async function retrievePreserved(luo: LuoPort, session: string): Promise<PreservedSession> {
  let sessionFd: number
  try {
    sessionFd = await luo.retrieveSession(session)
  } catch (e) {
    throw kexecRefused('luo-session', `LUO session ${session} was not handed over: ${(e as Error).message}`)
  }
  return {
    sessionFd,
    async get(name) {
      try {
        return await luo.retrieve(sessionFd, luoToken(name))
      } catch (e) {
        throw kexecRefused('luo-file', `LUO session ${session} has no ${name}: ${(e as Error).message}`)
      }
    },
    finish: () => luo.finish(sessionFd),
  }
}
