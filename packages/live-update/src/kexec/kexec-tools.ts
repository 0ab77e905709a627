import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { KexecTarget } from './kexec-executor.js'
import type { KexecHost, KexecLoader } from './real-kexec-executor.js'

/** Runs a program to completion (no shell). */
export type CommandRunner = (
  file: string,
  args: readonly string[],
) => Promise<{ code: number; stderr: string }>

/** `execFile` as a CommandRunner: exit code and stderr, never a shell. */
export const execRunner: CommandRunner = (file, args) =>
  new Promise((resolve) => {
    execFile(file, [...args], (err, _stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0
      resolve({ code, stderr: String(stderr || (err && !err.code ? err.message : '')) })
    })
  })

/** `kexec -s -l IMAGE [--initrd=…] --command-line=…`: kexec_file_load (-s), load only (-l). */
export function kexecLoadArgs(t: KexecTarget): string[] {
  return ['-s', '-l', t.image, ...(t.initrd ? [`--initrd=${t.initrd}`] : []), `--command-line=${t.cmdline}`]
}

/**
 * This host's kexec through kexec-tools: `kexec -s -l` to load, `kexec -e` to reboot at once
 * from this process (never `systemctl kexec`, which stops the LUO session's holder first).
 */
export function kexecToolsLoader(run: CommandRunner = execRunner, bin = 'kexec'): KexecLoader {
  return {
    async load(target) {
      const args = kexecLoadArgs(target)
      const r = await run(bin, args)
      if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`)
    },
    async reboot() {
      const r = await run(bin, ['-e'])
      throw new Error(`${bin} -e returned (exit ${r.code}): ${r.stderr.trim() || 'no reboot happened'}`)
    },
  }
}

/** This host as the place of the kexec: this process's euid, this file system. */
export const localKexecHost: KexecHost = {
  isRoot: async () => process.geteuid?.() === 0,
  hasDevice: async (path) => existsSync(path),
}
