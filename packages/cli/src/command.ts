import type { ApiClient } from './api-client.js'
import type { OutputFormat } from './output.js'

export interface CommandContext {
  args: string[]
  options: Record<string, string | string[] | boolean | undefined>
  output: OutputFormat
  api: () => ApiClient
  /** The token in effect (--token or HITLESS_TOKEN), for `login` and `context`. */
  token?: string
}
