// Loaded into the benchmark's agent process (`--import`) when BENCH_AGENT_TRACE names a file:
// records every call the agent makes to the controller as the client sees it (request created →
// response headers → body read; node:http or fetch), and the agent's event-loop delay, and writes them there as JSON
// when the process exits. Nothing in the agent changes.
import { subscribe } from 'node:diagnostics_channel'
import { writeFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const out = process.env.BENCH_AGENT_TRACE
if (out) {
  const now = () => performance.timeOrigin + performance.now()
  const open = new WeakMap<object, { path: string; t0: number; headers?: number }>()
  const calls: { path: string; t0: number; headers: number; end: number }[] = []
  // node:http (the agent's client)
  subscribe('http.client.request.start', (m) => {
    const { request } = m as { request: { path: string; method: string } }
    open.set(request, { path: `${request.method} ${request.path}`, t0: now() })
  })
  subscribe('http.client.response.finish', (m) => {
    const { request, response } = m as { request: object; response: NodeJS.EventEmitter }
    const o = open.get(request)
    if (!o) return
    o.headers = now()
    response.once('end', () =>
      calls.push({ path: o.path, t0: o.t0, headers: o.headers ?? now(), end: now() }),
    )
  })
  // fetch (undici)
  subscribe('undici:request:create', (m) => {
    const { request } = m as { request: { path: string; method: string } }
    open.set(request, { path: `${request.method} ${request.path}`, t0: now() })
  })
  subscribe('undici:request:headers', (m) => {
    const o = open.get((m as { request: object }).request)
    if (o) o.headers = now()
  })
  subscribe('undici:request:trailers', (m) => {
    const o = open.get((m as { request: object }).request)
    if (o) calls.push({ path: o.path, t0: o.t0, headers: o.headers ?? now(), end: now() })
  })
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  process.on('exit', () => {
    writeFileSync(
      out,
      JSON.stringify({
        calls,
        loopDelayMs: {
          mean: delay.mean / 1e6,
          p50: delay.percentile(50) / 1e6,
          p99: delay.percentile(99) / 1e6,
          max: delay.max / 1e6,
        },
      }),
    )
  })
}
