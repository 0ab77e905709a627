import { html, type SafeHtml } from '../html.js'

/** Log in with an API token: it becomes an HttpOnly session cookie; the token is not kept in the browser. */
export function loginView(next: string, error?: string): SafeHtml {
  return html`<div class="login card">
  <h1>Log in to Hitless</h1>
  <p class="muted">Paste an API token (<code>.hitless/admin-token</code> after <code>npm start</code>, or one from <code>POST /api/v1/tokens</code>). The browser keeps only a session cookie, valid 12 hours.</p>
  ${error && html`<div class="alert alert-error" role="alert" id="login-error"><span class="error-message">${error}</span></div>`}
  <form method="post" action="/ui/login">
    <input type="hidden" name="next" value="${next}">
    <label for="token">API token</label>
    <input id="token" name="token" type="password" autocomplete="off" required spellcheck="false"
      ${error ? html`aria-describedby="login-error" aria-invalid="true"` : ''} autofocus>
    <button type="submit" class="primary">Log in</button>
  </form>
</div>`
}

/** An error in place of the page's content: what happened and what to do. */
export function errorView(status: number, message: string): SafeHtml {
  const title =
    status === 404
      ? 'Not found'
      : status === 403
        ? 'Not allowed'
        : status === 429
          ? 'Too many requests'
          : status >= 500
            ? 'Something went wrong'
            : 'That did not work'
  return html`<h1>${title}</h1>
<div class="alert alert-error" role="alert"><span class="error-message">${message}</span></div>
<p><a href="/ui/rollouts">Back to the rollouts</a> · <a href="/ui/fleet">Fleet</a></p>`
}
