// A group on the canvas: a titled frame behind the nodes. Dragging it moves what lies inside it (see
// lib/groups.js); deleting it removes the frame only. Stored in the draft's graph.groups; it never runs.
import { memo, useContext } from 'react'
import { NodeResizer } from '@xyflow/react'
import { StudioContext } from './context.js'

function GroupNodeView({ id, data, selected }) {
  const ctx = useContext(StudioContext)
  return (
    <div className={`group-node ${selected ? 'selected' : ''}`} data-testid="group-node" data-group-id={id}>
      <NodeResizer isVisible={selected && !ctx.readOnly} minWidth={160} minHeight={100} />
      <div className="group-header">
        <input
          className="nodrag group-title"
          aria-label={`Group ${id} title`}
          placeholder="Group title"
          maxLength={200}
          value={data.title || ''}
          readOnly={ctx.readOnly}
          onChange={(e) => ctx.setGroupTitle?.(id, e.target.value)}
        />
      </div>
    </div>
  )
}

export const GroupNode = memo(GroupNodeView)
