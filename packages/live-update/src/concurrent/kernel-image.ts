import { fileURLToPath } from 'node:url'

/**
 * The kernel worker's code as one ES module (a data: URL), built once per process before any
 * update starts — the kernel image `kexec -l` stages ahead of the kexec itself.
 *
 * Why a bundle and not the tsx bootstrap the DMA worker uses (emulator's concurrent-dma.ts): a
 * worker that imports the kernel's TypeScript through tsx's loader hooks loads ~900 modules one
 * cross-thread hook call at a time (typebox alone is 709 files), measured at 3-5 s on 2 shared
 * cores; that load is the new kernel's boot, inside the blackout. From this bundle a worker boots
 * in ~120-170 ms. The bundler is esbuild — the same one tsx compiles every .ts file of the project
 * with (tsx depends on it), so it is always installed where the project runs.
 */
export const kernelImage: () => Promise<URL> = keptOnSuccess(build)

/**
 * `make` run once and its result kept — unless it fails: a failed build is not kept, so the next
 * update builds again instead of failing for the life of the agent process (a file being
 * replaced on disk during a deploy, say). Callers waiting on a build share it.
 */
export function keptOnSuccess<T>(make: () => Promise<T>): () => Promise<T> {
  let kept: Promise<T> | undefined
  return () => {
    if (!kept) {
      const p = make()
      kept = p
      p.catch(() => {
        if (kept === p) kept = undefined
      })
    }
    return kept
  }
}

async function build(): Promise<URL> {
  const esbuild = await import('esbuild')
  const r = await esbuild.build({
    entryPoints: [fileURLToPath(new URL('./kernel-worker.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    logLevel: 'silent',
  })
  const code = r.outputFiles[0].contents
  return new URL(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)
}
