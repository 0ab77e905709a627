import { type ErrorCode, HitlessError } from '@hitless/protocol'

/** The CLI's HTTP client: HITLESS_URL and HITLESS_TOKEN (or --url/--token). */
export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token: string | undefined,
  ) {}

  /**
   * Opens the controller's server-sent events (`/api/v1/events?...`) and calls `onEvent` with
   * each event's type; resolves when the stream ends or `signal` aborts.
   */
  async events(query: string, onEvent: (type: string) => void, signal: AbortSignal): Promise<void> {
    const res = await fetch(`${this.url}/api/v1/events${query}`, {
      headers: { authorization: `Bearer ${this.token}`, accept: 'text/event-stream' },
      signal,
    })
    if (!res.ok || !res.body)
      throw new HitlessError('HITLESS_E_UNAVAILABLE', `events stream: HTTP ${res.status}`)
    const decoder = new TextDecoder()
    let buf = ''
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true })
      let i = buf.indexOf('\n\n')
      while (i >= 0) {
        const type = /^event: (.+)$/m.exec(buf.slice(0, i))?.[1]
        if (type) onEvent(type)
        buf = buf.slice(i + 2)
        i = buf.indexOf('\n\n')
      }
    }
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    if (!this.token)
      throw new HitlessError('HITLESS_E_UNAUTHENTICATED', 'no token: set HITLESS_TOKEN or pass --token')
    let res: Response
    try {
      res = await fetch(`${this.url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(30000),
      })
    } catch (e) {
      const c = (e as { cause?: { code?: string; errors?: { code?: string }[] } }).cause
      const cause = c?.code ?? c?.errors?.[0]?.code ?? (e as Error).message
      throw new HitlessError(
        'HITLESS_E_UNAVAILABLE',
        `controller at ${this.url} is unreachable (${cause}); check HITLESS_URL`,
      )
    }
    const text = await res.text()
    let json: unknown
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      throw new HitlessError(
        'HITLESS_E_UNAVAILABLE',
        `${this.url} did not answer like a Hitless controller (HTTP ${res.status})`,
      )
    }
    if (!res.ok) {
      const b = json as { code?: ErrorCode; message?: string } | undefined
      throw new HitlessError(b?.code ?? 'HITLESS_E_INTERNAL', b?.message ?? `HTTP ${res.status}`)
    }
    return json as T
  }
}
