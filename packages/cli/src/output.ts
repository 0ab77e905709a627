export type OutputFormat = 'table' | 'json'

/** Prints rows as an aligned table, or the raw value as JSON (`--output json`). */
export function print(format: OutputFormat, value: unknown, rows?: Record<string, unknown>[]): void {
  if (format === 'json' || !rows) {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
    return
  }
  process.stdout.write(table(rows))
}

export function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)\n'
  const cols = Object.keys(rows[0])
  const cell = (v: unknown) =>
    v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v)
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  const line = (vals: string[]) =>
    `${vals
      .map((v, i) => v.padEnd(width[i]))
      .join('  ')
      .trimEnd()}\n`
  return line(cols.map((c) => c.toUpperCase())) + rows.map((r) => line(cols.map((c) => cell(r[c])))).join('')
}
