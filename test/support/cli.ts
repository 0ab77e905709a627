import { execFile } from 'node:child_process'
import type { TestPlatform } from './platform.js'

export interface CliResult {
  code: number
  out: string
  err: string
}

/**
 * Runs `hitless ARGS` as a child process against a test platform. Asynchronous on purpose: the
 * controller under test runs in the test's own process and must keep answering meanwhile.
 */
export function runCli(
  p: Pick<TestPlatform, 'url' | 'adminToken'>,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['packages/cli/bin/hitless.mjs', ...args],
      {
        env: { ...process.env, HITLESS_URL: p.url, HITLESS_TOKEN: p.adminToken, ...env },
        encoding: 'utf8',
        timeout: 120000,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }),
    )
  })
}
