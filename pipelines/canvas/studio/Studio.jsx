// /studio/<id>/: the canvas. Holds the draft graph (React Flow nodes/edges), autosaves it with PATCH, shows
// the server's validation on the nodes, and drives publish, runs, the queue and versions (open, compare,
// restore, roll back) through the studio API. /studio/<id>/?run=<run id> opens with that run on the graph.
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
  GROUP_NODE_TYPE,
  NOTE_NODE_TYPE,
  apiToFlow,
  errorsByNode,
  findPort,
  flowToApi,
  graphKey,
  indexNodeTypes,
  runInputs,
} from '../lib/graph.js'
import { diffLines, diffMarks, diffWires, wireKey } from '../lib/editing.js'
import { Dialog, ErrorNote } from '../components/common.jsx'
import { BoxesOverlay } from '../components/Outputs.jsx'
import { QueuePanel } from '../components/QueuePanel.jsx'
import { StudioContext } from './context.js'
import { PipelineNode } from './PipelineNode.jsx'
import { NoteNode } from './NoteNode.jsx'
import { GroupNode } from './GroupNode.jsx'
import { NodeSearch } from './NodeSearch.jsx'
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

const FLOW_NODE_TYPES = { [FLOW_NODE_TYPE]: PipelineNode, [NOTE_NODE_TYPE]: NoteNode, [GROUP_NODE_TYPE]: GroupNode }
const TIP_MS = 3500

function isTyping(target) {
  const tag = target?.tagName
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || target?.isContentEditable
}

