// Autosave of the draft: the graph is PATCHed a moment after it stops changing (never mid-drag), one
// request at a time, and once more with keepalive if the page goes away with edits unsaved.
import { useCallback, useEffect, useRef, useState } from 'react'
import { studio } from '../lib/api.js'
import { peekAccessToken } from '../lib/auth.js'

const AUTOSAVE_MS = 600

/**
 * `graphKey` is the draft as a JSON string. `active` is false while nothing is loaded or a read-only version
 * is shown; `paused` while a node is being dragged. Returns the save state ('saved' | 'unsaved' | 'saving' |
 * 'error'), `saveNow()` (resolves once the current draft is stored) and `markSaved(key)` for a graph that
 * came from the server.
 */
export function useAutosave({ pipelineId, graphKey, active, paused, onSaved, onError }) {
  const [saveState, setSaveState] = useState('saved')
  const saved = useRef(null)
  const latest = useRef(graphKey)
  latest.current = graphKey
  const inflight = useRef(null)
  const timer = useRef(null)
  const callbacks = useRef({ onSaved, onError })
  callbacks.current = { onSaved, onError }

  const markSaved = useCallback((key) => {
    saved.current = key
    latest.current = key
    setSaveState('saved')
  }, [])

  const saveNow = useCallback(async () => {
    clearTimeout(timer.current)
    while (inflight.current) await inflight.current.catch(() => null)
    const key = latest.current
    if (key === saved.current) {
      setSaveState('saved')
      return
    }
    setSaveState('saving')
    const request = studio.updatePipeline(pipelineId, { graph: JSON.parse(key) })
    inflight.current = request
    try {
      const detail = await request
      saved.current = key
      setSaveState(latest.current === key ? 'saved' : 'unsaved')
      callbacks.current.onSaved?.(detail)
    } catch (err) {
      setSaveState('error')
      callbacks.current.onError?.(err)
      throw err
    } finally {
      inflight.current = null
    }
  }, [pipelineId])

  useEffect(() => {
    if (!active || paused) return
    if (graphKey === saved.current) {
      if (!inflight.current) setSaveState('saved')
      return
    }
    setSaveState('unsaved')
    clearTimeout(timer.current)
    timer.current = setTimeout(() => saveNow().catch(() => null), AUTOSAVE_MS)
  }, [graphKey, active, paused, saveNow])

  useEffect(() => {
    // Last chance for unsaved edits when the page goes away: a keepalive PATCH with the token in hand.
    const onHide = () => {
      if (!active || latest.current === saved.current) return
      const token = peekAccessToken()
      if (!token) return
      fetch(`/api/v1/studio/pipelines/${encodeURIComponent(pipelineId)}`, {
        method: 'PATCH',
        keepalive: true,
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ graph: JSON.parse(latest.current) }),
      }).catch(() => null)
    }
    window.addEventListener('pagehide', onHide)
    return () => window.removeEventListener('pagehide', onHide)
  }, [active, pipelineId])

  return { saveState, saveNow, markSaved }
}
