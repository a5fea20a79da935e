// Conversion between the studio API's graph JSON and React Flow's nodes/edges, plus the wiring rules the
// canvas enforces before the server sees anything. Pure functions only: tested by tests/frontend/graph.test.js.
//
// API graph:  {nodes: [{id, type, params, position}], edges: [{id, from: {node, port}, to: {node, port}}]}
// React Flow: nodes [{id, type: "pipeline", position, data: {nodeType, params}}],
//             edges [{id, source, sourceHandle, target, targetHandle}]
// Handle ids are port names. OUTPUT__ accepts any port name: its handles are the names already wired into it
// plus NEW_PORT, and a wire dropped on NEW_PORT gets a fresh name (see `connectEdge`).

export const FLOW_NODE_TYPE = 'pipeline'
export const NOTE_NODE_TYPE = 'note'
export const GROUP_NODE_TYPE = 'group'
/** Groups sit under everything, notes included; React Flow lifts a selected node by 1000, still below nodes. */
export const GROUP_Z = -2000
export const NEW_PORT = '__new__'
/** What the graph keeps beside its nodes, drawn as canvas nodes of their own: the key in the API graph, the
 * React Flow type, the text field, the default size and the layer. */
const NOTE_SIZE = { width: 220, height: 120 }
const GROUP_SIZE = { width: 480, height: 300 }
const LAYOUT_KINDS = [
  { key: 'notes', type: NOTE_NODE_TYPE, field: 'text', size: NOTE_SIZE, zIndex: -1 },
  { key: 'groups', type: GROUP_NODE_TYPE, field: 'title', size: GROUP_SIZE, zIndex: GROUP_Z },
]

/** A note or group as a React Flow node (`type`: NOTE_NODE_TYPE or GROUP_NODE_TYPE), of its kind's default
 * size unless `size` says otherwise. */
export function layoutNode(type, id, position, text = '', size = {}) {
  const kind = LAYOUT_KINDS.find((k) => k.type === type)
  return {
    id,
    type,
    position,
    data: { [kind.field]: text },
    style: { width: numberOr(size.width, kind.size.width), height: numberOr(size.height, kind.size.height) },
    zIndex: kind.zIndex,
  }
}
export const PORT_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

const GRID_X = 280
const GRID_Y = 160

/** Whether a value of `source` type may flow into a `target` port (mirrors pipelines.nodes.base). */
export function portsCompatible(source, target) {
  if (source === 'any' || target === 'any') return true
  if (source === target) return true
  return target === 'json' && (source === 'text' || source === 'number')
}

/** Index the `/api/v1/studio/node-types` list by type name. */
export function indexNodeTypes(list) {
  const byType = {}
  for (const spec of list || []) byType[spec.type] = spec
  return byType
}

/** Node types grouped by family, families and members in a stable order, for the palette. */
export function groupByFamily(list) {
  const groups = new Map()
  for (const spec of list || []) {
    const family = spec.family || 'other'
    if (!groups.has(family)) groups.set(family, [])
    groups.get(family).push(spec)
  }
  const order = (f) => (f === 'io' ? 0 : 1)
  return [...groups.entries()]
    .sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b))
    .map(([family, items]) => ({ family, items: [...items].sort((a, b) => a.type.localeCompare(b.type)) }))
}

/** Default values of a params schema (what a freshly dropped node starts with). */
export function paramDefaults(schema) {
  const out = {}
  for (const [name, prop] of Object.entries(schema?.properties || {})) {
    if (prop && Object.prototype.hasOwnProperty.call(prop, 'default')) out[name] = clone(prop.default)
  }
  return out
}

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value))
}

function numberOr(value, fallback) {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback
}

/**
 * Positions for nodes that have none: columns by depth in the DAG, rows by order of appearance.
 * Nodes with a stored position keep it.
 */
export function layoutPositions(graph) {
  const nodes = graph?.nodes || []
  const depth = {}
  const ids = new Set(nodes.map((n) => n.id))
  const incoming = {}
  for (const e of graph?.edges || []) {
    const src = e?.from?.node
    const dst = e?.to?.node
    if (!ids.has(src) || !ids.has(dst)) continue
    ;(incoming[dst] ||= []).push(src)
  }
  const visiting = new Set()
  const depthOf = (id) => {
    if (depth[id] !== undefined) return depth[id]
    if (visiting.has(id)) return 0 // a cycle: the server reports it, layout just stops
    visiting.add(id)
    const parents = incoming[id] || []
    depth[id] = parents.length ? Math.max(...parents.map(depthOf)) + 1 : 0
    visiting.delete(id)
    return depth[id]
  }
  const rows = {}
  const positions = {}
  for (const node of nodes) {
    const d = depthOf(node.id)
    const row = (rows[d] = (rows[d] ?? -1) + 1)
    const p = node.position
    positions[node.id] =
      p && Number.isFinite(p.x) && Number.isFinite(p.y) ? { x: p.x, y: p.y } : { x: d * GRID_X, y: row * GRID_Y }
  }
  return positions
}

