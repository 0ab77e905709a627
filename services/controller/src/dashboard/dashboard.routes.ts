import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import {
  HitlessError,
  HOST_STATES,
  type HostState,
  isHitlessError,
  type Labels,
  toHitlessError,
  type VerdictBody,
} from '@hitless/protocol'
import type { ControllerContext } from '../context.js'
import { serveAssets } from './dashboard-assets.js'
import { safeNext, sessionCookies, viewerOf } from './dashboard-session.js'
import { faultReport } from './fault-report.js'
import type { SafeHtml } from './html.js'
import { type PageOptions, page, type Viewer } from './layout.js'
import { queueBoard } from './queue-board.js'
import { faultsView } from './views/faults.view.js'
import { fleetView, hostView } from './views/fleet.view.js'
import { errorView, loginView } from './views/login.view.js'
import { rolloutsView, rolloutView } from './views/rollouts.view.js'
import { PERIODS, statsView } from './views/stats.view.js'
import { updateView } from './views/update.view.js'

export interface DashboardOptions {
  redisUrl: string
  redisPrefix: string
  secureCookies: boolean
  loginPerMinute: number
}

/** Pages render only what the dashboard's own code and assets make: no inline script, nothing remote. */
const HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
}

/** Words for `?done=` after an action (never the query's own text). */
const DONE: Record<string, string> = {
  paused: 'Paused: no new host starts; hosts in flight finish.',
  resumed: 'Resumed.',
  aborted: 'Aborted: hosts not started are cancelled; hosts in flight finish.',
  retried: 'Retry scheduled: the host gets a new attempt.',
  cordoned: 'Cordoned: rollouts will not start this host.',
  uncordoned: 'Uncordoned.',
}

type Built = Omit<PageOptions, 'viewer'> & { body: SafeHtml }
const viewers = new WeakMap<FastifyRequest, Viewer>()
const q = (req: FastifyRequest) => (req.query ?? {}) as Record<string, string | undefined>
const enc = encodeURIComponent

function send(reply: FastifyReply, status: number, body: SafeHtml) {
  return reply.status(status).headers(HEADERS).type('text/html; charset=utf-8').send(body.value)
}

function parseSelector(s: string): Labels {
  const labels: Labels = {}
  for (const kv of s.split(',').filter((x) => x.trim())) {
    const [k, v] = kv.split('=').map((x) => x?.trim())
    if (!k || !v) throw new HitlessError('HITLESS_E_VALIDATION', `labels: "${kv}" is not key=value`)
    labels[k] = v
  }
  return labels
}

/**
 * The operator's dashboard: server-rendered pages under /ui (fleet, rollouts with waves and a
 * per-host step timeline, host updates with the verifier's diff, the hitless rate over time, DMA
 * faults), live through /api/v1/events, the queue view for admins at /admin/queues, and `/` leading
 * to it. docs/dashboard.md describes every page.
 */
export const dashboard =
  (ctx: ControllerContext, opts: DashboardOptions): FastifyPluginAsync =>
  async (app) => {
    app.get('/', { config: { access: 'public' }, schema: { hide: true } }, (_req, reply) =>
      reply.redirect('/ui/', 302),
    )
    await app.register(queueBoard(ctx, opts), { prefix: '/admin/queues' })
    await app.register(pages(ctx, opts), { prefix: '/ui' })
  }

