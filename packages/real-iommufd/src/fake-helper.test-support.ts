// A scripted stand-in for native/iommufd-helper, for unit tests without a kernel: it reads request
// lines from one stream and answers on another, from a table of handlers.
import { PassThrough } from 'node:stream'

export type FakeAnswer = string | { err: string; what?: string }
export type FakeHandler = (args: string[]) => FakeAnswer

/** Streams wired like a child's stdio: write requests to `stdin`, read answers from `stdout`. */
export function fakeHelper(handlers: Record<string, FakeHandler>) {
  const stdin = new PassThrough()
  const stdout = new PassThrough()
  const seen: string[] = []
  let buf = ''
  stdin.setEncoding('utf8')
  stdin.on('data', (d: string) => {
    buf += d
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const [tag, cmd, ...args] = buf.slice(0, nl).split(' ')
      buf = buf.slice(nl + 1)
      seen.push([cmd, ...args].join(' '))
      const h = handlers[cmd]
      const a: FakeAnswer = h ? h(args) : { err: 'ENOSYS', what: 'unknown command' }
      stdout.write(
        typeof a === 'string'
          ? `${tag} ok${a ? ` ${a}` : ''}\n`
          : `${tag} err ${a.err} ${(a.what ?? cmd).replaceAll(' ', '%20')}\n`,
      )
    }
  })
  return { stdin, stdout, seen }
}
