import http from 'node:http'
import https from 'node:https'
import {
  type EnrolBody,
  type EnrolResponse,
  type ErrorCode,
  type FinishBody,
  type FinishFields,
  HitlessError,
  type StepClaimBody,
  type StepClaimResponse,
  type StepReportBody,
  type StepReportResponse,
  type UpdateStep,
} from '@hitless/protocol'

/**
 * The agent's only way to make anything true: the controller's agent API over HTTP, on kept-alive
 * connections (node:http: an emulated fleet makes thousands of these calls a minute, and fetch
 * costs about four times the CPU of a plain request).
 */
export class ControllerClient {
  private readonly url: URL
  private readonly transport: typeof http | typeof https
  private readonly agent: http.Agent

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 15000,
  ) {
    this.url = new URL(baseUrl)
    this.transport = this.url.protocol === 'https:' ? https : http
    this.agent = new this.transport.Agent({ keepAlive: true })
  }

  private unreachable(message: string): HitlessError {
    return new HitlessError('HITLESS_E_UNAVAILABLE', `controller at ${this.baseUrl} unreachable: ${message}`)
  }

  private async call<T>(
    method: string,
    path: string,
    token: string,
    body?: unknown,
    raw?: { data: Uint8Array; format: string },
  ): Promise<T> {
    const payload = raw ? raw.data : body !== undefined ? Buffer.from(JSON.stringify(body)) : undefined
    const headers: http.OutgoingHttpHeaders = {
      authorization: `Bearer ${token}`,
      ...(raw
        ? { 'content-type': 'application/octet-stream', 'x-snapshot-format': raw.format }
        : body !== undefined
          ? { 'content-type': 'application/json' }
          : {}),
      ...(payload ? { 'content-length': payload.byteLength } : {}),
    }
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = this.transport.request(
        new URL(`${this.url.pathname.replace(/\/$/, '')}/api/v1${path}`, this.url),
        { method, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            clearTimeout(timer)
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') })
          })
          res.on('error', (e) => {
            clearTimeout(timer)
            reject(this.unreachable(e.message))
          })
        },
      )
      // The whole call, answer included, within the timeout (as an aborted fetch).
      const timer = setTimeout(
        () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      )
      req.on('error', (e) => {
        clearTimeout(timer)
        reject(this.unreachable(e.message))
      })
      req.end(payload)
    })
    if (status === 204) return undefined as T
    const json = text ? (JSON.parse(text) as unknown) : undefined
    if (status < 200 || status > 299) {
      const b = json as { code?: ErrorCode; message?: string } | undefined
      throw new HitlessError(b?.code ?? 'HITLESS_E_INTERNAL', b?.message ?? `HTTP ${status}`, { status })
    }
    return json as T
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy()
  }

  enrol(adminToken: string, body: EnrolBody): Promise<EnrolResponse> {
    return this.call('POST', '/agent/enrol', adminToken, body)
  }

  heartbeat(token: string, hostId: string, bootId: string, kernel: string): Promise<void> {
    return this.call('POST', `/agent/hosts/${hostId}/heartbeat`, token, { bootId, kernel })
  }

  claim(token: string, updateId: string, body: StepClaimBody): Promise<StepClaimResponse> {
    return this.call('POST', `/agent/updates/${updateId}/claim`, token, body)
  }

  report(token: string, updateId: string, body: StepReportBody): Promise<void> {
    return this.call('POST', `/agent/updates/${updateId}/steps`, token, body)
  }

  /**
   * Journals a step done and claims `body.next` in one call. A refused claim (the report is
   * journaled) comes back as the HitlessError `claim` would have thrown, in `refused`.
   */
  async reportAndClaim(
    token: string,
    updateId: string,
    body: StepReportBody & { next: UpdateStep },
  ): Promise<{ claim: StepClaimResponse } | { refused: HitlessError }> {
    const res = await this.call<StepReportResponse>('POST', `/agent/updates/${updateId}/steps`, token, body)
    if (res?.next) return { claim: res.next }
    const r = res?.refused
    return {
      refused: new HitlessError(
        (r?.code as ErrorCode | undefined) ?? 'HITLESS_E_INTERNAL',
        r?.message ?? 'the controller answered neither a claim nor a refusal',
        r?.details,
      ),
    }
  }

  /** Journals a step and ends the attempt (`body.finish`) in one call. */
  async reportAndFinish(
    token: string,
    updateId: string,
    body: StepReportBody & { finish: FinishFields },
  ): Promise<{ verifying: boolean }> {
    const res = await this.call<StepReportResponse>('POST', `/agent/updates/${updateId}/steps`, token, body)
    return { verifying: res?.verifying ?? false }
  }

  finish(token: string, updateId: string, body: FinishBody): Promise<{ verifying: boolean }> {
    return this.call('POST', `/agent/updates/${updateId}/finish`, token, body)
  }

  uploadSnapshot(
    token: string,
    updateId: string,
    phase: 'pre' | 'post',
    data: Uint8Array,
    format: string,
  ): Promise<unknown> {
    return this.call('PUT', `/agent/updates/${updateId}/snapshots/${phase}`, token, undefined, {
      data,
      format,
    })
  }
}