/** API graph → React Flow nodes and edges. Malformed entries are dropped rather than crashing the page. */
export function apiToFlow(graph) {
  const positions = layoutPositions(graph)
  const nodes = []
  const seen = new Set()
  for (const n of graph?.nodes || []) {
    if (!n || typeof n.id !== 'string' || !n.id || seen.has(n.id)) continue
    seen.add(n.id)
    nodes.push({
      id: n.id,
      type: FLOW_NODE_TYPE,
      position: positions[n.id],
      data: { nodeType: n.type, params: { ...(n.params || {}) } },
    })
  }
  const edges = []
  const edgeIds = new Set()
  for (const e of graph?.edges || []) {
    const source = e?.from?.node
    const target = e?.to?.node
    if (!seen.has(source) || !seen.has(target)) continue
    let id = typeof e.id === 'string' && e.id ? e.id : `e_${source}_${e.from.port}_${target}_${e.to.port}`
    while (edgeIds.has(id)) id = `${id}_`
    edgeIds.add(id)
    edges.push({ id, source, sourceHandle: e.from.port, target, targetHandle: e.to.port })
  }
  // Notes (graph.notes): text boxes that annotate the graph. Groups (graph.groups): titled frames whose
  // nodes move with them (lib/groups.js). Both sit behind the nodes and never run.
  for (const kind of LAYOUT_KINDS) {
    for (const item of Array.isArray(graph?.[kind.key]) ? graph[kind.key] : []) {
      if (!item || typeof item.id !== 'string' || !item.id || seen.has(item.id)) continue
      seen.add(item.id)
      const p = item.position || {}
      const text = item[kind.field]
      const position = { x: numberOr(p.x, 0), y: numberOr(p.y, 0) }
      nodes.push(layoutNode(kind.type, item.id, position, typeof text === 'string' ? text : '', item))
    }
  }
  return { nodes, edges }
}

function layoutItem(n, defaults) {
  return {
    position: { x: Math.round(numberOr(n.position?.x, 0)), y: Math.round(numberOr(n.position?.y, 0)) },
    width: Math.round(numberOr(n.measured?.width ?? n.width ?? n.style?.width, defaults.width)),
    height: Math.round(numberOr(n.measured?.height ?? n.height ?? n.style?.height, defaults.height)),
  }
}

/** React Flow nodes and edges → API graph (positions rounded; dangling edges dropped). */
export function flowToApi(nodes, edges) {
  const ids = new Set()
  const apiNodes = []
  const layout = Object.fromEntries(LAYOUT_KINDS.map((kind) => [kind.key, []]))
  for (const n of nodes || []) {
    const kind = LAYOUT_KINDS.find((k) => k.type === n.type)
    if (kind) {
      layout[kind.key].push({ id: n.id, [kind.field]: n.data?.[kind.field] || '', ...layoutItem(n, kind.size) })
      continue
    }
    ids.add(n.id)
    const params = {}
    for (const [k, v] of Object.entries(n.data?.params || {})) if (v !== undefined) params[k] = v
    apiNodes.push({
      id: n.id,
      type: n.data?.nodeType,
      params,
      position: { x: Math.round(numberOr(n.position?.x, 0)), y: Math.round(numberOr(n.position?.y, 0)) },
    })
  }
  const apiEdges = []
  for (const e of edges || []) {
    if (!ids.has(e.source) || !ids.has(e.target)) continue
    if (!e.sourceHandle || !e.targetHandle || e.targetHandle === NEW_PORT) continue
    apiEdges.push({
      id: e.id,
      from: { node: e.source, port: e.sourceHandle },
      to: { node: e.target, port: e.targetHandle },
    })
  }
  const graph = { nodes: apiNodes, edges: apiEdges }
  for (const [key, items] of Object.entries(layout)) if (items.length) graph[key] = items
  return graph
}

/** A stable string of the graph, to tell whether anything worth saving or undoing changed. */
export function graphKey(graph) {
  return JSON.stringify(graph)
}

/** Next free id with `prefix` followed by a number ("n1", "n2", …). */
export function nextId(existingIds, prefix = 'n') {
  let max = 0
  const re = new RegExp(`^${prefix}(\\d+)$`)
  for (const id of existingIds) {
    const m = re.exec(id)
    if (m) max = Math.max(max, Number(m[1]))
  }
  let n = max + 1
  const taken = new Set(existingIds)
  while (taken.has(`${prefix}${n}`)) n += 1
  return `${prefix}${n}`
}

/** `base` made into a valid port name not in `taken` ("image", "image_2", …). */
export function uniquePortName(base, taken) {
  let clean = String(base || 'output').replace(/[^A-Za-z0-9_]/g, '_')
  if (!/^[A-Za-z_]/.test(clean)) clean = `_${clean}`
  clean = clean.slice(0, 60)
  const used = new Set(taken)
  if (!used.has(clean)) return clean
  let i = 2
  while (used.has(`${clean}_${i}`)) i += 1
  return `${clean}_${i}`
}

