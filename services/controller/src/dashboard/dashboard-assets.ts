import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'

const TYPES: Record<string, string> = {
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
}

/**
 * The dashboard's own stylesheet, script and icon, read once from ./assets and served from
 * memory with an ETag: nothing is fetched from the internet at run time.
 */
export function serveAssets(app: FastifyInstance): void {
  const files = new Map<string, { body: Buffer; type: string; etag: string }>()
  for (const name of ['dashboard.css', 'live.js', 'favicon.svg']) {
    const body = readFileSync(new URL(`./assets/${name}`, import.meta.url))
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`
    files.set(name, { body, type: TYPES[name.split('.').pop()!], etag })
  }
  app.get<{ Params: { file: string } }>(
    '/assets/:file',
    { config: { access: 'public' }, schema: { hide: true } },
    async (req, reply) => {
      const f = files.get(req.params.file)
      if (!f) return reply.status(404).type('text/plain').send('no such asset')
      reply.header('etag', f.etag).header('cache-control', 'no-cache')
      if (req.headers['if-none-match'] === f.etag) return reply.status(304).send()
      return reply.type(f.type).send(f.body)
    },
  )
}
