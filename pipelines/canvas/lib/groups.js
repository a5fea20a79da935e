// Groups: titled frames drawn behind the nodes. A group holds whatever lies inside its frame when a drag starts
// (pipeline nodes, notes, smaller groups); dragging the frame moves them with it, and copying it copies them.
// Nothing is parented: membership is read from the boxes, so a node dragged out of the frame leaves the group
// and deleting a frame leaves its nodes where they are. Pure functions: tests/frontend/groups.test.js.
import { GROUP_NODE_TYPE } from './graph.js'

const DEFAULT_SIZE = { width: 200, height: 110 }
export const GROUP_PADDING = 40 // around the nodes a new group frames; the top also holds the title

/** A node's box in flow coordinates (measured size once React Flow has rendered it). */
export function nodeBox(node) {
  const width = node.measured?.width ?? node.width ?? node.style?.width ?? DEFAULT_SIZE.width
  const height = node.measured?.height ?? node.height ?? node.style?.height ?? DEFAULT_SIZE.height
  return { x: node.position.x, y: node.position.y, width, height }
}

function contains(outer, inner) {
  return (
    inner.x >= outer.x &&
    inner.y >= outer.y &&
    inner.x + inner.width <= outer.x + outer.width &&
    inner.y + inner.height <= outer.y + outer.height
  )
}

/** Ids of the nodes (and notes and groups) whose whole box lies inside `frame`'s, in `nodes` order. */
export function nodesInFrame(frame, nodes) {
  const box = nodeBox(frame)
  return nodes.filter((n) => n.id !== frame.id && contains(box, nodeBox(n))).map((n) => n.id)
}

/**
 * What a drag that starts with `dragged` (the nodes React Flow moves itself) has to carry along: for each
 * dragged group, where it started and where each of its members started. A member that React Flow already
 * moves (selected with the group), or that two dragged groups hold, is carried once or not at all.
 * Returns {groupId: {origin: {x, y}, members: {id: {x, y}}}}, or null when no group is dragged.
 */
export function startGroupDrag(dragged, nodes) {
  const moving = new Set(dragged.map((n) => n.id))
  const byId = new Map(nodes.map((n) => [n.id, n]))
  const drag = {}
  for (const d of dragged) {
    const group = byId.get(d.id)
    if (!group || group.type !== GROUP_NODE_TYPE) continue
    const members = {}
    for (const id of nodesInFrame(group, nodes)) {
      if (moving.has(id)) continue
      moving.add(id)
      members[id] = { ...byId.get(id).position }
    }
    drag[group.id] = { origin: { ...group.position }, members }
  }
  return Object.keys(drag).length ? drag : null
}

/**
 * React Flow's node `changes` during a drag, plus the same move for the members of each dragged group: a
 * member goes where it started plus the group's offset from its own start, and shares its `dragging` flag
 * (the history and autosave wait while anything is dragging, so the whole move is one undo step).
 */
export function followGroups(changes, drag) {
  if (!drag) return changes
  const extra = []
  for (const c of changes) {
    const entry = c.type === 'position' ? drag[c.id] : null
    if (!entry) continue
    for (const [id, start] of Object.entries(entry.members)) {
      const change = { type: 'position', id }
      if (c.position) {
        change.position = {
          x: start.x + (c.position.x - entry.origin.x),
          y: start.y + (c.position.y - entry.origin.y),
        }
      }
      if (c.dragging !== undefined) change.dragging = c.dragging
      extra.push(change)
    }
  }
  return extra.length ? [...changes, ...extra] : changes
}

/** `nodes` with the members of every selected group selected too (copy and duplicate take the group whole). */
export function selectGroupMembers(nodes) {
  const extra = new Set()
  for (const g of nodes) {
    if (g.selected && g.type === GROUP_NODE_TYPE) for (const id of nodesInFrame(g, nodes)) extra.add(id)
  }
  if (!extra.size) return nodes
  return nodes.map((n) => (extra.has(n.id) && !n.selected ? { ...n, selected: true } : n))
}

/** A frame around `nodes` with room for the title, or null when there are none. */
export function frameAround(nodes, padding = GROUP_PADDING) {
  if (!nodes.length) return null
  const boxes = nodes.map(nodeBox)
  const left = Math.min(...boxes.map((b) => b.x)) - padding
  const top = Math.min(...boxes.map((b) => b.y)) - padding
  const right = Math.max(...boxes.map((b) => b.x + b.width)) + padding
  const bottom = Math.max(...boxes.map((b) => b.y + b.height)) + padding
  return {
    position: { x: Math.floor(left), y: Math.floor(top) },
    size: { width: Math.ceil(right - Math.floor(left)), height: Math.ceil(bottom - Math.floor(top)) },
  }
}
