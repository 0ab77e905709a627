// Loads Prisma's schema engine compiled to WebAssembly. The Prisma CLI would download a native
// schema-engine binary at run time, which these machines cannot; the WASM build that
// @prisma/internals pins does the same work through the pg driver adapter.
// Loading mirrors prisma/prisma packages/internals/src/WasmSchemaEngineLoader.ts.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { PrismaPg } from '@prisma/adapter-pg'
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils'
import * as runtime from '@prisma/schema-engine-wasm/schema_engine_bg'

const require = createRequire(import.meta.url)

export interface WasmSchemaEngine {
  applyMigrations(input: unknown): Promise<{ appliedMigrationNames: string[] }>
  diff(input: unknown): Promise<{ exitCode: number; stdout: string | null }>
  free(): Promise<void>
}

// @types/node 20 does not declare the WebAssembly global; this is the little of it used here.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> }
}

let engineClass: typeof runtime.SchemaEngine | undefined

async function loadEngineClass() {
  if (engineClass) return engineClass
  const glue = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')
  const mod = new WebAssembly.Module(await readFile(join(dirname(glue), 'schema_engine_bg.wasm')))
  // The engine arms timers (e.g. a lock timeout) that outlive its work; unref them so that a
  // finished migration does not hold a short-lived process open for ten seconds.
  const imports: Record<string, unknown> = { ...runtime }
  for (const [name, fn] of Object.entries(runtime)) {
    if (name.startsWith('__wbg_setTimeout') && typeof fn === 'function') {
      imports[name] = (...args: unknown[]) => {
        const t = (fn as (...a: unknown[]) => unknown)(...args)
        ;(t as { unref?: () => void } | undefined)?.unref?.()
        return t
      }
    }
  }
  const instance = new WebAssembly.Instance(mod, { './schema_engine_bg.js': imports })
  runtime.__wbg_set_wasm(instance.exports as never)
  ;(instance.exports as { __wbindgen_start: () => void }).__wbindgen_start()
  engineClass = runtime.SchemaEngine
  return engineClass!
}

/** Opens a schema engine over `databaseUrl`; `schema` is the datamodel text. */
export async function openSchemaEngine(
  schemaPath: string,
  schema: string,
  databaseUrl: string,
): Promise<WasmSchemaEngine> {
  const SchemaEngine = await loadEngineClass()
  const adapter = new PrismaPg({ connectionString: databaseUrl })
  // The engine never disposes what it connects; Prisma's own migration advisory lock lives on
  // that connection, so it is closed here when the engine is freed.
  const connections: { dispose(): Promise<void> }[] = []
  const factory = bindMigrationAwareSqlAdapterFactory({
    provider: 'postgres',
    adapterName: adapter.adapterName,
    connect: async () => {
      const c = await adapter.connect()
      connections.push(c)
      return c
    },
    connectToShadowDb: () => {
      throw new Error('a shadow database is not used by Hitless migrations')
    },
  })
  const engine = await SchemaEngine.new({ datamodels: [[schemaPath, schema]] } as never, () => {}, factory)
  return {
    applyMigrations: (input) => engine.applyMigrations(input as never),
    diff: (input) => engine.diff(input as never),
    free: async () => {
      engine.free()
      await Promise.all(connections.map((c) => c.dispose()))
    },
  }
}
