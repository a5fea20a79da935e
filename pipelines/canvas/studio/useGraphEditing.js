// Editing the draft on the canvas: React Flow's change handlers, the wiring rules, adding nodes from the
// palette (drop, button or the node search) where they cover no other node, copy/paste/duplicate, notes,
// groups (a dragged frame carries its nodes), parameters, deletion and the OUTPUT__ node's output names.
import { useCallback, useRef } from 'react'
import { applyEdgeChanges, applyNodeChanges, useReactFlow } from '@xyflow/react'
import {
  FLOW_NODE_TYPE,
  GROUP_NODE_TYPE,
  NOTE_NODE_TYPE,
  checkConnection,
  connectEdge,
  layoutNode,
  nextId,
  paramDefaults,
  renameDynamicPort,
  uniquePortName,
} from '../lib/graph.js'
import { copySelection, freeSpot, pasteClipboard, pasteOffset } from '../lib/editing.js'
import { followGroups, frameAround, startGroupDrag } from '../lib/groups.js'
import { DRAG_MIME } from './Palette.jsx'

const CLIPBOARD_KEY = 'canvasflow.clipboard'

// The clipboard outlives the page within the tab (copy on one pipeline, paste on another).
function readClipboard() {
  try {
    return JSON.parse(window.sessionStorage.getItem(CLIPBOARD_KEY) || 'null')
  } catch {
    return null
  }
}

function writeClipboard(clip) {
  try {
    window.sessionStorage.setItem(CLIPBOARD_KEY, JSON.stringify(clip))
  } catch {
    /* private mode: the copy is lost with the page */
  }
}

function withParam(params, name, value) {
  const next = { ...(params || {}) }
  if (value === undefined) delete next[name]
  else next[name] = value
  return next
}

