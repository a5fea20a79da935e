// Pure helpers of the node editor: copy/paste of a selection with the wires inside it, a free spot for a new
// node, the node search's ranking, and a version diff as marks on the graph. tests/frontend/editing.test.js
// covers them.
import { GROUP_NODE_TYPE, NOTE_NODE_TYPE as NOTE_TYPE, nextId, uniquePortName } from './graph.js'
import { selectGroupMembers } from './groups.js'

const DEFAULT_SIZE = { width: 200, height: 110 }
const GAP = 24

/** A note or a group: drawn behind the nodes, never in the way of a new one. */
const isBackground = (n) => n.type === NOTE_TYPE || n.type === GROUP_NODE_TYPE
const ID_PREFIX = { [NOTE_TYPE]: 'note', [GROUP_NODE_TYPE]: 'group' }

/**
 * The selected nodes (pipeline nodes, notes and groups, a group with what lies inside its frame) with the
 * wires between them, as a clipboard.
 */
export function copySelection(nodes, edges) {
  const picked = selectGroupMembers(nodes).filter((n) => n.selected)
  if (!picked.length) return null
  const ids = new Set(picked.map((n) => n.id))
  return {
    nodes: picked.map((n) => ({
      id: n.id,
      type: n.type,
      position: { ...n.position },
      data: JSON.parse(JSON.stringify(n.data || {})),
      ...(n.style ? { style: { ...n.style } } : {}),
      ...(n.zIndex !== undefined ? { zIndex: n.zIndex } : {}),
      size: { width: boxOf(n).width, height: boxOf(n).height },
    })),
    edges: edges
      .filter((e) => ids.has(e.source) && ids.has(e.target))
      .map((e) => ({ source: e.source, sourceHandle: e.sourceHandle, target: e.target, targetHandle: e.targetHandle })),
  }
}

/**
 * The clipboard added to the graph under new ids, moved by `offset`, selected (the rest unselected). An input
 * node keeps a unique input name ("image_url" pasted next to itself becomes "image_url_2").
 * Returns {nodes, edges, added: [new ids]}.
 */
export function pasteClipboard(clip, nodes, edges, offset, nodeTypes = {}) {
  if (!clip?.nodes?.length) return { nodes, edges, added: [] }
  const ids = nodes.map((n) => n.id)
  const edgeIds = edges.map((e) => e.id)
  const rename = {}
  const takenNames = nodes
    .filter((n) => nodeTypes[n.data?.nodeType]?.exposes_input)
    .map((n) => n.data?.params?.name)
  const pasted = clip.nodes.map((n) => {
    const id = nextId(ids, ID_PREFIX[n.type] || 'n')
    ids.push(id)
    rename[n.id] = id
    const data = JSON.parse(JSON.stringify(n.data || {}))
    if (nodeTypes[data.nodeType]?.exposes_input && typeof data.params?.name === 'string') {
      data.params.name = uniquePortName(data.params.name, takenNames)
      takenNames.push(data.params.name)
    }
    const { size: _size, ...rest } = n
    return {
      ...rest,
      id,
      data,
      position: { x: Math.round(n.position.x + offset.x), y: Math.round(n.position.y + offset.y) },
      selected: true,
    }
  })
  const newEdges = clip.edges.map((e) => {
    const id = nextId(edgeIds, 'e')
    edgeIds.push(id)
    return { ...e, id, source: rename[e.source], target: rename[e.target] }
  })
  return {
    nodes: [...nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), ...pasted],
    edges: [...edges.map((e) => (e.selected ? { ...e, selected: false } : e)), ...newEdges],
    added: pasted.map((n) => n.id),
  }
}

function boxOf(node) {
  const width = node.measured?.width ?? node.width ?? node.style?.width ?? DEFAULT_SIZE.width
  const height = node.measured?.height ?? node.height ?? node.style?.height ?? DEFAULT_SIZE.height
  return { x: node.position.x, y: node.position.y, width, height }
}

function overlaps(a, b) {
  return a.x < b.x + b.width + GAP && b.x < a.x + a.width + GAP && a.y < b.y + b.height + GAP && b.y < a.y + a.height + GAP
}

/**
 * The nearest position to `wanted` where a node of `size` covers no other pipeline node (notes and groups
 * are backgrounds and may be covered): tried in rings of growing distance around `wanted`.
 */