/** The port on `spec` named `handle`, or a synthetic "any" port for a dynamic-input node. */
export function findPort(spec, side, handle) {
  if (!spec) return null
  const list = side === 'source' ? spec.outputs : spec.inputs
  const port = (list || []).find((p) => p.name === handle)
  if (port) return port
  if (side === 'target' && spec.dynamic_inputs && (handle === NEW_PORT || PORT_NAME_RE.test(handle || ''))) {
    return { name: handle, type: 'any', description: 'Becomes an output key', required: false }
  }
  return null
}

/** Names wired into a dynamic-input node (its visible input handles, in wiring order). */
export function dynamicPortNames(nodeId, edges) {
  const names = []
  for (const e of edges || []) {
    if (e.target === nodeId && e.targetHandle && e.targetHandle !== NEW_PORT && !names.includes(e.targetHandle)) {
      names.push(e.targetHandle)
    }
  }
  return names
}

function reaches(from, to, edges) {
  const out = {}
  for (const e of edges) (out[e.source] ||= []).push(e.target)
  const stack = [from]
  const seen = new Set()
  while (stack.length) {
    const id = stack.pop()
    if (id === to) return true
    if (seen.has(id)) continue
    seen.add(id)
    stack.push(...(out[id] || []))
  }
  return false
}

/**
 * Whether a wire may be drawn. Returns {ok: true} or {ok: false, reason}. The server re-checks everything
 * on validate/publish; this is what makes incompatible ports refuse to connect in the browser.
 */
export function checkConnection(connection, nodes, edges, nodeTypes) {
  const { source, sourceHandle, target, targetHandle } = connection
  const srcNode = nodes.find((n) => n.id === source)
  const dstNode = nodes.find((n) => n.id === target)
  if (!srcNode || !dstNode) return { ok: false, reason: 'Unknown node' }
  if (source === target) return { ok: false, reason: 'A node cannot feed itself' }
  const srcSpec = nodeTypes[srcNode.data.nodeType]
  const dstSpec = nodeTypes[dstNode.data.nodeType]
  const out = findPort(srcSpec, 'source', sourceHandle)
  const inp = findPort(dstSpec, 'target', targetHandle)
  if (!out) return { ok: false, reason: `${source} has no output "${sourceHandle}"` }
  if (!inp) return { ok: false, reason: `${target} has no input "${targetHandle}"` }
  if (!portsCompatible(out.type, inp.type)) {
    return {
      ok: false,
      reason: `${source}.${sourceHandle} (${out.type}) cannot feed ${target}.${targetHandle} (${inp.type})`,
    }
  }
  if (reaches(target, source, edges)) return { ok: false, reason: 'That wire would make a cycle' }
  return { ok: true }
}

/**
 * Add the wire `connection` to `edges`: an input takes one wire, so an existing wire into the same input is
 * replaced; a wire dropped on a dynamic node's NEW_PORT gets a fresh port name derived from the source port.
 */
export function connectEdge(connection, edges, makeId) {
  let { targetHandle } = connection
  if (targetHandle === NEW_PORT) {
    targetHandle = uniquePortName(connection.sourceHandle, dynamicPortNames(connection.target, edges))
  }
  const kept = edges.filter((e) => !(e.target === connection.target && e.targetHandle === targetHandle))
  const edge = {
    id: makeId(kept.map((e) => e.id)),
    source: connection.source,
    sourceHandle: connection.sourceHandle,
    target: connection.target,
    targetHandle,
  }
  return [...kept, edge]
}

/** Rename the wire into a dynamic-input node's port (the output key). Returns null if the name is unusable. */
export function renameDynamicPort(edges, nodeId, from, to) {
  if (!PORT_NAME_RE.test(to)) return null
  if (from !== to && dynamicPortNames(nodeId, edges).includes(to)) return null
  return edges.map((e) => (e.target === nodeId && e.targetHandle === from ? { ...e, targetHandle: to } : e))
}

/**
 * The inputs a run of this graph asks for: one per INPUT__ node (node types with `exposes_input`), named by
 * its `name` param. kind is "image" for nodes whose output is an image, "text" otherwise.
 */
export function runInputs(graph, nodeTypes) {
  const inputs = []
  for (const node of graph?.nodes || []) {
    const spec = nodeTypes[node.type]
    if (!spec || !spec.exposes_input) continue
    const params = { ...paramDefaults(spec.params_schema), ...(node.params || {}) }
    const name = params.name
    if (typeof name !== 'string' || !name) continue
    const isImage = (spec.outputs || []).some((p) => p.type === 'image')
    inputs.push({
      name,
      node: node.id,
      kind: isImage ? 'image' : 'text',
      required: params.required !== false,
      description: params.description || '',
      example: params.example || '',
    })
  }
  return inputs
}

/** Group server validation errors by node id; errors that name no node are "general". */
export function errorsByNode(errors) {
  const byNode = {}
  const general = []
  for (const err of errors || []) {
    if (err && err.node) (byNode[err.node] ||= []).push(err)
    else if (err) general.push(err)
  }
  return { byNode, general }
}
