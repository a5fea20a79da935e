// Node search, opened by a double-click or a right-click on the empty canvas: typing filters the node types,
// the arrows move through them, Enter (or a click) drops the chosen one where the canvas was clicked.
import { useEffect, useMemo, useRef, useState } from 'react'
import { searchNodeTypes } from '../lib/editing.js'

export function NodeSearch({ at, specs, onPick, onClose }) {
  const [query, setQuery] = useState('')
  const [active, setActive] = useState(0)
  const input = useRef(null)
  const matches = useMemo(() => searchNodeTypes(specs, query).slice(0, 12), [specs, query])
  useEffect(() => input.current?.focus(), [])
  useEffect(() => setActive(0), [query])
  const pick = (spec) => spec && onPick(spec.type)
  const onKeyDown = (e) => {
    if (e.key === 'Escape') onClose()
    else if (e.key === 'ArrowDown') setActive((i) => Math.min(i + 1, matches.length - 1))
    else if (e.key === 'ArrowUp') setActive((i) => Math.max(i - 1, 0))
    else if (e.key === 'Enter') pick(matches[active])
    else return
    e.preventDefault()
  }
  return (
    <div className="node-search" style={{ left: at.x, top: at.y }} data-testid="node-search" role="dialog"
      aria-label="Add a node">
      <input ref={input} type="search" value={query} placeholder="Search nodes…" aria-label="Search nodes"
        aria-controls="node-search-list" onChange={(e) => setQuery(e.target.value)} onKeyDown={onKeyDown}
        onBlur={(e) => !e.currentTarget.parentElement.contains(e.relatedTarget) && onClose()} />
      <ul id="node-search-list" role="listbox" aria-label="Node types">
        {matches.map((s, i) => (
          <li key={s.type} role="option" aria-selected={i === active} data-node-type={s.type} tabIndex={-1}
            className={i === active ? 'active' : ''} onMouseEnter={() => setActive(i)}
            onMouseDown={(e) => e.preventDefault()} onClick={() => pick(s)}>
            <span className="search-title">{s.title || s.type}</span> <code>{s.type}</code>
          </li>
        ))}
        {matches.length === 0 && <li className="muted small">No node matches.</li>}
      </ul>
    </div>
  )
}
