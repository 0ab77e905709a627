import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  checkKernelArtifact,
  imageDigestProblem,
  type KernelFiles,
  kexecTargetOf,
  resolveBootPath,
} from './kernel-artifact.js'
import { kernelFilesHashed, localKernelFiles } from './kernel-files.js'

const A = 'ab'.repeat(32)
const C = 'cd'.repeat(32)

test('the digest check: equal passes; a mismatch names the path and both digests; a missing file says so', () => {
  assert.equal(imageDigestProblem('/boot/vmlinuz-7', { found: true, sha256: A, size: 1 }, A), undefined)
  assert.equal(
    imageDigestProblem('/boot/vmlinuz-7', { found: true, sha256: A, size: 1 }, A.toUpperCase()),
    undefined,
  )
  assert.equal(
    imageDigestProblem('/boot/vmlinuz-7', { found: true, sha256: A, size: 1 }, C),
    `kernel image /boot/vmlinuz-7: sha256 ${A} does not match the artifact's ${C}`,
  )
  assert.equal(
    imageDigestProblem('/boot/vmlinuz-7', { found: false, why: 'no such file on this host' }, C),
    'kernel image /boot/vmlinuz-7: no such file on this host',
  )
})

test('boot paths: as given on a real host, under the root on an emulated one, never out of it', () => {
  assert.equal(resolveBootPath(undefined, '/boot/vmlinuz-7'), '/boot/vmlinuz-7')
  assert.equal(resolveBootPath('/tmp/r', '/boot/vmlinuz-7'), '/tmp/r/boot/vmlinuz-7')
  assert.equal(resolveBootPath('/tmp/r', '/boot/../boot/vmlinuz-7'), '/tmp/r/boot/vmlinuz-7')
  assert.throws(() => resolveBootPath('/tmp/r', '/boot/../../etc/passwd'), /leaves the boot root \/tmp\/r/)
  assert.throws(() => resolveBootPath('/tmp/r', '/..'), /leaves the boot root/)
  assert.throws(() => resolveBootPath('/tmp/r', 'boot/vmlinuz-7'), /not an absolute path/)
  assert.throws(() => resolveBootPath(undefined, 'vmlinuz-7'), /not an absolute path/)
})

test('the kexec target is exactly the artifact: image, initrd, command line', () => {
  assert.deepEqual(kexecTargetOf({ image: '/boot/v', initrd: '/boot/i', cmdline: 'quiet', sha256: A }), {
    image: '/boot/v',
    initrd: '/boot/i',
    cmdline: 'quiet',
  })
  assert.deepEqual(kexecTargetOf({ image: '/boot/v', sha256: A }), { image: '/boot/v', cmdline: '' })
})

test('the artifact check through a fake port: image digest, then the initrd', async () => {
  const files = (have: Record<string, string>): KernelFiles => ({
    digest: async (p) =>
      p in have ? { found: true, sha256: have[p], size: 3 } : { found: false, why: 'gone' },
    missing: async (p) => (p in have ? undefined : 'gone'),
  })
  const art = { image: '/boot/v', initrd: '/boot/i', cmdline: 'ro', sha256: A }
  const ok = await checkKernelArtifact(files({ '/boot/v': A, '/boot/i': C }), art)
  assert.deepEqual(ok.target, { image: '/boot/v', initrd: '/boot/i', cmdline: 'ro' })
  assert.equal(ok.detail.imageSha256, A)
  await assert.rejects(checkKernelArtifact(files({ '/boot/v': C, '/boot/i': C }), art), {
    message: `kernel image /boot/v: sha256 ${C} does not match the artifact's ${A}`,
  })
  await assert.rejects(checkKernelArtifact(files({ '/boot/i': C }), art), {
    message: 'kernel image /boot/v: gone',
  })
  await assert.rejects(checkKernelArtifact(files({ '/boot/v': A }), art), { message: 'initrd /boot/i: gone' })
})

