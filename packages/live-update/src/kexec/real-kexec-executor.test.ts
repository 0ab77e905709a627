import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isHitlessError } from '@hitless/protocol'
import { kexecLoadArgs, kexecToolsLoader } from './kexec-tools.js'
import { type LuoPort, luoToken, RealKexecExecutor, retrievePreserved } from './real-kexec-executor.js'

/** A LUO that keeps what it is given, like the kernel's: one opener, sessions by name, files by token. */
function fakeLuo(o: { busy?: boolean } = {}) {
  const calls: string[] = []
  const sessions = new Map<string, Map<number, Uint8Array>>()
  const byFd = new Map<number, Map<number, Uint8Array>>()
  let nextFd = 17
  let opened = false
  const luo: LuoPort = {
    async open() {
      calls.push('open')
      if (o.busy || opened)
        throw Object.assign(new Error('open /dev/liveupdate failed with EBUSY'), { errno: 'EBUSY' })
      opened = true
      return nextFd++
    },
    async createSession(name) {
      calls.push(`create ${name}`)
      const files = new Map<number, Uint8Array>()
      sessions.set(name, files)
      byFd.set(nextFd, files)
      return nextFd++
    },
    async preserve(sfd, token, bytes) {
      calls.push(`preserve ${sfd} ${token} ${bytes.length}`)
      byFd.get(sfd)!.set(token, Uint8Array.from(bytes))
    },
    async retrieveSession(name) {
      const files = sessions.get(name)
      if (!files) throw new Error('LIVEUPDATE_IOCTL_RETRIEVE_SESSION failed with ENOENT')
      byFd.set(nextFd, files)
      return nextFd++
    },
    async retrieve(sfd, token) {
      const b = byFd.get(sfd)?.get(token)
      if (!b) throw new Error('LIVEUPDATE_SESSION_RETRIEVE_FD failed with ENOENT')
      return b
    },
    async finish() {},
  }
  return { luo, calls }
}

function fakes(o: { root?: boolean; device?: boolean; busy?: boolean; exit?: number } = {}) {
  const runs: string[][] = []
  const { luo, calls: luoCalls } = fakeLuo(o)
  const ex = new RealKexecExecutor({
    host: {
      isRoot: async () => o.root !== false,
      hasDevice: async (p) => p === '/dev/liveupdate' && o.device !== false,
    },
    loader: kexecToolsLoader(async (file, args) => {
      runs.push([file, ...args])
      return { code: o.exit ?? 0, stderr: o.exit ? 'kexec_file_load failed: Operation not permitted' : '' }
    }),
    luo,
  })
  return { ex, runs, luoCalls, luo }
}

const target = {
  image: '/boot/vmlinuz-7.2.13',
  initrd: '/boot/initrd.img-7.2.13',
  cmdline: 'root=/dev/vda ro quiet',
}

const refusedWith = (check: string, re: RegExp) => (e: unknown) =>
  isHitlessError(e) && e.details?.check === check && re.test(e.message)

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
  const { ex, runs } = fakes({ exit: 1 })
  await assert.rejects(ex.stage(target), /exited 1: kexec_file_load failed/)
  await assert.rejects(ex.reboot(), refusedWith('not-staged', /no kernel staged/))
  assert.equal(runs.length, 1, 'no kexec -e after a failed load')
})

test('not root: stage and preserve are refused before anything runs or opens', async () => {
  const { ex, runs, luoCalls } = fakes({ root: false })
  await assert.rejects(ex.stage(target), refusedWith('root', /needs root/))
  await assert.rejects(ex.preserve('hitless-handover', new Uint8Array(4)), refusedWith('root', /needs root/))
  assert.deepEqual(runs, [])
  assert.deepEqual(luoCalls, [])
})

test('/dev/liveupdate missing and preservation asked: a clear refusal; a plain kexec still works', async () => {
  const { ex, luoCalls } = fakes({ device: false })
  await assert.rejects(
    ex.preserve('hitless-handover', new Uint8Array(4)),
    refusedWith('luo-device', /\/dev\/liveupdate is missing/),
  )
  assert.deepEqual(luoCalls, [])
  await ex.stage(target)
})

test('/dev/liveupdate busy (single opener): a conflict naming it', async () => {
  const { ex } = fakes({ busy: true })
  await assert.rejects(ex.preserve('hitless-handover', new Uint8Array(4)), (e) => {
    assert.ok(isHitlessError(e))
    assert.equal(e.code, 'HITLESS_E_CONFLICT')
    assert.match(e.message, /busy: it has a single opener/)
    return true
  })
})

test('/dev/liveupdate is opened once by the LUO port; the session is created once and both fds are held', async () => {
  const { ex, luoCalls } = fakes()
  await ex.preserve('hitless-handover', new Uint8Array(32))
  await ex.preserve('guest-ram', new Uint8Array(8))
  assert.deepEqual(luoCalls, [
    'open',
    'create hitless',
    `preserve 18 ${luoToken('hitless-handover')} 32`,
    `preserve 18 ${luoToken('guest-ram')} 8`,
  ])
  assert.deepEqual(ex.fds, { liveupdate: 17, session: 18 })
})

test('preserves made at once share the one open and the one session (a second open would be EBUSY)', async () => {
  const { ex, luoCalls } = fakes()
  await Promise.all([
    ex.preserve('hitless-handover', new Uint8Array(32)),
    ex.preserve('guest-ram', new Uint8Array(8)),
  ])
  assert.deepEqual(luoCalls.slice(0, 2), ['open', 'create hitless'])
  assert.deepEqual(
    luoCalls.slice(2).sort(),
    [`preserve 18 ${luoToken('guest-ram')} 8`, `preserve 18 ${luoToken('hitless-handover')} 32`].sort(),
  )
  assert.deepEqual(ex.fds, { liveupdate: 17, session: 18 })
})

test('the new kernel finds preserved bytes by the same name; a missing session or name is refused', async () => {
  const { ex, luo } = fakes()
  const blob = Uint8Array.from({ length: 100 }, (_, i) => (i * 7) & 0xff)
  await ex.preserve('hitless-handover', blob)
  const got = await retrievePreserved(luo, 'hitless')
  assert.deepEqual(await got.get('hitless-handover'), blob)
  await assert.rejects(retrievePreserved(luo, 'other'), refusedWith('luo-session', /ENOENT/))
  await assert.rejects(got.get('guest-ram'), refusedWith('luo-file', /no guest-ram/))
  assert.notEqual(luoToken('a'), luoToken('b'))
})