/** The first render of the canvas with its nodes, for the browser test's timing (Performance API). */
function markInteractive() {
  if (performance.getEntriesByName('canvas-interactive').length) return
  requestAnimationFrame(() => performance.mark('canvas-interactive'))
}
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
  const [view, setView] = useState(null) // a published version shown read-only: {number, nodes, edges, diff?}
  const [validation, setValidation] = useState({ byNode: {}, general: [] })
  const [notice, setNotice] = useState(null)
  const [dialog, setDialog] = useState(null) // 'run' | 'publish' | 'versions'
  const [tab, setTab] = useState('inspect')
  const [search, setSearch] = useState(null) // the node search, opened at {x, y} (screen)
  const [tip, setTip] = useState(null) // why a wire was refused, next to the pointer
  const [lightbox, setLightbox] = useState(null) // an image opened full size
  const tipTimer = useRef(null)
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
        const runId = new URLSearchParams(window.location.search).get('run')
        if (runId) {
          studio.run(runId).then((detail) => {
            if (!live) return
            tracker.track(detail)
            setTab('results')
          }, (err) => live && setNotice({ kind: 'error', text: `Run ${runId}: ${err.message}` }))
        }
      })
      .catch((err) => live && setLoadError(err))
    return () => {
      live = false
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [pipelineId])

  // -- editing ---------------------------------------------------------------------------------------------
  const pointerTip = useCallback((t) => {
    clearTimeout(tipTimer.current)
    const box = wrapper.current?.getBoundingClientRect()
    setTip(box ? { ...t, x: t.x - box.left + 14, y: t.y - box.top + 14 } : null)
    tipTimer.current = setTimeout(() => setTip(null), TIP_MS)
  }, [])
  useEffect(() => () => clearTimeout(tipTimer.current), [])

  const editing = useGraphEditing({
    nodes, setNodes, edges, setEdges, setView, nodeTypes, readOnly, wrapper,
    notify: setNotice,
    onAdded: () => setTab('inspect'),
    pointerTip,
  })
  const { copy, paste, duplicate } = editing

  // Ctrl/Cmd+C, V and D on the canvas (not while typing in a field, a dialog open or a version shown).
  useEffect(() => {
    const onKey = (e) => {
      if (!(e.ctrlKey || e.metaKey) || e.altKey || isTyping(e.target) || readOnly || dialog) return
      if (document.querySelector('dialog[open]')) return
      const key = e.key.toLowerCase()
      if (key === 'c') {
        if (window.getSelection()?.toString()) return // copying text of the page
        const n = copy()
        if (n) setNotice({ kind: 'info', text: `Copied ${n} node${n === 1 ? '' : 's'}. Ctrl+V pastes.` })
      } else if (key === 'v') {
        e.preventDefault()
        paste()
      } else if (key === 'd') {
        e.preventDefault()
        duplicate()
      }
    }
    document.addEventListener('keydown', onKey)
    return () => document.removeEventListener('keydown', onKey)
  }, [copy, paste, duplicate, readOnly, dialog])

  const openSearch = useCallback(
    (e) => {
      if (readOnly) return
      e.preventDefault()
      const box = wrapper.current?.getBoundingClientRect()
      if (!box) return
      setSearch({ x: e.clientX - box.left, y: e.clientY - box.top, screen: { x: e.clientX, y: e.clientY } })
    },
    [readOnly],
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
  const compareVersions = useCallback(
    async (from, to) => {
      try {
        const [diff, older, newer] = await Promise.all([
          studio.versionDiff(pipelineId, from, to),
          studio.version(pipelineId, from),
          studio.version(pipelineId, to),
        ])
        const flow = apiToFlow(newer.graph)
        // nodes the newer version removed are shown where they were, marked as removed
        const removed = new Set((diff.nodes.removed || []).map((n) => n.id))
        const before = apiToFlow(older.graph)
        const ghosts = before.nodes.filter((n) => removed.has(n.id))
        const gone = diffWires(diff).removed
        const ghostEdges = before.edges.filter((e) => gone.has(wireKey(e))).map((e) => ({ ...e, id: `removed-${e.id}` }))
        setView({ number: to, nodes: [...flow.nodes, ...ghosts], edges: [...flow.edges, ...ghostEdges], diff })
        setDialog(null)
        fitLater()
      } catch (err) {
        setNotice({ kind: 'error', text: err.message })
      }
    },
    [pipelineId, fitLater],
  )

  const rollbackTo = useCallback(
    async (number) => {
      try {
        const body = await studio.rollback(pipelineId, number)
        const detail = await studio.pipeline(pipelineId)
        setPipeline({ ...detail, graph: undefined })
        setDialog(null)
        setNotice({
          kind: 'info',
          text: `Rolled back: v${body.version.number} is live with v${number}'s graph. The session key is unchanged` +
            `${body.session_key_prefix ? ` (${body.session_key_prefix}…)` : ''}; callers change nothing.`,
        })
      } catch (err) {
        setNotice({ kind: 'error', text: err.message })
      }
    },
    [pipelineId],
  )

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
  const marks = useMemo(() => diffMarks(view?.diff), [view?.diff])
  const shownNodes = useMemo(() => {
    if (!view) return nodes
    if (!view.diff) return view.nodes
    return view.nodes.map((n) => (marks[n.id] ? { ...n, className: `diff-${marks[n.id].kind}` } : n))
  }, [view, nodes, marks])
  const baseEdges = view ? view.edges : edges
  const wires = useMemo(() => diffWires(view?.diff), [view?.diff])
  const shownEdges = useMemo(
    () =>
      baseEdges.map((e) => {
        const src = shownNodes.find((n) => n.id === e.source)
        const port = findPort(nodeTypes[src?.data.nodeType], 'source', e.sourceHandle)
        const status = run.nodes[e.target]?.status
        const key = view?.diff ? wireKey(e) : null
        const change = key && (wires.added.has(key) ? ' diff-added' : wires.removed.has(key) ? ' diff-removed' : '')
        return { ...e, className: `edge-${port?.type || 'any'}${change || ''}`, animated: status === 'running' }
      }),
    [baseEdges, shownNodes, nodeTypes, run.nodes, view?.diff, wires],
  )
  // Read once per mount: React Flow would otherwise keep a fit queued on an empty canvas and run it under
  // the first node dropped (and a later change of the prop queues a fit too).
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const fitOnMount = useMemo(() => shownNodes.length > 0, [flowKey])
  const selected = shownNodes.filter((n) => n.selected)
  const selectedNode = selected.length === 1 && selected[0].type === FLOW_NODE_TYPE ? selected[0] : null
  const ctx = useMemo(
    () => ({
      nodeTypes,
      errorsByNode: readOnly ? {} : validation.byNode,
      runNodes: readOnly ? {} : run.nodes,
      currentNode: readOnly ? null : run.currentNode,
      runOutputs: readOnly ? null : run.outputs,
      edges: baseEdges,
      readOnly,
      diff: view?.diff ? marks : null,
      images: readOnly
        ? null
        : { graph, nodeTypes, outputs: run.outputs, inputs: run.inputs, uploads: uploads.current, runNodes: run.nodes },
      openImage: setLightbox,
      setNoteText: editing.setNoteText,
      setGroupTitle: editing.setGroupTitle,
    }),
    [nodeTypes, validation.byNode, run.nodes, run.currentNode, run.outputs, run.inputs, baseEdges, readOnly, view?.diff,
      marks, graph, editing.setNoteText, editing.setGroupTitle],
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
            validate: async () => {
              await saveNow().catch(() => null)
              const res = await validateNow()
              if (!res) return
              const n = res.errors?.length || 0
              setNotice(res.valid
                ? { kind: 'info', text: 'Valid: the graph can be published and run.' }
                : { kind: 'error', text: `Not valid: ${n} problem${n === 1 ? '' : 's'} marked on the canvas.` })
            },
            note: editing.addNote,
            group: editing.addGroup,
            versions: () => setDialog('versions'),
            run: startRunDialog,
            publish: () => setDialog('publish'),
          }}
        />
        {readOnly && view.diff && (
          <DiffBanner diff={view.diff} onBack={() => {
            setView(null)
            fitLater()
          }} />
        )}
        {readOnly && !view.diff && (
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
            {tip && (
              <div className="wire-tip" role="alert" data-testid="wire-tip" style={{ left: tip.x, top: tip.y }}>
                {tip.text}
              </div>
            )}
            {search && (
              <NodeSearch at={search} specs={specs} onClose={() => setSearch(null)}
                onPick={(type) => {
                  editing.addAtScreen(type, search.screen)
                  setSearch(null)
                }} />
            )}
            <ReactFlow
              key={flowKey}
              onInit={markInteractive}
              zoomOnDoubleClick={false}
              onDoubleClick={(e) => e.target.classList?.contains('react-flow__pane') && openSearch(e)}
              onPaneContextMenu={openSearch}
              fitView={fitOnMount}
              fitViewOptions={FIT_VIEW}
              nodes={shownNodes}
              edges={shownEdges}
              nodeTypes={FLOW_NODE_TYPES}
              onNodesChange={editing.onNodesChange}
              onNodeDragStart={editing.onNodeDragStart}
              onNodeDragStop={editing.onNodeDragStop}
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
              <button type="button" role="tab" id="tab-queue" aria-selected={tab === 'queue'}
                aria-controls="panel-queue" onClick={() => setTab('queue')}>
                Queue
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
            <div role="tabpanel" id="panel-queue" aria-labelledby="tab-queue" hidden={tab !== 'queue'}
              className="panel-body">
              {tab === 'queue' && <QueuePanel />}
              <p>
                <a href="/studio/queue/">All your runs →</a>
              </p>
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
          onRollback={rollbackTo}
          onCompare={compareVersions}
          onClose={() => setDialog(null)}
        />
        <Dialog open={lightbox !== null} title={lightbox?.label || 'Image'} onClose={() => setLightbox(null)} wide>
          {lightbox && (
            <div className="lightbox" data-testid="lightbox">
              {lightbox.boxes ? (
                <BoxesOverlay image={lightbox.image} boxes={lightbox.boxes} label={lightbox.label} />
              ) : (
                <img src={lightbox.url} alt={`${lightbox.label} (full size)`} />
              )}
              <a href={lightbox.url} target="_blank" rel="noopener">Open in a new tab</a>
            </div>
          )}
        </Dialog>
      </div>
    </StudioContext.Provider>
  )
}

function DiffBanner({ diff, onBack }) {
  const lines = diffLines(diff)
  return (
    <div className="readonly-banner diff-banner" role="status" data-testid="diff-banner">
      <div>
        Changes from v{diff.from} to v{diff.to}
        {diff.identical ? ': none.' : ` (${lines.length}), highlighted on the graph:`}
        {lines.length > 0 && (
          <ul className="diff-lines" data-testid="diff-lines">
            {lines.map((l) => (
              <li key={l}>{l}</li>
            ))}
          </ul>
        )}
      </div>
      <button type="button" className="button small" onClick={onBack}>
        Back to draft
      </button>
    </div>
  )
}