test('local boot files: real SHA-256 under the root, hashed once per file identity, missing and escaping refused', async () => {
  const root = await mkdtemp(join(tmpdir(), 'hitless-boot-'))
  try {
    await mkdir(join(root, 'boot'))
    const bytes = Buffer.from('a kernel image\n'.repeat(1000))
    await writeFile(join(root, 'boot/vmlinuz-7'), bytes)
    const sha = createHash('sha256').update(bytes).digest('hex')
    const files = localKernelFiles(root)
    const before = kernelFilesHashed()
    const all = await Promise.all(Array.from({ length: 50 }, () => files.digest('/boot/vmlinuz-7')))
    for (const d of all) assert.deepEqual(d, { found: true, sha256: sha, size: bytes.length })
    assert.equal(kernelFilesHashed() - before, 1, 'one hash for 50 hosts')
    // Rewritten in place: another size and mtime, hashed again.
    const other = Buffer.from('another kernel image\n')
    await writeFile(join(root, 'boot/vmlinuz-7'), other)
    await utimes(join(root, 'boot/vmlinuz-7'), new Date(), new Date(Date.now() + 5000))
    const d2 = await files.digest('/boot/vmlinuz-7')
    assert.deepEqual(d2, {
      found: true,
      sha256: createHash('sha256').update(other).digest('hex'),
      size: other.length,
    })
    assert.equal(kernelFilesHashed() - before, 2)
    assert.deepEqual(await files.digest('/boot/vmlinuz-8'), {
      found: false,
      why: `no such file on this host (looked at ${join(root, 'boot/vmlinuz-8')})`,
    })
    assert.deepEqual(await files.digest('/boot'), {
      found: false,
      why: `no such file on this host (looked at ${join(root, 'boot')})`,
    })
    assert.equal((await files.digest('/../etc/passwd')).found, false)
    assert.match(String(await files.missing('/../etc/passwd')), /leaves the boot root/)
    assert.equal(await files.missing('/boot/vmlinuz-7'), undefined)
  } finally {
    await rm(root, { recursive: true, force: true })
  }
})

test('another image of the same size renamed over it with the same mtime (cp -p, rsync -t) is hashed again', async () => {
  const root = await mkdtemp(join(tmpdir(), 'hitless-boot-'))
  try {
    await mkdir(join(root, 'boot'))
    const image = join(root, 'boot/vmlinuz-9')
    const when = new Date('2026-11-01T00:00:00Z')
    const a = Buffer.alloc(4096, 1)
    const b = Buffer.alloc(4096, 2)
    await writeFile(image, a)
    await utimes(image, when, when)
    const files = localKernelFiles(root)
    const first = await files.digest('/boot/vmlinuz-9')
    assert.deepEqual(first, { found: true, sha256: createHash('sha256').update(a).digest('hex'), size: 4096 })
    await writeFile(join(root, 'boot/staged'), b)
    await utimes(join(root, 'boot/staged'), when, when)
    await rename(join(root, 'boot/staged'), image)
    assert.deepEqual(await files.digest('/boot/vmlinuz-9'), {
      found: true,
      sha256: createHash('sha256').update(b).digest('hex'),
      size: 4096,
    })
  } finally {
    await rm(root, { recursive: true, force: true })
  }
})

test('a symbolic link under the boot root that points out of it is refused', async () => {
  const root = await mkdtemp(join(tmpdir(), 'hitless-boot-'))
  const outside = await mkdtemp(join(tmpdir(), 'hitless-outside-'))
  try {
    await mkdir(join(root, 'boot'))
    await writeFile(join(outside, 'vmlinuz-evil'), 'not yours')
    await symlink(join(outside, 'vmlinuz-evil'), join(root, 'boot/vmlinuz-10'))
    await writeFile(join(root, 'boot/real'), 'a kernel')
    await symlink('real', join(root, 'boot/vmlinuz-11')) // a link within the root is fine
    const files = localKernelFiles(root)
    const d = await files.digest('/boot/vmlinuz-10')
    assert.equal(d.found, false)
    assert.match(d.found ? '' : d.why, /leaves the boot root .* \(a link to .*vmlinuz-evil\)/)
    assert.match(String(await files.missing('/boot/vmlinuz-10')), /leaves the boot root/)
    assert.equal((await files.digest('/boot/vmlinuz-11')).found, true)
    assert.equal(await files.missing('/boot/vmlinuz-11'), undefined)
  } finally {
    await rm(root, { recursive: true, force: true })
    await rm(outside, { recursive: true, force: true })
  }
})
