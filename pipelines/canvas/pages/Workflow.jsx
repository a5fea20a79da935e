// /studio/workflows/<id>/: a Sartiq workflow as a read-only graph, one node per step with its live status
// (GET /api/v1/workflows/{id}, polled while the workflow is PENDING or RUNNING).
import { useEffect, useMemo, useState } from 'react'
import { Background, Controls, Handle, Position, ReactFlow } from '@xyflow/react'
import { api } from '../lib/api.js'
import { formatDuration } from '../lib/format.js'
import { ErrorNote, StatusBadge } from '../components/common.jsx'

const POLL_MS = 1000
const LIVE = new Set(['PENDING', 'RUNNING'])
// Task and step statuses in the badge's words.
const BADGE = { PENDING: 'queued', EXECUTING: 'running', COMPLETED: 'completed', FAILED: 'failed', CANCELLED: 'cancelled' }

function StepNode({ data }) {
  const s = data.step
  return (
    <div className={`workflow-step status-${BADGE[s.status] || 'queued'}`} data-testid={`step-${s.step_id}`} data-status={s.status}>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <Handle type="source" position={Position.Right} isConnectable={false} />
      <strong>{s.step_id}</strong>
      <div>
        <code>{s.task_type}</code>
      </div>
      <StatusBadge status={BADGE[s.status] || 'queued'} />
      {s.started_at && <span className="muted"> {formatDuration(s.started_at, s.completed_at)}</span>}
      {s.error_message && <div className="error-text">{s.error_message}</div>}
    </div>
  )
}

const nodeTypes = { step: StepNode }

/** Steps laid out by depth: a step sits one column right of the deepest step it depends on. */
export function layout(steps) {
  const depth = {}
  const byId = Object.fromEntries(steps.map((s) => [s.step_id, s]))
  const depthOf = (id, seen = new Set()) => {
    if (depth[id] !== undefined) return depth[id]
    if (seen.has(id)) return 0
    seen.add(id)
    const s = byId[id]
    const parents = s ? [...s.dependencies, ...(s.input_mappings || []).map((m) => m.from_step)] : []
    depth[id] = parents.length ? 1 + Math.max(...parents.map((p) => depthOf(p, seen))) : 0
    return depth[id]
  }
  const rows = {}
  const nodes = steps.map((s) => {
    const d = depthOf(s.step_id)
    rows[d] = (rows[d] || 0) + 1
    return { id: s.step_id, type: 'step', position: { x: d * 280, y: (rows[d] - 1) * 140 }, data: { step: s } }
  })
  const edges = []
  for (const s of steps) {
    const parents = new Set([...s.dependencies, ...(s.input_mappings || []).map((m) => m.from_step)])
    for (const p of parents) {
      const mapped = (s.input_mappings || []).filter((m) => m.from_step === p).map((m) => m.to_field)
      edges.push({ id: `${p}->${s.step_id}`, source: p, target: s.step_id, label: mapped.join(', ') || undefined,
                   animated: s.status === 'EXECUTING' })
    }
  }
  return { nodes, edges }
}

export function WorkflowPage({ workflowId }) {
  const [workflow, setWorkflow] = useState(null)
  const [error, setError] = useState(null)
  useEffect(() => {
    let stop = false
    let timer
    const load = async () => {
      try {
        const wf = await api(`/api/v1/workflows/${encodeURIComponent(workflowId)}`)
        if (stop) return
        setWorkflow(wf)
        setError(null)
        if (LIVE.has(wf.status)) timer = setTimeout(load, POLL_MS)
      } catch (err) {
        if (!stop) setError(err)
      }
    }
    load()
    return () => {
      stop = true
      clearTimeout(timer)
    }
  }, [workflowId])
  const graph = useMemo(() => (workflow ? layout(workflow.steps) : { nodes: [], edges: [] }), [workflow])
  if (error) return <ErrorNote error={error.message} />
  if (!workflow) return <p aria-busy="true">Loading…</p>
  return (
    <div className="workflow-page">
      <h1>
        {workflow.name} <span data-testid="workflow-status" data-status={workflow.status}>{workflow.status}</span>
      </h1>
      <p className="muted">
        {workflow.completed_steps} of {workflow.total_steps} steps done
        {workflow.current_step ? `, now ${workflow.current_step}` : ''}
      </p>
      {workflow.error_message && <ErrorNote error={workflow.error_message} />}
      <div className="workflow-graph" style={{ height: 480 }}>
        <ReactFlow
          nodes={graph.nodes}
          edges={graph.edges}
          nodeTypes={nodeTypes}
          nodesDraggable={false}
          nodesConnectable={false}
          elementsSelectable={false}
          fitView
          fitViewOptions={{ maxZoom: 1 }}
        >
          <Background />
          <Controls showInteractive={false} />
        </ReactFlow>
      </div>
    </div>
  )
}
