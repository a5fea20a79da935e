// A note on the canvas: free text that annotates the graph, behind the nodes (a frame whose nodes move with
// it is a group: GroupNode.jsx). Stored in the draft's graph.notes; it never runs.
import { memo, useContext } from 'react'
import { NodeResizer } from '@xyflow/react'
import { StudioContext } from './context.js'

function NoteNodeView({ id, data, selected }) {
  const ctx = useContext(StudioContext)
  return (
    <div className={`note-node ${selected ? 'selected' : ''}`} data-testid="note-node" data-note-id={id}>
      <NodeResizer isVisible={selected && !ctx.readOnly} minWidth={120} minHeight={60} />
      <textarea
        className="nodrag note-text"
        aria-label={`Note ${id}`}
        placeholder="Note: describe this part of the graph…"
        value={data.text || ''}
        readOnly={ctx.readOnly}
        onChange={(e) => ctx.setNoteText?.(id, e.target.value)}
      />
    </div>
  )
}

export const NoteNode = memo(NoteNodeView)
