import { type ErrorCode, HitlessError } from '@hitless/protocol'

/** The CLI's HTTP client: HITLESS_URL and HITLESS_TOKEN (or --url/--token). */
export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token: string | undefined,
  ) {}

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