export function useGraphEditing({ nodes, setNodes, edges, setEdges, setView, nodeTypes, readOnly, wrapper, notify,
  onAdded, pointerTip }) {
  const rf = useReactFlow()
  const pastes = useRef(0)
  const groupDrag = useRef(null) // the members each dragged group carries (lib/groups.js startGroupDrag)

  const onNodesChange = useCallback(
    (changes) => {
      if (readOnly) {
        const allowed = changes.filter((c) => c.type === 'select' || c.type === 'dimensions')
        setView((v) => v && { ...v, nodes: applyNodeChanges(allowed, v.nodes) })
        return
      }
      const all = followGroups(changes, groupDrag.current)
      setNodes((ns) => applyNodeChanges(all, ns))
    },
    [readOnly, setNodes, setView],
  )

  // Membership is taken once, when the drag starts: what lies inside the frame then moves with it.
  const onNodeDragStart = useCallback(
    (_event, _node, dragged) => {
      groupDrag.current = readOnly ? null : startGroupDrag(dragged, rf.getNodes())
    },
    [readOnly, rf],
  )
  const onNodeDragStop = useCallback(() => {
    groupDrag.current = null
  }, [])

  const onEdgesChange = useCallback(
    (changes) => {
      if (readOnly) {
        const allowed = changes.filter((c) => c.type === 'select')
        setView((v) => v && { ...v, edges: applyEdgeChanges(allowed, v.edges) })
        return
      }
      setEdges((es) => applyEdgeChanges(changes, es))
    },
    [readOnly, setEdges, setView],
  )

  const isValidConnection = useCallback(
    (c) => checkConnection(c, rf.getNodes(), rf.getEdges(), nodeTypes).ok,
    [rf, nodeTypes, notify],
  )

  const onConnect = useCallback(
    (c) => {
      const check = checkConnection(c, rf.getNodes(), rf.getEdges(), nodeTypes)
      if (!check.ok) {
        notify({ kind: 'error', text: `Cannot connect: ${check.reason}` })
        return
      }
      setEdges((es) => connectEdge(c, es, (ids) => nextId(ids, 'e')))
      notify(null)
    },
    [rf, nodeTypes, notify],
  )

  const onConnectEnd = useCallback(
    (_event, state) => {
      if (!state || state.isValid !== false || !state.toHandle || !state.fromHandle) return
      const from = state.fromHandle
      const to = state.toHandle
      if (from.type === to.type) {
        notify({ kind: 'error', text: 'Cannot connect: wire an output (right side) to an input (left side)' })
        return
      }
      const c =
        from.type === 'source'
          ? { source: from.nodeId, sourceHandle: from.id, target: to.nodeId, targetHandle: to.id }
          : { source: to.nodeId, sourceHandle: to.id, target: from.nodeId, targetHandle: from.id }
      const check = checkConnection(c, rf.getNodes(), rf.getEdges(), nodeTypes)
      const text = `Cannot connect: ${check.ok ? 'not allowed here' : check.reason}`
      notify({ kind: 'error', text })
      const point = 'changedTouches' in _event ? _event.changedTouches[0] : _event
      if (point) pointerTip?.({ x: point.clientX, y: point.clientY, text })
    },
    [rf, nodeTypes, notify, pointerTip],
  )

  const addNode = useCallback(
    (type, position) => {
      const spec = nodeTypes[type]
      if (!spec || readOnly) return
      setNodes((ns) => {
        const id = nextId(ns.map((n) => n.id))
        const params = paramDefaults(spec.params_schema)
        if (spec.exposes_input && typeof params.name === 'string') {
          const taken = ns.filter((n) => nodeTypes[n.data.nodeType]?.exposes_input).map((n) => n.data.params?.name)
          params.name = uniquePortName(params.name, taken)
        }
        const spot = freeSpot(ns, position)
        const node = { id, type: FLOW_NODE_TYPE, position: spot, data: { nodeType: type, params }, selected: true }
        return [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), node]
      })
      onAdded?.()
    },
    [nodeTypes, readOnly, setNodes, onAdded],
  )

  const addAtCenter = useCallback(
    (type) => {
      const box = wrapper.current?.getBoundingClientRect()
      if (!box) return
      const p = rf.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 })
      addNode(type, { x: Math.round(p.x - 90), y: Math.round(p.y - 50) })
    },
    [addNode, rf, wrapper],
  )

  const onDrop = useCallback(
    (e) => {
      e.preventDefault()
      const type = e.dataTransfer.getData(DRAG_MIME)
      if (!type) return
      const p = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY })
      addNode(type, { x: Math.round(p.x - 20), y: Math.round(p.y - 20) })
    },
    [addNode, rf],
  )

  const onDragOver = useCallback((e) => {
    e.preventDefault()
    e.dataTransfer.dropEffect = 'copy'
  }, [])

  /** Add a node of `type` at the screen point (x, y), e.g. where the node search was opened. */
  const addAtScreen = useCallback(
    (type, point) => {
      const p = rf.screenToFlowPosition(point)
      addNode(type, { x: Math.round(p.x), y: Math.round(p.y) })
    },
    [addNode, rf],
  )

  const addNote = useCallback(() => {
    if (readOnly) return
    const box = wrapper.current?.getBoundingClientRect()
    const p = box ? rf.screenToFlowPosition({ x: box.left + 40, y: box.top + 40 }) : { x: 0, y: 0 }
    setNodes((ns) => {
      const id = nextId(ns.map((n) => n.id), 'note')
      const note = { ...layoutNode(NOTE_NODE_TYPE, id, { x: Math.round(p.x), y: Math.round(p.y) }), selected: true }
      return [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), note]
    })
  }, [readOnly, rf, setNodes, wrapper])

  /** A group framing the selected nodes, or an empty one at the top left of the view. */
  const addGroup = useCallback(() => {
    if (readOnly) return
    const box = wrapper.current?.getBoundingClientRect()
    const p = box ? rf.screenToFlowPosition({ x: box.left + 40, y: box.top + 40 }) : { x: 0, y: 0 }
    setNodes((ns) => {
      const id = nextId(ns.map((n) => n.id), 'group')
      const frame = frameAround(ns.filter((n) => n.selected))
      const position = frame ? frame.position : { x: Math.round(p.x), y: Math.round(p.y) }
      const group = { ...layoutNode(GROUP_NODE_TYPE, id, position, 'Group', frame?.size), selected: true }
      return [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), group]
    })
  }, [readOnly, rf, setNodes, wrapper])

  const setGroupTitle = useCallback((groupId, title) => {
    setNodes((ns) => ns.map((n) => (n.id === groupId ? { ...n, data: { ...n.data, title } } : n)))
  }, [setNodes])

  const setNoteText = useCallback((noteId, text) => {
    setNodes((ns) => ns.map((n) => (n.id === noteId ? { ...n, data: { ...n.data, text } } : n)))
  }, [setNodes])

  /** Copy the selected nodes and notes with the wires between them; the number copied. */
  const copy = useCallback(() => {
    const clip = copySelection(rf.getNodes(), rf.getEdges())
    if (!clip) return 0
    writeClipboard(clip)
    pastes.current = 0
    return clip.nodes.length
  }, [rf])

  const insert = useCallback(
    (clip, step) => {
      if (readOnly || !clip) return
      const current = rf.getNodes()
      const { nodes: next, edges: nextEdges, added } = pasteClipboard(
        clip, current, rf.getEdges(), pasteOffset(clip, current, step), nodeTypes)
      if (!added.length) return
      setNodes(next)
      setEdges(nextEdges)
      notify({ kind: 'info', text: `Pasted ${added.length} node${added.length === 1 ? '' : 's'}: ${added.join(', ')}` })
    },
    [nodeTypes, notify, readOnly, rf, setEdges, setNodes],
  )

  const paste = useCallback(() => {
    pastes.current += 1
    insert(readClipboard(), pastes.current)
  }, [insert])

  const duplicate = useCallback(() => {
    insert(copySelection(rf.getNodes(), rf.getEdges()), 1)
  }, [insert, rf])

  const setParam = useCallback((nodeId, name, value) => {
    setNodes((ns) =>
      ns.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, params: withParam(n.data.params, name, value) } } : n)),
    )
  }, [setNodes])

  const deleteNode = useCallback((nodeId) => {
    setNodes((ns) => ns.filter((n) => n.id !== nodeId))
    setEdges((es) => es.filter((e) => e.source !== nodeId && e.target !== nodeId))
  }, [setNodes, setEdges])

  const renameOutput = useCallback(
    (nodeId, from, to) => {
      const next = renameDynamicPort(edges, nodeId, from, to)
      if (!next) return false
      setEdges(next)
      return true
    },
    [edges, setEdges],
  )

  return {
    onNodesChange,
    onEdgesChange,
    isValidConnection,
    onConnect,
    onConnectEnd,
    addAtCenter,
    onDrop,
    onDragOver,
    addAtScreen,
    onNodeDragStart,
    onNodeDragStop,
    addNote,
    addGroup,
    setGroupTitle,
    setNoteText,
    copy,
    paste,
    duplicate,
    setParam,
    deleteNode,
    renameOutput,
  }
}
