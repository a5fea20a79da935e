// /studio/<id>/: the canvas. Holds the draft graph (React Flow nodes/edges), autosaves it with PATCH, shows
// the server's validation on the nodes, and drives publish, runs and versions through the studio API.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  applyEdgeChanges,
  applyNodeChanges,
  useReactFlow,
} from '@xyflow/react'
import { studio } from '../lib/api.js'
import { peekAccessToken } from '../lib/auth.js'
import {
  FLOW_NODE_TYPE,
  apiToFlow,
  checkConnection,
  connectEdge,
  errorsByNode,
  findPort,
  flowToApi,
  graphKey,
  indexNodeTypes,
  nextId,
  paramDefaults,
  renameDynamicPort,
  runInputs,
  uniquePortName,
} from '../lib/graph.js'
import { ConfirmButton, ErrorNote } from '../components/common.jsx'
import { StudioContext } from './context.js'
import { PipelineNode } from './PipelineNode.jsx'
import { DRAG_MIME, Palette } from './Palette.jsx'
import { NodeInspector } from './Inspector.jsx'
import { ResultsPanel } from './ResultsPanel.jsx'
import { RunDialog } from './RunDialog.jsx'
import { PublishDialog } from './PublishDialog.jsx'
import { VersionsDialog } from './VersionsDialog.jsx'
import { useGraphHistory } from './useGraphHistory.js'
import { useRunTracker } from './useRunTracker.js'

const FLOW_NODE_TYPES = { [FLOW_NODE_TYPE]: PipelineNode }
const FIT_VIEW = { padding: 0.2, maxZoom: 1 }
const AUTOSAVE_MS = 600
const HISTORY_MS = 250
const SAVE_LABEL = { saved: 'All changes saved', saving: 'Saving…', unsaved: 'Unsaved changes', error: 'Not saved' }

export function StudioPage({ pipelineId }) {
  return (
    <ReactFlowProvider>
      <Studio pipelineId={pipelineId} />
    </ReactFlowProvider>
  )
}

function withParam(params, name, value) {
  const next = { ...(params || {}) }
  if (value === undefined) delete next[name]
  else next[name] = value
  return next
}

function isTyping(target) {
  return !!target?.closest?.('input, textarea, select, [contenteditable="true"]')
}

