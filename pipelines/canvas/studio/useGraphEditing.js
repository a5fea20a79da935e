// Editing the draft on the canvas: React Flow's change handlers, the wiring rules, adding nodes from the
// palette (drop or button), parameters, deletion and the OUTPUT__ node's output names.
import { useCallback } from 'react'
import { applyEdgeChanges, applyNodeChanges, useReactFlow } from '@xyflow/react'
import {
  FLOW_NODE_TYPE,
  checkConnection,
  connectEdge,
  nextId,
  paramDefaults,
  renameDynamicPort,
  uniquePortName,
} from '../lib/graph.js'
import { DRAG_MIME } from './Palette.jsx'

function withParam(params, name, value) {
  const next = { ...(params || {}) }
  if (value === undefined) delete next[name]
  else next[name] = value
  return next
}

export function useGraphEditing({ nodes, setNodes, edges, setEdges, setView, nodeTypes, readOnly, wrapper, notify, onAdded }) {
  const rf = useReactFlow()

  const onNodesChange = useCallback(
    (changes) => {
      if (readOnly) {
        const allowed = changes.filter((c) => c.type === 'select' || c.type === 'dimensions')
        setView((v) => v && { ...v, nodes: applyNodeChanges(allowed, v.nodes) })
        return
      }
      setNodes((ns) => applyNodeChanges(changes, ns))
    },
    [readOnly, setNodes, setView],
  )

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
      notify({ kind: 'error', text: `Cannot connect: ${check.ok ? 'not allowed here' : check.reason}` })
    },
    [rf, nodeTypes, notify],
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
        const node = { id, type: FLOW_NODE_TYPE, position, data: { nodeType: type, params }, selected: true }
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
      const offset = (nodes.length % 6) * 24
      addNode(type, { x: Math.round(p.x - 90 + offset), y: Math.round(p.y - 50 + offset) })
    },
    [addNode, nodes.length, rf, wrapper],
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
    setParam,
    deleteNode,
    renameOutput,
  }
}
