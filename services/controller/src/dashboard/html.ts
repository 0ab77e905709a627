/**
 * The dashboard's one way to make HTML: a tagged template that escapes every interpolated
 * value unless it is already `SafeHtml` (the result of another `html` template, or `raw`).
 * Arrays are joined, `null`, `undefined` and `false` render nothing, so views can write
 * `${cond && html`...`}` and `${rows.map((r) => html`...`)}`.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[]

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

/** Escapes text for an element's content or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c])
}

function render(v: HtmlValue): string {
  if (v === null || v === undefined || v === false) return ''
  if (v instanceof SafeHtml) return v.value
  if (Array.isArray(v)) return v.map(render).join('')
  return escapeHtml(String(v))
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]
  return new SafeHtml(out)
}

/** Trusted markup, as is (SVG built by the dashboard's own code, never user input). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup)
}
