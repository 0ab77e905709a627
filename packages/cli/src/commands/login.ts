import type { CommandContext } from '../command.js'
import { usage } from '../cli-error.js'

/**
 * `hitless login --url URL --token TOKEN`: checks the token against the controller, then prints
 * the `export` lines for the shell (`eval "$(hitless login ...)"`). Nothing is written to disk:
 * the context is HITLESS_URL and HITLESS_TOKEN, as for every other command.
 */
export async function loginCommand(c: CommandContext): Promise<void> {
  const api = c.api()
  if (!c.token) throw usage('login: give --token TOKEN (or set HITLESS_TOKEN)')
  await api.request('GET', '/rollouts?limit=1')
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
  if (c.output === 'json') process.stdout.write(`${JSON.stringify({ url: api.url, ok: true })}\n`)
  else process.stdout.write(`export HITLESS_URL=${q(api.url)}\nexport HITLESS_TOKEN=${q(c.token)}\n`)
}

/** `hitless context`: which controller and token the CLI would use, and whether they work. */
export async function contextCommand(c: CommandContext): Promise<void> {
  const api = c.api()
  const token = c.token
    ? `${c.token.slice(0, 6)}… (${c.token.length} characters)`
    : '(none: set HITLESS_TOKEN)'
  let status = 'not checked (no token)'
  if (c.token) {
    await api.request('GET', '/rollouts?limit=1')
    status = 'ok'
  }
  const ctx = { url: api.url, token, status }
  if (c.output === 'json') process.stdout.write(`${JSON.stringify(ctx)}\n`)
  else process.stdout.write(`url     ${ctx.url}\ntoken   ${ctx.token}\nstatus  ${ctx.status}\n`)
}
