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

/** The agent's only way to make anything true: the controller's agent API over HTTP. */
export class ControllerClient {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 15000,
  ) {}

  private async call<T>(
    method: string,
    path: string,
    token: string,
    body?: unknown,
    raw?: { data: Uint8Array; format: string },
  ): Promise<T> {
    let res: Response
    try {
      res = await fetch(`${this.baseUrl}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(raw
            ? { 'content-type': 'application/octet-stream', 'x-snapshot-format': raw.format }
            : body !== undefined
              ? { 'content-type': 'application/json' }
              : {}),
        },
        body: raw ? raw.data : body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.timeoutMs),
      })
    } catch (e) {
      throw new HitlessError(
        'HITLESS_E_UNAVAILABLE',
        `controller at ${this.baseUrl} unreachable: ${(e as Error).message}`,
      )
    }
    if (res.status === 204) return undefined as T
    const text = await res.text()
    const json = text ? (JSON.parse(text) as unknown) : undefined
    if (!res.ok) {
      const b = json as { code?: ErrorCode; message?: string } | undefined
      throw new HitlessError(b?.code ?? 'HITLESS_E_INTERNAL', b?.message ?? `HTTP ${res.status}`, {
        status: res.status,
      })
    }
    return json as T
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
