import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type ExecutorFs, KexecRefused, kexecLoadArgs, RealKexecExecutor } from './real-kexec-executor.js'

function fakes(o: { root?: boolean; device?: boolean; busy?: boolean; exit?: number } = {}) {
  const runs: string[][] = []
  const opens: string[] = []
  const luoCalls: string[] = []
  const fs: ExecutorFs = {
    exists: (p) => p === '/dev/liveupdate' && o.device !== false,
    open: (p) => {
      opens.push(p)
      if (o.busy) throw Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' })
      return 17
    },
  }
  const ex = new RealKexecExecutor({
    run: async (file, args) => {
      runs.push([file, ...args])
      return { code: o.exit ?? 0, stderr: o.exit ? 'kexec_file_load failed: Operation not permitted' : '' }
    },
    fs,
    isRoot: () => o.root !== false,
    luo: {
      createSession: async (fd, name) => {
        luoCalls.push(`create ${fd} ${name}`)
        return 18
      },
      preserve: async (sfd, token, bytes) => {
        luoCalls.push(`preserve ${sfd} ${token} ${bytes.length}`)
      },
    },
  })
  return { ex, runs, opens, luoCalls }
}

const target = {
  image: '/boot/vmlinuz-7.2.13',
  initrd: '/boot/initrd.img-7.2.13',
  cmdline: 'root=/dev/vda ro quiet',
}

test('stage runs kexec -s -l IMAGE --initrd= --command-line=, reboot runs kexec -e (never systemctl)', async () => {
  const { ex, runs } = fakes()
  await ex.stage(target)
  await assert.rejects(ex.reboot(), /kexec -e returned/)
  assert.deepEqual(runs, [
    [
      'kexec',
      '-s',
      '-l',
      '/boot/vmlinuz-7.2.13',
      '--initrd=/boot/initrd.img-7.2.13',
      '--command-line=root=/dev/vda ro quiet',
    ],
    ['kexec', '-e'],
  ])
  assert.deepEqual(kexecLoadArgs({ image: '/k', cmdline: '' }), ['-s', '-l', '/k', '--command-line='])
})

test('a failed kexec load is an error with its stderr; reboot without a staged kernel is refused', async () => {
  const { ex } = fakes({ exit: 1 })
  await assert.rejects(ex.stage(target), /exited 1: kexec_file_load failed/)
  await assert.rejects(ex.reboot(), KexecRefused)
})

test('not root: stage and preserve are refused before anything runs or opens', async () => {
  const { ex, runs, opens } = fakes({ root: false })
  await assert.rejects(
    ex.stage(target),
    (e: Error) => e instanceof KexecRefused && /needs root/.test(e.message),
  )
  await assert.rejects(ex.preserve('hitless-handover', new Uint8Array(4)), /needs root/)
  assert.deepEqual(runs, [])
  assert.deepEqual(opens, [])
})

test('/dev/liveupdate missing and preservation asked: a clear refusal', async () => {
  const { ex, opens } = fakes({ device: false })
  await assert.rejects(ex.preserve('hitless-handover', new Uint8Array(4)), /\/dev\/liveupdate is missing/)
  assert.deepEqual(opens, [])
  // Without preservation, a plain kexec still works.
  await ex.stage(target)
})

test('/dev/liveupdate busy (single opener): a clear refusal naming it', async () => {
  const { ex } = fakes({ busy: true })
  await assert.rejects(ex.preserve('hitless-handover', new Uint8Array(4)), /busy: it has a single opener/)
})

test('/dev/liveupdate is opened once; the session is created once and both fds are held', async () => {
  const { ex, opens, luoCalls } = fakes()
  await ex.preserve('hitless-handover', new Uint8Array(32))
  await ex.preserve('guest-ram', new Uint8Array(8))
  assert.deepEqual(opens, ['/dev/liveupdate'])
  assert.deepEqual(luoCalls, [
    'create 17 hitless',
    'preserve 18 hitless-handover 32',
    'preserve 18 guest-ram 8',
  ])
  assert.deepEqual(ex.fds, { liveupdate: 17, session: 18 })
})
