// /studio/<id>/: the canvas. Holds the draft graph (React Flow nodes/edges), autosaves it with PATCH, shows
// the server's validation on the nodes, and drives publish, runs and versions through the studio API.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
} from '@xyflow/react'
import { studio } from '../lib/api.js'
import {
  FLOW_NODE_TYPE,
  apiToFlow,
  errorsByNode,
  findPort,
  flowToApi,
  graphKey,
  indexNodeTypes,
  runInputs,
} from '../lib/graph.js'
import { ErrorNote } from '../components/common.jsx'
import { StudioContext } from './context.js'
import { PipelineNode } from './PipelineNode.jsx'
import { Palette } from './Palette.jsx'
import { NodeInspector, PipelineOverview } from './Inspector.jsx'
import { ResultsPanel } from './ResultsPanel.jsx'
import { RunDialog } from './RunDialog.jsx'
import { PublishDialog } from './PublishDialog.jsx'
import { VersionsDialog } from './VersionsDialog.jsx'
import { ReadOnlyBanner, Toolbar } from './Toolbar.jsx'
import { useAutosave } from './useAutosave.js'
import { useGraphEditing } from './useGraphEditing.js'
import { useGraphHistory } from './useGraphHistory.js'
import { useRunTracker } from './useRunTracker.js'

const FLOW_NODE_TYPES = { [FLOW_NODE_TYPE]: PipelineNode }
const FIT_VIEW = { padding: 0.2, maxZoom: 1 }

export function StudioPage({ pipelineId }) {
  return (
    <ReactFlowProvider>
      <Studio pipelineId={pipelineId} />
    </ReactFlowProvider>
  )
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
  const tracker = useRunTracker()
  const { run } = tracker

  const loaded = pipeline !== null && specs !== null
  const readOnly = view !== null
  const graph = useMemo(() => flowToApi(nodes, edges), [nodes, edges])
  const key = useMemo(() => graphKey(graph), [graph])
  const dragging = nodes.some((n) => n.dragging)

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

  const autosave = useAutosave({
    pipelineId,
    graphKey: key,
    active: loaded && !readOnly,
    paused: dragging,
    onSaved: (detail) => {
      setPipeline((prev) => ({ ...prev, ...detail, graph: undefined }))
      validateNow()
    },
    onError: (err) => setNotice({ kind: 'error', text: `Autosave failed: ${err.message}` }),
  })
  const { saveNow, markSaved } = autosave

  const applySnapshot = useCallback((snapshot) => {
    const flow = apiToFlow(JSON.parse(snapshot))
    setNodes(flow.nodes)
    setEdges(flow.edges)
  }, [])
  const history = useGraphHistory({ graphKey: key, active: loaded && !readOnly, paused: dragging, apply: applySnapshot })
  const { reset: resetHistory } = history

  // A whole new graph on the canvas (load, restore, a version opened) remounts React Flow, whose fitView
  // prop then frames it once its nodes are measured. Edits, undo and redo keep the view where it is.
  const [flowKey, setFlowKey] = useState(0)
  const fitLater = useCallback(() => setFlowKey((k) => k + 1), [])

  const loadGraph = useCallback(
    (apiGraph, { resetHistory: reset = false } = {}) => {
      const flow = apiToFlow(apiGraph)
      const k = graphKey(flowToApi(flow.nodes, flow.edges))
      markSaved(k)
      setNodes(flow.nodes)
      setEdges(flow.edges)
      if (reset) resetHistory(k)
      fitLater()
    },
    [markSaved, resetHistory, fitLater],
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

  // -- editing ---------------------------------------------------------------------------------------------
  const editing = useGraphEditing({
    nodes, setNodes, edges, setEdges, setView, nodeTypes, readOnly, wrapper,
    notify: setNotice,
    onAdded: () => setTab('inspect'),
  })

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
        fitLater()
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
        <Toolbar
          pipeline={pipeline}
          saveState={autosave.saveState}
          viewing={readOnly ? view.number : null}
          problemCount={problemCount}
          history={history}
          actions={{
            rename: renamePipeline,
            validate: () => saveNow().then(validateNow, () => null),
            versions: () => setDialog('versions'),
            run: startRunDialog,
            publish: () => setDialog('publish'),
          }}
        />
        {readOnly && (
          <ReadOnlyBanner
            number={view.number}
            onRestore={() => restoreVersion(view.number)}
            onBack={() => {
              setView(null)
              fitLater()
            }}
          />
        )}
        <div className="studio-body">
          <Palette specs={specs} unavailable={unavailable} onAdd={editing.addAtCenter} disabled={readOnly} />
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
              onNodesChange={editing.onNodesChange}
              onEdgesChange={editing.onEdgesChange}
              onConnect={editing.onConnect}
              onConnectEnd={editing.onConnectEnd}
              isValidConnection={editing.isValidConnection}
              onDrop={editing.onDrop}
              onDragOver={editing.onDragOver}
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
                  onParam={(name, value) => editing.setParam(selectedNode.id, name, value)}
                  onDelete={() => editing.deleteNode(selectedNode.id)}
                  onRenameOutput={(from, to) => editing.renameOutput(selectedNode.id, from, to)}
                />
              ) : (
                <PipelineOverview pipeline={pipeline} validation={readOnly ? { general: [], byNode: {} } : validation} />
              )}
            </div>
            <div role="tabpanel" id="panel-results" aria-labelledby="tab-results" hidden={tab !== 'results'}
              className="panel-body">
              <ResultsPanel run={run} graph={graph} nodeTypes={nodeTypes} uploads={uploads.current} onCancel={tracker.cancel} onResume={tracker.resume}
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
