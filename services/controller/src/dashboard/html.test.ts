import assert from 'node:assert/strict'
import { test } from 'node:test'
import { escapeHtml, html, raw } from './html.js'

test('interpolated text is escaped, in content and in attributes', () => {
  const name = `<script>alert("x")</script>&'`
  assert.equal(
    html`<p title="${name}">${name}</p>`.value,
    '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p>',
  )
})

test('nested templates and raw markup are kept; arrays join; null, undefined and false vanish', () => {
  const items = ['a<b', 'c']
  const out = html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>${null}${undefined}${false}${raw('<hr>')}${0}`
  assert.equal(out.value, '<ul><li>a&lt;b</li><li>c</li></ul><hr>0')
})

test('escapeHtml leaves plain text alone', () => {
  assert.equal(escapeHtml('h001 rack=r1'), 'h001 rack=r1')
})
