// Follows one run: its detail once, then the WebSocket's events (reconnecting with ?after= so nothing is
// missed), and polling as a last resort when no socket can be held.
import { useCallback, useEffect, useRef, useState } from 'react'
import { studio } from '../lib/api.js'
import { getAccessToken } from '../lib/auth.js'
import { refreshMe } from '../lib/me.js'
import { TERMINAL_RUN, applyEvent, applyRunDetail, emptyRun, runSocketUrl } from '../lib/runs.js'

const MAX_SOCKET_TRIES = 4

export function useRunTracker() {
  const [run, setRun] = useState(emptyRun)
  const ref = useRef({ id: null, socket: null, tries: 0, poll: null, state: emptyRun() })

  const update = useCallback((fn) => {
    setRun((prev) => {
      const next = fn(prev)
      ref.current.state = next
      return next
    })
  }, [])

  const stop = useCallback(() => {
    const r = ref.current
    r.id = null
    if (r.socket) {
      r.socket.onclose = null
      r.socket.close()
      r.socket = null
    }
    if (r.poll) clearInterval(r.poll)
    r.poll = null
  }, [])

  const finish = useCallback(
    async (id) => {
      try {
        const detail = await studio.run(id)
        if (ref.current.id === id) update((s) => applyRunDetail(s, detail))
      } catch {
        /* the events already told the outcome */
      }
      if (ref.current.id === id) stop()
      refreshMe()
    },
    [stop, update],
  )

  const startPolling = useCallback(
    (id) => {
      const r = ref.current
      if (r.poll) return
      r.poll = setInterval(async () => {
        if (r.id !== id) return
        try {
          const detail = await studio.run(id)
          update((s) => applyRunDetail(s, detail))
          if (TERMINAL_RUN.has(detail.status)) finish(id)
        } catch {
          /* keep trying */
        }
      }, 1000)
    },
    [finish, update],
  )

  const connect = useCallback(
    async (id) => {
      const r = ref.current
      if (r.id !== id) return
      const token = await getAccessToken()
      if (r.id !== id) return
      let socket
      try {
        socket = new WebSocket(runSocketUrl(window.location, id, token, r.state.lastEventId))
      } catch {
        return startPolling(id)
      }
      r.socket = socket
      socket.onopen = () => {
        r.tries = 0
      }
      socket.onmessage = (msg) => {
        let event
        try {
          event = JSON.parse(msg.data)
        } catch {
          return
        }
        update((s) => applyEvent(s, event))
        const status = typeof event.type === 'string' && event.type.startsWith('run.') ? event.type.slice(4) : null
        if (status && TERMINAL_RUN.has(status)) finish(id)
      }
      socket.onclose = () => {
        if (r.id !== id || TERMINAL_RUN.has(r.state.status)) return
        r.socket = null
        r.tries += 1
        if (r.tries > MAX_SOCKET_TRIES) return startPolling(id)
        setTimeout(() => connect(id), 300 * r.tries)
      }
    },
    [finish, startPolling, update],
  )

  /** Start following the run whose detail the API just returned. */
  const track = useCallback(
    (detail) => {
      stop()
      const r = ref.current
      r.id = detail.id
      r.tries = 0
      const initial = applyRunDetail(emptyRun(), detail)
      r.state = initial
      setRun(initial)
      if (TERMINAL_RUN.has(detail.status)) return finish(detail.id)
      connect(detail.id)
    },
    [connect, finish, stop],
  )

  const cancel = useCallback(async () => {
    const id = ref.current.id || ref.current.state.id
    if (!id) return
    await studio.cancelRun(id)
    const detail = await studio.run(id)
    update((s) => applyRunDetail(s, detail))
    if (TERMINAL_RUN.has(detail.status)) finish(id)
  }, [finish, update])

  /** Resume a failed or cancelled run: the same run goes back to the queue, its finished nodes reused. */
  const resume = useCallback(async () => {
    const id = ref.current.state.id
    if (!id) return
    const detail = await studio.resumeRun(id)
    refreshMe()
    track(detail)
  }, [track])

  const clear = useCallback(() => {
    stop()
    const empty = emptyRun()
    ref.current.state = empty
    setRun(empty)
  }, [stop])

  useEffect(() => stop, [stop])

  return { run, track, cancel, resume, clear }
}