function Studio({ pipelineId }) {
  const rf = useReactFlow()
  const wrapper = useRef(null)
  const [specs, setSpecs] = useState(null)
  const [unavailable, setUnavailable] = useState(null)
  const nodeTypes = useMemo(() => indexNodeTypes(specs || []), [specs])
  const [pipeline, setPipeline] = useState(null)
  const [loadError, setLoadError] = useState(null)
  const [nodes, setNodes] = useState([])
  const [edges, setEdges] = useState([])
  const [view, setView] = useState(null) // a published version shown read-only: {number, nodes, edges}
  const [validation, setValidation] = useState({ byNode: {}, general: [] })
  const [notice, setNotice] = useState(null)
  const [dialog, setDialog] = useState(null) // 'run' | 'publish' | 'versions'
  const [tab, setTab] = useState('inspect')
  const [saveState, setSaveState] = useState('saved')
  const history = useGraphHistory()
  const { record: recordHistory, reset: resetHistory } = history
  const tracker = useRunTracker()
  const { run } = tracker

  const loaded = pipeline !== null && specs !== null
  const readOnly = view !== null
  const graph = useMemo(() => flowToApi(nodes, edges), [nodes, edges])
  const key = useMemo(() => graphKey(graph), [graph])
  const dragging = nodes.some((n) => n.dragging)

  const saved = useRef(null)
  const latestKey = useRef(key)
  latestKey.current = key
  const saving = useRef(null)
  const saveTimer = useRef(null)
  const historyTimer = useRef(null)
  const validateSeq = useRef(0)
  const uploads = useRef({}) // art_ id -> URL of images uploaded from this page (run inputs)

  const validateNow = useCallback(async () => {
    const seq = ++validateSeq.current
    try {
      const res = await studio.validate(pipelineId)
      if (seq === validateSeq.current) setValidation(errorsByNode(res.errors))
      return res
    } catch {
      return null
    }
  }, [pipelineId])

  // A whole new graph on the canvas (load, restore, a version opened) remounts React Flow, whose fitView
  // prop then frames it once its nodes are measured. Edits, undo and redo keep the view where it is.
  const [flowKey, setFlowKey] = useState(0)
  const fitLater = useCallback(() => setFlowKey((k) => k + 1), [])

  const loadGraph = useCallback(
    (apiGraph, { resetHistory: reset = false } = {}) => {
      const flow = apiToFlow(apiGraph)
      const k = graphKey(flowToApi(flow.nodes, flow.edges))
      saved.current = k
      latestKey.current = k
      setNodes(flow.nodes)
      setEdges(flow.edges)
      if (reset) resetHistory(k)
      setSaveState('saved')
      fitLater(flow.nodes)
    },
    [resetHistory, fitLater],
  )

  useEffect(() => {
    let live = true
    Promise.all([studio.nodeTypes(), studio.pipeline(pipelineId)])
      .then(([catalog, p]) => {
        if (!live) return
        setSpecs(catalog.node_types || [])
        setUnavailable(catalog.unavailable_families || null)
        setPipeline(p)
        document.title = `${p.name} · Canvasflow`
        loadGraph(p.graph, { resetHistory: true })
        validateNow()
      })
      .catch((err) => live && setLoadError(err))
    return () => {
      live = false
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [pipelineId])

  // -- autosave --------------------------------------------------------------------------------------------
  const saveNow = useCallback(async () => {
    clearTimeout(saveTimer.current)
    while (saving.current) await saving.current.catch(() => null)
    const k = latestKey.current
    if (k === saved.current) {
      setSaveState('saved')
      return
    }
    setSaveState('saving')
    const request = studio.updatePipeline(pipelineId, { graph: JSON.parse(k) })
    saving.current = request
    try {
      const detail = await request
      saved.current = k
      setPipeline((prev) => ({ ...prev, ...detail, graph: undefined }))
      setSaveState(latestKey.current === k ? 'saved' : 'unsaved')
      validateNow()
    } catch (err) {
      setSaveState('error')
      setNotice({ kind: 'error', text: `Autosave failed: ${err.message}` })
      throw err
    } finally {
      saving.current = null
    }
  }, [pipelineId, validateNow])

  useEffect(() => {
    if (!loaded || readOnly || dragging) return
    if (key === saved.current) {
      if (!saving.current) setSaveState('saved')
      return
    }
    setSaveState('unsaved')
    clearTimeout(saveTimer.current)
    saveTimer.current = setTimeout(() => saveNow().catch(() => null), AUTOSAVE_MS)
  }, [key, loaded, readOnly, dragging, saveNow])

  useEffect(() => {
    // Last chance for unsaved edits when the page goes away: a keepalive PATCH with the token in hand.
    const onHide = () => {
      if (!loaded || latestKey.current === saved.current) return
      const token = peekAccessToken()
      if (!token) return
      fetch(`/api/v1/studio/pipelines/${encodeURIComponent(pipelineId)}`, {
        method: 'PATCH',
        keepalive: true,
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ graph: JSON.parse(latestKey.current) }),
      }).catch(() => null)
    }
    window.addEventListener('pagehide', onHide)
    return () => window.removeEventListener('pagehide', onHide)
  }, [loaded, pipelineId])

  // -- undo / redo -----------------------------------------------------------------------------------------
  useEffect(() => {
    if (!loaded || readOnly || dragging) return
    clearTimeout(historyTimer.current)
    historyTimer.current = setTimeout(() => recordHistory(key), HISTORY_MS)
  }, [key, loaded, readOnly, dragging, recordHistory])

  const applySnapshot = useCallback((snapshot) => {
    const flow = apiToFlow(JSON.parse(snapshot))
    setNodes(flow.nodes)
    setEdges(flow.edges)
  }, [])

  const undo = useCallback(() => {
    if (readOnly) return
    clearTimeout(historyTimer.current)
    history.record(latestKey.current)
    const snapshot = history.undo()
    if (snapshot) applySnapshot(snapshot)
  }, [applySnapshot, history, readOnly])

  const redo = useCallback(() => {
    if (readOnly) return
    clearTimeout(historyTimer.current)
    history.record(latestKey.current)
    const snapshot = history.redo()
    if (snapshot) applySnapshot(snapshot)
  }, [applySnapshot, history, readOnly])

  useEffect(() => {
    const onKey = (e) => {
      if (isTyping(e.target) || document.querySelector('dialog[open]')) return
      const mod = e.ctrlKey || e.metaKey
      const k = e.key.toLowerCase()
      if (mod && k === 'z' && !e.shiftKey) {
        e.preventDefault()
        undo()
      } else if (mod && (k === 'y' || (k === 'z' && e.shiftKey))) {
        e.preventDefault()
        redo()
      }
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [undo, redo])

  // -- editing ---------------------------------------------------------------------------------------------
  const onNodesChange = useCallback(
    (changes) => {
      if (readOnly) {
        const allowed = changes.filter((c) => c.type === 'select' || c.type === 'dimensions')
        setView((v) => v && { ...v, nodes: applyNodeChanges(allowed, v.nodes) })
        return
      }
      setNodes((ns) => applyNodeChanges(changes, ns))
    },
    [readOnly],
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
    [readOnly],
  )

  const isValidConnection = useCallback(
    (c) => checkConnection(c, rf.getNodes(), rf.getEdges(), nodeTypes).ok,
    [rf, nodeTypes],
  )

  const onConnect = useCallback(
    (c) => {
      const check = checkConnection(c, rf.getNodes(), rf.getEdges(), nodeTypes)
      if (!check.ok) {
        setNotice({ kind: 'error', text: `Cannot connect: ${check.reason}` })
        return
      }
      setEdges((es) => connectEdge(c, es, (ids) => nextId(ids, 'e')))
      setNotice(null)
    },
    [rf, nodeTypes],
  )

  const onConnectEnd = useCallback(
    (_event, state) => {
      if (!state || state.isValid !== false || !state.toHandle || !state.fromHandle) return
      const from = state.fromHandle
      const to = state.toHandle
      if (from.type === to.type) {
        setNotice({ kind: 'error', text: 'Cannot connect: wire an output (right side) to an input (left side)' })
        return
      }
      const c =
        from.type === 'source'
          ? { source: from.nodeId, sourceHandle: from.id, target: to.nodeId, targetHandle: to.id }
          : { source: to.nodeId, sourceHandle: to.id, target: from.nodeId, targetHandle: from.id }
      const check = checkConnection(c, rf.getNodes(), rf.getEdges(), nodeTypes)
      setNotice({ kind: 'error', text: `Cannot connect: ${check.ok ? 'not allowed here' : check.reason}` })
    },
    [rf, nodeTypes],
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
      setTab('inspect')
    },
    [nodeTypes, readOnly],
  )

  const addAtCenter = useCallback(
    (type) => {
      const box = wrapper.current?.getBoundingClientRect()
      if (!box) return
      const p = rf.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 })
      const offset = (nodes.length % 6) * 24
      addNode(type, { x: Math.round(p.x - 90 + offset), y: Math.round(p.y - 50 + offset) })
    },
    [addNode, nodes.length, rf],
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
  }, [])

  const deleteNode = useCallback((nodeId) => {
    setNodes((ns) => ns.filter((n) => n.id !== nodeId))
    setEdges((es) => es.filter((e) => e.source !== nodeId && e.target !== nodeId))
  }, [])

  const renameOutput = useCallback(
    (nodeId, from, to) => {
      const next = renameDynamicPort(edges, nodeId, from, to)
      if (!next) return false
      setEdges(next)
      return true
    },
    [edges],
  )

  const renamePipeline = useCallback(
    async (name) => {
      if (!name || name === pipeline?.name) return
      try {
        const detail = await studio.updatePipeline(pipelineId, { name })
        setPipeline((prev) => ({ ...prev, ...detail, graph: undefined }))
        document.title = `${detail.name} · Canvasflow`
      } catch (err) {
        setNotice({ kind: 'error', text: `Rename failed: ${err.message}` })
      }
    },
    [pipeline?.name, pipelineId],
  )

  // -- versions --------------------------------------------------------------------------------------------
  const openVersion = useCallback(
    async (number) => {
      try {
        const v = await studio.version(pipelineId, number)
        const flow = apiToFlow(v.graph)
        setView({ number, ...flow })
        setDialog(null)
        fitLater(flow.nodes)
      } catch (err) {
        setNotice({ kind: 'error', text: err.message })
      }
    },
    [pipelineId, fitLater],
  )

  const restoreVersion = useCallback(
    async (number) => {
      try {
        await saveNow().catch(() => null)
        const detail = await studio.restoreVersion(pipelineId, number)
        setPipeline({ ...detail, graph: undefined })
        setView(null)
        setDialog(null)
        loadGraph(detail.graph)
        validateNow()
        setNotice({ kind: 'info', text: `Draft restored from v${number}. Undo brings the previous draft back.` })
      } catch (err) {
        setNotice({ kind: 'error', text: err.message })
      }
    },
    [loadGraph, pipelineId, saveNow, validateNow],
  )

  // -- publish / run ---------------------------------------------------------------------------------------
  const onPublished = useCallback(
    async (body) => {
      try {
        const detail = await studio.pipeline(pipelineId)
        setPipeline({ ...detail, graph: undefined })
      } catch {
        /* the dialog already shows what matters */
      }
      if (body.version) setNotice({ kind: 'info', text: `Published v${body.version.number}.` })
    },
    [pipelineId],
  )

  const onPublishInvalid = useCallback((errors, what = 'Publish refused') => {
    setValidation(errorsByNode(errors))
    setNotice({ kind: 'error', text: `${what}: ${errors.length} problem${errors.length === 1 ? '' : 's'} marked on the canvas.` })
  }, [])

  const startRunDialog = useCallback(async () => {
    await saveNow().catch(() => null)
    setDialog('run')
  }, [saveNow])

  // -- what the canvas shows -------------------------------------------------------------------------------
  const shownNodes = view ? view.nodes : nodes
  const baseEdges = view ? view.edges : edges
  const shownEdges = useMemo(
    () =>
      baseEdges.map((e) => {
        const src = shownNodes.find((n) => n.id === e.source)
        const port = findPort(nodeTypes[src?.data.nodeType], 'source', e.sourceHandle)
        const status = run.nodes[e.target]?.status
        return { ...e, className: `edge-${port?.type || 'any'}`, animated: status === 'running' }
      }),
    [baseEdges, shownNodes, nodeTypes, run.nodes],
  )
  // Read once per mount: React Flow would otherwise keep a fit queued on an empty canvas and run it under
  // the first node dropped (and a later change of the prop queues a fit too).
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const fitOnMount = useMemo(() => shownNodes.length > 0, [flowKey])
  const selected = shownNodes.filter((n) => n.selected)
  const selectedNode = selected.length === 1 ? selected[0] : null
  const ctx = useMemo(
    () => ({
      nodeTypes,
      errorsByNode: readOnly ? {} : validation.byNode,
      runNodes: readOnly ? {} : run.nodes,
      currentNode: readOnly ? null : run.currentNode,
      runOutputs: readOnly ? null : run.outputs,
      edges: baseEdges,
      readOnly,
    }),
    [nodeTypes, validation.byNode, run.nodes, run.currentNode, run.outputs, baseEdges, readOnly],
  )
  const problemCount =
    validation.general.length + Object.values(validation.byNode).reduce((sum, list) => sum + list.length, 0)

  if (loadError) {
    return (
      <div className="page-stack">
        <ErrorNote error={loadError.status === 404 ? 'This pipeline does not exist or is not yours.' : loadError} />
        <a href="/studio/">Back to your pipelines</a>
      </div>
    )
  }
  if (!loaded) return <p className="loading" aria-busy="true">Loading the canvas…</p>

  return (
    <StudioContext.Provider value={ctx}>
      <div className={`studio ${readOnly ? 'readonly' : ''}`} data-testid="studio">
        <div className="studio-toolbar" role="toolbar" aria-label="Pipeline actions">
          <a href="/studio/" className="back-link" aria-label="Back to pipelines">
            ←
          </a>
          <PipelineName name={pipeline.name} onRename={renamePipeline} />
          <span className={`save-state save-${saveState}`} data-testid="save-state" data-state={saveState} role="status">
            {readOnly ? `Viewing v${view.number}` : SAVE_LABEL[saveState]}
          </span>
          {!readOnly && problemCount > 0 && (
            <span className="problems" data-testid="problem-count">
              {problemCount} problem{problemCount === 1 ? '' : 's'}
            </span>
          )}
          <span className="toolbar-spacer" />
          <button type="button" className="button small" onClick={undo} disabled={readOnly || !history.canUndo}
            aria-label="Undo" title="Undo (Ctrl+Z)">
            Undo
          </button>
          <button type="button" className="button small" onClick={redo} disabled={readOnly || !history.canRedo}
            aria-label="Redo" title="Redo (Ctrl+Shift+Z)">
            Redo
          </button>
          <button type="button" className="button small" onClick={() => saveNow().then(validateNow, () => null)}
            disabled={readOnly}>
            Validate
          </button>
          <button type="button" className="button small" onClick={() => setDialog('versions')}>
            Versions
          </button>
          <a className="button small" href={`/studio/${pipelineId}/runs/`}>
            History
          </a>
          <button type="button" className="button" onClick={startRunDialog} disabled={readOnly}>
            Run
          </button>
          <button type="button" className="button primary" onClick={() => setDialog('publish')} disabled={readOnly}>
            Publish
          </button>
        </div>
        {readOnly && (
          <div className="readonly-banner" role="status" data-testid="readonly-banner">
            Viewing published version v{view.number} (read-only).
            <ConfirmButton className="small" question={`Replace the draft with v${view.number}?`} confirmLabel="Restore"
              onConfirm={() => restoreVersion(view.number)}>
              Restore as draft
            </ConfirmButton>
            <button type="button" className="button small" onClick={() => {
              setView(null)
              fitLater()
            }}>
              Back to draft
            </button>
          </div>
        )}
        <div className="studio-body">
          <Palette specs={specs} unavailable={unavailable} onAdd={addAtCenter} disabled={readOnly} />
          <div className="canvas" ref={wrapper} data-testid="canvas">
            {notice && (
              <div className={`canvas-notice notice ${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'}
                data-testid="canvas-notice">
                <span>{notice.text}</span>
                <button type="button" className="icon-button" aria-label="Dismiss" onClick={() => setNotice(null)}>
                  ×
                </button>
              </div>
            )}
            <ReactFlow
              key={flowKey}
              fitView={fitOnMount}
              fitViewOptions={FIT_VIEW}
              nodes={shownNodes}
              edges={shownEdges}
              nodeTypes={FLOW_NODE_TYPES}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onConnectEnd={onConnectEnd}
              isValidConnection={isValidConnection}
              onDrop={onDrop}
              onDragOver={onDragOver}
              deleteKeyCode={readOnly ? null : ['Backspace', 'Delete']}
              nodesDraggable={!readOnly}
              nodesConnectable={!readOnly}
              edgesReconnectable={false}
              minZoom={0.2}
              maxZoom={2}
              aria-label="Pipeline canvas"
            >
              <Background gap={20} size={1} />
              <Controls showInteractive={false} />
              <MiniMap pannable zoomable ariaLabel="Minimap" />
            </ReactFlow>
            {shownNodes.length === 0 && (
              <div className="canvas-empty" aria-hidden="true">
                Drag nodes here from the palette, then wire an output (right) to an input (left).
              </div>
            )}
          </div>
          <aside className="side-panel" aria-label="Details">
            <div className="tabs" role="tablist" aria-label="Panel">
              <button type="button" role="tab" id="tab-inspect" aria-selected={tab === 'inspect'}
                aria-controls="panel-inspect" onClick={() => setTab('inspect')}>
                Inspector
              </button>
              <button type="button" role="tab" id="tab-results" aria-selected={tab === 'results'}
                aria-controls="panel-results" onClick={() => setTab('results')}>
                Results{run.status ? ` · ${run.status === 'completed' ? 'done' : run.status}` : ''}
              </button>
            </div>
            <div role="tabpanel" id="panel-inspect" aria-labelledby="tab-inspect" hidden={tab !== 'inspect'}
              className="panel-body">
              {selectedNode ? (
                <NodeInspector
                  key={selectedNode.id}
                  node={selectedNode}
                  spec={nodeTypes[selectedNode.data.nodeType]}
                  edges={baseEdges}
                  errors={readOnly ? [] : validation.byNode[selectedNode.id]}
                  readOnly={readOnly}
                  onParam={(name, value) => setParam(selectedNode.id, name, value)}
                  onDelete={() => deleteNode(selectedNode.id)}
                  onRenameOutput={(from, to) => renameOutput(selectedNode.id, from, to)}
                />
              ) : (
                <PipelineOverview pipeline={pipeline} validation={readOnly ? { general: [], byNode: {} } : validation} />
              )}
            </div>
            <div role="tabpanel" id="panel-results" aria-labelledby="tab-results" hidden={tab !== 'results'}
              className="panel-body">
              <ResultsPanel run={run} graph={graph} nodeTypes={nodeTypes} uploads={uploads.current} onCancel={tracker.cancel}
                historyUrl={`/studio/${pipelineId}/runs/`} />
            </div>
          </aside>
        </div>
        <RunDialog
          open={dialog === 'run'}
          inputs={runInputs(graph, nodeTypes)}
          pipelineId={pipelineId}
          publishedVersion={pipeline.published_version}
          beforeRun={saveNow}
          onUploaded={(art) => {
            uploads.current[art.artifact_id] = art.url
          }}
          onInvalid={(errors) => {
            onPublishInvalid(errors, 'Run refused')
            setDialog(null)
          }}
          onStarted={(detail) => {
            tracker.track(detail)
            setTab('results')
          }}
          onClose={() => setDialog(null)}
        />
        <PublishDialog
          open={dialog === 'publish'}
          pipeline={pipeline}
          beforePublish={saveNow}
          onPublished={onPublished}
          onInvalid={(errors) => {
            onPublishInvalid(errors)
            setDialog(null)
          }}
          onClose={() => setDialog(null)}
        />
        <VersionsDialog
          open={dialog === 'versions'}
          pipelineId={pipelineId}
          onOpenVersion={openVersion}
          onRestore={restoreVersion}
          onClose={() => setDialog(null)}
        />
      </div>
    </StudioContext.Provider>
  )
}

function PipelineName({ name, onRename }) {
  const [value, setValue] = useState(name)
  useEffect(() => setValue(name), [name])
  return (
    <input
      className="pipeline-name"
      aria-label="Pipeline name"
      value={value}
      maxLength={120}
      onChange={(e) => setValue(e.target.value)}
      onBlur={() => (value.trim() ? onRename(value.trim()) : setValue(name))}
      onKeyDown={(e) => e.key === 'Enter' && e.currentTarget.blur()}
    />
  )
}

function PipelineOverview({ pipeline, validation }) {
  return (
    <section className="overview" aria-labelledby="overview-title">
      <h2 id="overview-title">{pipeline.name}</h2>
      <p className="muted small">
        {pipeline.published_version ? `Published v${pipeline.published_version}` : 'Not published yet'}
        {pipeline.slug ? ` · slug ${pipeline.slug}` : ''}
      </p>
      {validation.general.length > 0 && (
        <ul className="error-list" role="alert" data-testid="general-errors">
          {validation.general.map((e, i) => (
            <li key={i} data-code={e.code}>
              {e.message}
            </li>
          ))}
        </ul>
      )}
      <h3>How to</h3>
      <ul className="help small">
        <li>Drag a node from the palette (or press its +), then wire an output (right) to an input (left).</li>
        <li>Select a node to edit its parameters here. Delete or Backspace removes the selection.</li>
        <li>Ctrl+Z undoes, Ctrl+Shift+Z redoes. The draft saves itself.</li>
        <li>Run tries the draft; Publish makes it an API.</li>
      </ul>
    </section>
  )
}