const pages =
  (ctx: ControllerContext, opts: DashboardOptions): FastifyPluginAsync =>
  async (app) => {
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 16384 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    )
    serveAssets(app)

    // ---- page builders (also used to show an action's error in place) ----
    const build = {
      fleet: async (req: FastifyRequest): Promise<Built> => {
        const { state, selector } = q(req)
        let error: string | undefined
        let labels: Labels | undefined
        try {
          labels = selector ? parseSelector(selector) : undefined
          if (state && !HOST_STATES.includes(state as HostState))
            throw new HitlessError('HITLESS_E_VALIDATION', `state must be one of ${HOST_STATES.join(', ')}`)
        } catch (e) {
          error = (e as Error).message
          labels = undefined
        }
        const all = await ctx.hosts.list({})
        const shown = error
          ? all
          : await ctx.hosts.list({
              ...(state ? { state: state as HostState } : {}),
              ...(labels ? { labels } : {}),
            })
        return {
          title: 'Fleet',
          section: 'fleet',
          events: '/api/v1/events',
          error,
          body: fleetView(all, shown, { state, selector }),
        }
      },
      host: async (id: string, v: Viewer): Promise<Built> => {
        const h = await ctx.hosts.detail(id)
        return { title: h.name, section: 'fleet', events: '/api/v1/events', body: hostView(h, v) }
      },
      rollouts: async (): Promise<Built> => ({
        title: 'Rollouts',
        section: 'rollouts',
        events: '/api/v1/events',
        body: rolloutsView(await ctx.rollouts.list({ limit: 50 })),
      }),
      rollout: async (id: string, v: Viewer, now: Date): Promise<Built> => {
        const r = await ctx.rollouts.get(id)
        return {
          title: r.name,
          section: 'rollouts',
          events: `/api/v1/events?rolloutId=${enc(r.id)}`,
          body: rolloutView(r, v, now),
        }
      },
      update: async (id: string, v: Viewer, now: Date): Promise<Built> => {
        const u = await ctx.updates.get(id)
        let verdict: VerdictBody | null = null
        try {
          verdict = await ctx.updates.verdict(id)
        } catch (e) {
          if (!isHitlessError(e) || e.code !== 'HITLESS_E_NOT_FOUND') throw e
        }
        const r = await ctx.db.rollout.findUnique({ where: { id: u.rolloutId }, select: { name: true } })
        return {
          title: `${u.hostName} update`,
          section: 'rollouts',
          events: `/api/v1/events?rolloutId=${enc(u.rolloutId)}`,
          body: updateView(u, verdict, r?.name ?? u.rolloutId, v, now),
        }
      },
      stats: async (req: FastifyRequest, now: Date): Promise<Built> => {
        const period = q(req).period && PERIODS[q(req).period!] ? q(req).period! : '7d'
        const [ms, bucket] = PERIODS[period]
        const s = await ctx.stats.stats(new Date(now.getTime() - ms), bucket)
        return {
          title: 'Success rate',
          section: 'stats',
          events: '/api/v1/events',
          body: statsView(s, period, now),
        }
      },
      faults: async (): Promise<Built> => ({
        title: 'DMA faults',
        section: 'faults',
        events: '/api/v1/events',
        body: faultsView(await faultReport(ctx.db)),
      }),
    }

    const show = (reply: FastifyReply, v: Viewer, b: Built, status = 200, extra: Partial<PageOptions> = {}) =>
      send(reply, status, page({ ...b, viewer: v, ...extra }, b.body))

    /** A page for a logged-in viewer; anyone else goes to the login page and comes back. */
    const view = <P extends Record<string, string>>(
      path: string,
      fn: (req: FastifyRequest<{ Params: P }>, v: Viewer, now: Date) => Promise<Built>,
    ) =>
      app.get<{ Params: P }>(
        path,
        { config: { access: 'public' }, schema: { hide: true } },
        async (req, reply) => {
          const v = await viewerOf(ctx, req)
          if (!v) return reply.redirect(`/ui/login?next=${enc(req.url)}`, 303)
          viewers.set(req, v)
          const b = await fn(req, v, new Date())
          const done = q(req).done
          return show(reply, v, b, 200, done && DONE[done] ? { notice: DONE[done] } : {})
        },
      )

    app.get('/', { config: { access: 'public' }, schema: { hide: true } }, (_req, reply) =>
      reply.redirect('/ui/rollouts', 302),
    )
    view('/fleet', (req) => build.fleet(req))
    view<{ id: string }>('/hosts/:id', (req, v) => build.host(req.params.id, v))
    view('/rollouts', () => build.rollouts())
    view<{ id: string }>('/rollouts/:id', (req, v, now) => build.rollout(req.params.id, v, now))
    view<{ id: string }>('/updates/:id', (req, v, now) => build.update(req.params.id, v, now))
    view('/stats', (req, _v, now) => build.stats(req, now))
    view('/faults', () => build.faults())

    // ---- login and logout ----
    app.get('/login', { config: { access: 'public' }, schema: { hide: true } }, async (req, reply) => {
      const next = safeNext(q(req).next)
      if (await viewerOf(ctx, req)) return reply.redirect(next, 303)
      return send(reply, 200, page({ title: 'Log in', section: 'none' }, loginView(next)))
    })
    app.post(
      '/login',
      {
        config: { access: 'public', rateLimit: { max: opts.loginPerMinute, timeWindow: 60000 } },
        schema: { hide: true },
      },
      async (req, reply) => {
        const body = (req.body ?? {}) as Record<string, string>
        const next = safeNext(body.next)
        const token = (body.token ?? '').trim()
        if (!token) throw new HitlessError('HITLESS_E_VALIDATION', 'paste an API token to log in')
        const s = await ctx.sessions.login(token)
        reply.header(
          'set-cookie',
          sessionCookies(s.secret, s.csrf, Math.floor(ctx.sessions.ttlMs / 1000), opts.secureCookies),
        )
        await ctx.audit.record(s.principal.name, 'session.login', s.principal.tokenId, { via: 'dashboard' })
        return reply.redirect(next, 303)
      },
    )
    app.post('/logout', { config: { access: 'public' }, schema: { hide: true } }, async (req, reply) => {
      const v = await viewerOf(ctx, req)
      const body = (req.body ?? {}) as Record<string, string>
      if (v?.csrf && body._csrf === v.csrf) {
        const secret = (req.headers.cookie ?? '').match(/(?:^|;\s*)hitless_session=([^;]+)/)?.[1]
        if (secret) await ctx.sessions.logout(decodeURIComponent(secret))
        await ctx.audit.record(v.name, 'session.logout', undefined, { via: 'dashboard' })
      }
      reply.header('set-cookie', sessionCookies('', '', 0, opts.secureCookies))
      return reply.redirect('/ui/login', 303)
    })

    // ---- actions: through the API itself (same RBAC, CSRF, audit and loop kick as the CLI) ----
    const action = <P extends Record<string, string>>(
      path: string,
      apiPath: (p: P) => string,
      done: (p: P) => string,
      fallback: (p: P, v: Viewer, now: Date) => Promise<Built>,
      doneWord: (p: P) => string,
    ) =>
      app.post(path, { config: { access: 'public' }, schema: { hide: true } }, async (req, reply) => {
        const params = req.params as P
        const v = await viewerOf(ctx, req)
        if (!v) return reply.redirect(`/ui/login?next=${enc(done(params))}`, 303)
        viewers.set(req, v)
        const csrf = ((req.body ?? {}) as Record<string, string>)._csrf ?? ''
        const res = await app.inject({
          method: 'POST',
          url: `/api/v1${apiPath(params)}`,
          headers: {
            cookie: req.headers.cookie ?? '',
            'x-csrf-token': csrf,
            'content-type': 'application/json',
          },
          payload: '{}',
        })
        if (res.statusCode < 300) return reply.redirect(`${done(params)}?done=${doneWord(params)}`, 303)
        let message = `HTTP ${res.statusCode}`
        try {
          message = (res.json() as { message?: string }).message ?? message
        } catch {}
        // The error in place: the page the operator was on, with what went wrong at the top.
        return show(reply, v, await fallback(params, v, new Date()), res.statusCode, { error: message })
      })

    action<{ id: string; verb: string }>(
      '/rollouts/:id/:verb',
      (p) => {
        if (!['pause', 'resume', 'abort'].includes(p.verb))
          throw new HitlessError('HITLESS_E_NOT_FOUND', `no rollout action ${p.verb}`)
        return `/rollouts/${enc(p.id)}/${p.verb}`
      },
      (p) => `/ui/rollouts/${enc(p.id)}`,
      (p, v, now) => build.rollout(p.id, v, now),
      (p) => ({ pause: 'paused', resume: 'resumed', abort: 'aborted' })[p.verb] ?? '',
    )
    action<{ id: string; host: string }>(
      '/rollouts/:id/hosts/:host/retry',
      (p) => `/rollouts/${enc(p.id)}/hosts/${enc(p.host)}/retry`,
      (p) => `/ui/rollouts/${enc(p.id)}`,
      (p, v, now) => build.rollout(p.id, v, now),
      () => 'retried',
    )
    action<{ id: string; verb: string }>(
      '/hosts/:id/:verb',
      (p) => {
        if (!['cordon', 'uncordon'].includes(p.verb))
          throw new HitlessError('HITLESS_E_NOT_FOUND', `no host action ${p.verb}`)
        return `/hosts/${enc(p.id)}/${p.verb}`
      },
      (p) => `/ui/hosts/${enc(p.id)}`,
      (p, v) => build.host(p.id, v),
      (p) => `${p.verb}ed`,
    )

    // ---- errors: in place, as a page, never blank ----
    app.setNotFoundHandler(async (req, reply) => {
      const v = await viewerOf(ctx, req).catch(() => undefined)
      return send(
        reply,
        404,
        page({ title: 'Not found', section: 'none', viewer: v }, errorView(404, `No page at ${req.url}.`)),
      )
    })
    app.setErrorHandler(async (err, req, reply) => {
      const e =
        (err as { statusCode?: number }).statusCode === 429 && !isHitlessError(err)
          ? new HitlessError('HITLESS_E_RATE_LIMITED', 'too many requests: wait a minute')
          : toHitlessError(err)
      const status = e.httpStatus
      if (status >= 500) req.log.error({ err }, 'dashboard page failed')
      const message =
        status >= 500 && e.code === 'HITLESS_E_INTERNAL'
          ? `The controller could not build this page (request ${req.id}; the error is logged).`
          : e.message
      if (req.url.startsWith('/ui/login')) {
        const next = safeNext(((req.body ?? {}) as Record<string, string>).next)
        return send(reply, status, page({ title: 'Log in', section: 'none' }, loginView(next, message)))
      }
      const v = viewers.get(req) ?? (await viewerOf(ctx, req).catch(() => undefined))
      return send(
        reply,
        status,
        page({ title: 'Error', section: 'none', viewer: v }, errorView(status, message)),
      )
    })
  }
