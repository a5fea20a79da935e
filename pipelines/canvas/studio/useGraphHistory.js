// Undo/redo over graph snapshots (the API graph as a JSON string). Selection and run state are not history.
import { useCallback, useRef, useState } from 'react'

const LIMIT = 100

export function useGraphHistory() {
  const ref = useRef({ past: [], future: [], present: null })
  const [, setTick] = useState(0)
  const bump = () => setTick((t) => t + 1)

  const reset = useCallback((key) => {
    ref.current = { past: [], future: [], present: key }
    bump()
  }, [])

  /** Note the graph as it is now; a change from the last snapshot becomes one undo step. */
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

  const undo = useCallback(() => {
    const h = ref.current
    if (!h.past.length) return null
    h.future.push(h.present)
    h.present = h.past.pop()
    bump()
    return h.present
  }, [])

  const redo = useCallback(() => {
    const h = ref.current
    if (!h.future.length) return null
    h.past.push(h.present)
    h.present = h.future.pop()
    bump()
    return h.present
  }, [])

  return {
    reset,
    record,
    undo,
    redo,
    canUndo: ref.current.past.length > 0,
    canRedo: ref.current.future.length > 0,
  }
}
