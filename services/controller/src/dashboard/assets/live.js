// Hitless dashboard: live updates without a framework. A page that lists an events stream in
// <body data-events> listens to it (server-sent events, with the session cookie); on each change
// it re-reads its own URL and swaps the regions marked [data-live] that changed, keeping keyboard
// focus and open <details>. Errors are shown in place; the last figures stay on screen.
;(() => {
  // Forms that ask before acting (abort).
  document.addEventListener('submit', (e) => {
    const msg = e.target instanceof HTMLFormElement && e.target.dataset.confirm
    if (msg && !window.confirm(msg)) e.preventDefault()
  })

  // An action's notice (?done=...) is shown once: a reload or a live refresh does not repeat it.
  const here = new URL(location.href)
  if (here.searchParams.has('done')) {
    here.searchParams.delete('done')
    history.replaceState(null, '', here)
  }

  const src = document.body.dataset.events
  if (!src || !('EventSource' in window)) return
  const status = document.getElementById('live-status')
  const errorBox = document.getElementById('live-error')
  const setStatus = (state, text) => {
    if (!status || status.dataset.state === state) return
    status.dataset.state = state
    status.querySelector('.text').textContent = text
  }
  const showError = (text) => {
    if (!errorBox) return
    errorBox.textContent = text
    errorBox.hidden = false
  }
  const clearError = () => {
    if (errorBox && !errorBox.hidden) {
      errorBox.hidden = true
      errorBox.textContent = ''
    }
  }

  let inFlight = false
  let again = false
  let timer = 0
  let stream

  async function refresh() {
    if (inFlight) {
      again = true
      return
    }
    inFlight = true
    try {
      const res = await fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } })
      if (res.redirected && new URL(res.url).pathname === '/ui/login') {
        setStatus('error', 'Session ended')
        showError(
          'Your session has ended: log in again to see live updates. The figures below are as of the last update.',
        )
        stream?.close()
        return
      }
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html')
      if (!res.ok) {
        const why = doc.querySelector('.error-message')?.textContent ?? `HTTP ${res.status}`
        throw new Error(why)
      }
      for (const el of document.querySelectorAll('[data-live][id]')) {
        const next = doc.getElementById(el.id)
        if (!next || next.innerHTML === el.innerHTML) continue
        const active = document.activeElement
        const focusId = active && el.contains(active) ? active.id : ''
        const open = [...el.querySelectorAll('details[open][id]')].map((d) => d.id)
        el.replaceWith(next)
        for (const id of open) document.getElementById(id)?.setAttribute('open', '')
        if (focusId) document.getElementById(focusId)?.focus()
      }
      clearError()
      document.body.dataset.refreshed = String(Date.now())
    } catch (e) {
      showError(
        `Could not refresh this page: ${e.message}. The figures below may be out of date; retrying on the next change.`,
      )
    } finally {
      inFlight = false
      if (again) {
        again = false
        schedule()
      }
    }
  }

  // Changes come in bursts (one poll of the controller's hub carries many): refresh once per burst.
  function schedule() {
    clearTimeout(timer)
    timer = setTimeout(refresh, 120)
  }

  let opened = false
  function connect() {
    stream = new EventSource(src, { withCredentials: true })
    stream.addEventListener('rollout', schedule)
    stream.addEventListener('update', schedule)
    stream.onopen = () => {
      setStatus('live', 'Live')
      // After a reconnect, catch up on what happened while the stream was down.
      if (opened) schedule()
      opened = true
    }
    stream.onerror = () => {
      if (stream.readyState === EventSource.CLOSED) {
        setStatus('error', 'Live updates stopped')
        showError(
          'Live updates stopped (the controller refused the events stream). Reload the page, or log in again.',
        )
      } else {
        setStatus('connecting', 'Reconnecting…')
      }
    }
  }
  connect()
  window.addEventListener('pagehide', () => stream?.close())
})()
