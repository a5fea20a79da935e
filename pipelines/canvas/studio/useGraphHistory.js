// Undo/redo over graph snapshots (the API graph as a JSON string). Selection and run state are not history.
// A change becomes one step once the graph has been still for a moment (typing in a field, a drag).
import { useCallback, useEffect, useRef, useState } from 'react'

const LIMIT = 100
const SETTLE_MS = 250

function isTyping(target) {
  return !!target?.closest?.('input, textarea, select, [contenteditable="true"]')
}

/**
 * `graphKey` is the current graph; `apply(snapshot)` puts a snapshot back on the canvas. Ctrl/Cmd+Z undoes,
 * Ctrl/Cmd+Shift+Z or Ctrl+Y redoes (not while typing in a field, where the browser's own undo applies).
 */
export function useGraphHistory({ graphKey, active, paused, apply }) {
  const ref = useRef({ past: [], future: [], present: null })
  const timer = useRef(null)
  const [, setTick] = useState(0)
  const bump = () => setTick((t) => t + 1)

  const reset = useCallback((key) => {
    clearTimeout(timer.current)
    ref.current = { past: [], future: [], present: key }
    bump()
  }, [])

  const record = useCallback((key) => {
    const h = ref.current
    if (h.present === null) {
      h.present = key
      return
    }
    if (key === h.present) return
    h.past.push(h.present)
    if (h.past.length > LIMIT) h.past.shift()
    h.present = key
    h.future = []
    bump()
  }, [])

  useEffect(() => {
    if (!active || paused) return
    clearTimeout(timer.current)
    timer.current = setTimeout(() => record(graphKey), SETTLE_MS)
  }, [graphKey, active, paused, record])

  const step = useCallback(
    (from, to) => {
      if (!active) return
      clearTimeout(timer.current)
      record(graphKey) // a change still settling is a step of its own
      const h = ref.current
      if (!h[from].length) return
      h[to].push(h.present)
      h.present = h[from].pop()
      bump()
      apply(h.present)
    },
    [active, apply, graphKey, record],
  )
  const undo = useCallback(() => step('past', 'future'), [step])
  const redo = useCallback(() => step('future', 'past'), [step])

  useEffect(() => {
    const onKey = (e) => {
      if (isTyping(e.target) || document.querySelector('dialog[open]')) return
      const mod = e.ctrlKey || e.metaKey
      const k = e.key.toLowerCase()
      if (mod && k === 'z' && !e.shiftKey) {
        e.preventDefault()
        undo()
      } else if (mod && (k === 'y' || (k === 'z' && e.shiftKey))) {
        e.preventDefault()
        redo()
      }
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [undo, redo])

  return {
    reset,
    undo,
    redo,
    canUndo: ref.current.past.length > 0,
    canRedo: ref.current.future.length > 0,
  }
}
