// The node palette: every node type from /api/v1/studio/node-types, grouped by family. Drag one onto the
// canvas, or press its Add button (keyboard users) to drop it in the middle of the view.
import { useMemo, useState } from 'react'
import { groupByFamily } from '../lib/graph.js'

export const DRAG_MIME = 'application/x-canvasflow-node'

const FAMILY_TITLES = {
  io: 'Inputs & outputs',
  image: 'Image',
  image_ai: 'AI image',
  ocr: 'Text recognition (OCR)',
  safety: 'Safety',
  watermark: 'Watermarks',
}

export function Palette({ specs, unavailable, onAdd, disabled }) {
  const [filter, setFilter] = useState('')
  const groups = useMemo(() => {
    const q = filter.trim().toLowerCase()
    const list = (specs || []).filter(
      (s) => !q || s.type.toLowerCase().includes(q) || (s.title || '').toLowerCase().includes(q) ||
        (s.description || '').toLowerCase().includes(q),
    )
    return groupByFamily(list)
  }, [specs, filter])
  return (
    <aside className="palette" aria-label="Node palette">
      <div className="palette-search">
        <label htmlFor="palette-filter" className="sr-only">
          Filter nodes
        </label>
        <input id="palette-filter" type="search" placeholder="Filter nodes…" value={filter}
          onChange={(e) => setFilter(e.target.value)} />
      </div>
      {groups.map((g) => (
        <section key={g.family} className="palette-group" aria-labelledby={`family-${g.family}`}>
          <h3 id={`family-${g.family}`}>{FAMILY_TITLES[g.family] || g.family}</h3>
          <ul>
            {g.items.map((spec) => (
              <li key={spec.type}>
                <div
                  className={`palette-item family-${spec.family}`}
                  draggable={!disabled}
                  data-testid="palette-item"
                  data-node-type={spec.type}
                  title={spec.description}
                  onDragStart={(e) => {
                    e.dataTransfer.setData(DRAG_MIME, spec.type)
                    e.dataTransfer.setData('text/plain', spec.type)
                    e.dataTransfer.effectAllowed = 'copy'
                  }}
                >
                  <div className="palette-text">
                    <span className="palette-title">{spec.title || spec.type}</span>
                    <code className="palette-type">{spec.type}</code>
                    {spec.credit_cost > 0 && (
                      <span className="palette-cost" title="Credits per run">
                        {spec.credit_cost} cr{spec.resource_class === 'gpu' ? ' · GPU' : ''}
                      </span>
                    )}
                  </div>
                  <button type="button" className="icon-button add" disabled={disabled}
                    aria-label={`Add ${spec.title || spec.type}`} onClick={() => onAdd(spec.type)}>
                    +
                  </button>
                </div>
              </li>
            ))}
          </ul>
        </section>
      ))}
      {groups.length === 0 && <p className="muted small">No node matches.</p>}
      {unavailable && Object.keys(unavailable).length > 0 && (
        <p className="muted small" data-testid="unavailable-families">
          Not installed on this server: {Object.keys(unavailable).join(', ')}.
        </p>
      )}
    </aside>
  )
}