export function freeSpot(nodes, wanted, size = DEFAULT_SIZE) {
  const boxes = nodes.filter((n) => !isBackground(n)).map(boxOf)
  const fits = (p) => !boxes.some((b) => overlaps({ ...p, ...size }, b))
  const start = { x: Math.round(wanted.x), y: Math.round(wanted.y) }
  if (fits(start)) return start
  const stepX = size.width + GAP
  const stepY = size.height + GAP
  for (let ring = 1; ring <= 12; ring += 1) {
    const candidates = []
    for (let dx = -ring; dx <= ring; dx += 1) {
      for (let dy = -ring; dy <= ring; dy += 1) {
        if (Math.max(Math.abs(dx), Math.abs(dy)) !== ring) continue
        candidates.push({ x: start.x + dx * stepX, y: start.y + dy * stepY, d: Math.hypot(dx * stepX, dy * stepY) })
      }
    }
    candidates.sort((a, b) => a.d - b.d || a.y - b.y || a.x - b.x)
    const found = candidates.find(fits)
    if (found) return { x: found.x, y: found.y }
  }
  return start
}

/**
 * Where to paste `clip`: moved by `step` × (40, 40) from where it was copied, then on to the nearest spot where
 * the pasted selection covers no node (its bounding box is placed like one node). A pasted group's frame counts
 * too: a node it covered would join the group. Returns the offset.
 */
export function pasteOffset(clip, nodes, step = 1) {
  const members = clip.nodes.filter((n) => n.type !== NOTE_TYPE)
  if (!members.length) return { x: step * 40, y: step * 40 }
  const left = Math.min(...members.map((n) => n.position.x))
  const top = Math.min(...members.map((n) => n.position.y))
  const right = Math.max(...members.map((n) => n.position.x + (n.size?.width ?? DEFAULT_SIZE.width)))
  const bottom = Math.max(...members.map((n) => n.position.y + (n.size?.height ?? DEFAULT_SIZE.height)))
  const spot = freeSpot(nodes, { x: left + step * 40, y: top + step * 40 }, { width: right - left, height: bottom - top })
  return { x: spot.x - left, y: spot.y - top }
}

/** Node types matching what was typed, best first: title or type starting with it, then containing it. */
export function searchNodeTypes(specs, query) {
  const q = query.trim().toLowerCase()
  const scored = []
  for (const s of specs || []) {
    const title = (s.title || '').toLowerCase()
    const type = s.type.toLowerCase()
    const text = `${title} ${type} ${(s.family || '').toLowerCase()} ${(s.description || '').toLowerCase()}`
    let score
    if (!q) score = 3
    else if (title.startsWith(q) || type.startsWith(q)) score = 0
    else if (title.includes(q) || type.includes(q)) score = 1
    else if (q.split(/\s+/).every((w) => text.includes(w))) score = 2
    else continue
    scored.push([score, s])
  }
  scored.sort((a, b) => a[0] - b[0] || (a[1].title || a[1].type).localeCompare(b[1].title || b[1].type))
  return scored.map(([, s]) => s)
}

/** A diff from the API as marks by node id: {kind: 'added' | 'changed' | 'removed', params: [...]}. */
export function diffMarks(diff) {
  const marks = {}
  if (!diff?.nodes) return marks
  for (const n of diff.nodes.added || []) marks[n.id] = { kind: 'added', params: [] }
  for (const n of diff.nodes.removed || []) marks[n.id] = { kind: 'removed', params: [] }
  for (const n of diff.nodes.changed || []) marks[n.id] = { kind: 'changed', params: n.params || [], previousType: n.previous_type }
  return marks
}

/** A wire's identity in a diff: its two ends (wire ids are not compared). */
export function wireKey(e) {
  return e.from
    ? `${e.from.node}.${e.from.port}>${e.to.node}.${e.to.port}`
    : `${e.source}.${e.sourceHandle}>${e.target}.${e.targetHandle}`
}

/** The wires a diff added and removed, as sets of wireKey. */
export function diffWires(diff) {
  return {
    added: new Set((diff?.edges?.added || []).map(wireKey)),
    removed: new Set((diff?.edges?.removed || []).map(wireKey)),
  }
}

/** One line per change of a diff, as the canvas lists them ("n2: width 32 → 64"). */
export function diffLines(diff) {
  if (!diff?.nodes) return []
  const show = (v) => (v === undefined ? '∅' : JSON.stringify(v))
  const lines = []
  for (const n of diff.nodes.added || []) lines.push(`+ ${n.id} (${n.type}) added`)
  for (const n of diff.nodes.removed || []) lines.push(`− ${n.id} (${n.type}) removed`)
  for (const n of diff.nodes.changed || []) {
    if (n.previous_type) lines.push(`~ ${n.id}: type ${n.previous_type} → ${n.type}`)
    for (const p of n.params || []) lines.push(`~ ${n.id}: ${p.param} ${show(p.from)} → ${show(p.to)}`)
  }
  const wire = (e) => `${e.from.node}.${e.from.port} → ${e.to.node}.${e.to.port}`
  for (const e of diff.edges?.added || []) lines.push(`+ wire ${wire(e)}`)
  for (const e of diff.edges?.removed || []) lines.push(`− wire ${wire(e)}`)
  return lines
}
