// The run state the canvas shows: built from the run detail (GET /api/v1/studio/runs/{id}) and kept current by
// the WebSocket's events. Pure reducer functions; tests/frontend/runs.test.js covers them.

export const TERMINAL_RUN = new Set(['completed', 'failed', 'cancelled', 'blocked'])
export const ACTIVE_RUN = new Set(['queued', 'running'])

const STATUS_LABEL = {
  queued: 'queued',
  running: 'running',
  completed: 'done',
  failed: 'failed',
  blocked: 'blocked',
  skipped: 'skipped',
  cancelled: 'cancelled',
}

/** The word shown for a run or node status ("completed" reads "done"). */
export function statusLabel(status) {
  return STATUS_LABEL[status] || status || ''
}

export function emptyRun() {
  return {
    id: null,
    status: null,
    progress: 0,
    currentNode: null,
    nodes: {},
    outputs: null,
    error: null,
    creditsUsed: null,
    creditsReserved: null,
    createdAt: null,
    startedAt: null,
    finishedAt: null,
    inputs: null,
    resumable: false,
    resumes: 0,
    lastEventId: 0,
  }
}

/** The API reports progress in percent (0..100); the canvas works in fractions 0..1. */
export function fraction(percent) {
  const n = Number(percent)
  if (!Number.isFinite(n) || n <= 0) return 0
  return Math.min(n / 100, 1)
}

/**
 * Output values as the page shows them. The API stores non-image outputs as {type, value} and images as
 * artifact descriptions ({type: "image", url, width, height, artifact_id, …}); the wrapper is dropped.
 */
export function unwrapOutputs(outputs) {
  if (!outputs || typeof outputs !== 'object') return outputs ?? null
  const out = {}
  for (const [key, v] of Object.entries(outputs)) {
    const wrapped = v && typeof v === 'object' && !Array.isArray(v) && 'value' in v && typeof v.type === 'string' &&
      Object.keys(v).every((k) => k === 'type' || k === 'value')
    out[key] = wrapped ? v.value : v
  }
  return out
}

function nodeState(prev, patch) {
  return {
    status: 'queued', progress: 0, outputs: null, error: null, cached: false, reused: false, fallbackUsed: false,
    attempts: 0, attemptLog: [], ...(prev || {}), ...patch,
  }
}

/**
 * What the canvas says of how a node got its result: taken from the cache, kept from before a resume, made
 * by its fallback, or after retries (null when it simply ran once).
 */
export function nodeNote(runNode) {
  if (!runNode) return null
  if (runNode.cached) return { kind: 'cached', text: 'cached: not run again, not billed' }
  if (runNode.reused) return { kind: 'reused', text: 'reused from before the resume' }
  const log = runNode.attemptLog || []
  const last = log[log.length - 1]
  if (runNode.fallbackUsed && last) {
    return { kind: 'fallback', text: `fallback ${last.node_type}${last.provider ? ` (${last.provider})` : ''}` }
  }
  if ((runNode.attempts || log.length) > 1) return { kind: 'retried', text: `${runNode.attempts || log.length} attempts` }
  return null
}

/** One line per attempt, for the node's tooltip: "2. IMAGE__UPSCALE failed UPSCALE_FAILED (312 ms)". */
export function attemptLines(runNode) {
  return (runNode?.attemptLog || []).map((a) =>
    `${a.attempt}. ${a.node_type}${a.provider ? ` (${a.provider})` : ''} ${a.outcome || 'running'}` +
    `${a.error?.code ? ` ${a.error.code}` : ''}${a.duration_ms !== undefined ? ` (${a.duration_ms} ms)` : ''}`)
}

function errorText(err) {
  if (!err) return null
  if (typeof err === 'string') return err
  return err.message || err.detail || err.error || JSON.stringify(err)
}

/** Replace the state with what the run detail says (the source of truth after a reconnect). */
export function applyRunDetail(state, run) {
  const nodes = { ...state.nodes }
  for (const n of run.nodes || []) {
    nodes[n.node_id] = nodeState(nodes[n.node_id], {
      status: n.status,
      progress: n.status === 'completed' ? 1 : fraction(n.progress),
      outputs: n.outputs && Object.keys(n.outputs).length ? unwrapOutputs(n.outputs) : null,
      error: errorText(n.error),
      type: n.type,
      cached: Boolean(n.cached),
      reused: Boolean(n.reused),
      fallbackUsed: Boolean(n.fallback_used),
      attempts: n.attempts || 0,
      attemptLog: n.attempt_log || [],
    })
  }
  return {
    ...state,
    id: run.id,
    status: run.status,
    progress: fraction(run.progress),
    currentNode: TERMINAL_RUN.has(run.status) ? null : run.current_node || null,
    nodes,
    outputs: run.outputs && Object.keys(run.outputs).length ? unwrapOutputs(run.outputs) : state.outputs,
    inputs: run.inputs || state.inputs || null,
    error: errorText(run.error),
    creditsUsed: run.credits_used ?? null,
    creditsReserved: run.credits_reserved ?? null,
    createdAt: run.created_at || null,
    startedAt: run.started_at || null,
    finishedAt: run.finished_at || null,
    resumable: Boolean(run.resumable),
    resumes: run.resumes || 0,
    // The detail is the state as of this event: the socket replays only what comes after it.
    lastEventId: Math.max(state.lastEventId || 0, run.last_event_id || 0),
  }
}

/** Apply one WebSocket event; events at or below the last seen id are ignored (replays after reconnect). */
export function applyEvent(state, event) {
  if (!event || typeof event.type !== 'string') return state
  if (typeof event.id === 'number') {
    if (event.id <= state.lastEventId) return state
  }
  const next = { ...state, lastEventId: typeof event.id === 'number' ? event.id : state.lastEventId }
  const data = event.data || {}
  const node = event.node
  const setNode = (patch) => {
    next.nodes = { ...next.nodes, [node]: nodeState(next.nodes[node], patch) }
  }
  switch (event.type) {
    case 'run.queued':
      next.status = 'queued'
      break
    case 'run.started':
      next.status = 'running'
      break
    case 'node.started':
      if (node) setNode({ status: 'running', progress: 0, error: null })
      next.status = 'running'
      next.currentNode = node || next.currentNode
      break
    case 'node.progress':
      if (node) setNode({ status: 'running', progress: fraction(data.progress) })
      next.currentNode = node || next.currentNode
      break
    case 'node.completed':
      if (node) setNode({ status: 'completed', progress: 1, outputs: unwrapOutputs(data.outputs), cached: Boolean(data.cached) })
      if (next.currentNode === node) next.currentNode = null
      break
    case 'node.failed':
      if (node) setNode({ status: 'failed', error: errorText(data.error) || data.message || 'failed' })
      break
    case 'node.blocked':
      if (node) setNode({ status: 'blocked', outputs: unwrapOutputs(data.outputs), error: errorText(data.error) || data.message || null })
      break
    case 'node.skipped':
    case 'node.cancelled':
      if (node) setNode({ status: event.type.slice(5) })
      break
    case 'node.retrying':
      if (node) setNode({ status: 'running', error: `retrying (attempt ${data.attempt || '?'} failed)` })
      break
    case 'node.fallback':
      if (node) setNode({ status: 'running', fallbackUsed: true, error: `falling back to ${data.type || 'its fallback'}` })
      break
    case 'run.resumed':
    case 'run.requeued': {
      // Nodes kept from before run again no more; the others start over.
      const reused = new Set(data.reused || [])
      next.nodes = Object.fromEntries(Object.entries(next.nodes).map(([id, n]) => [id, reused.has(id)
        ? { ...n, reused: true } : nodeState(null, { type: n.type })]))
      next.status = 'queued'
      next.error = null
      next.resumable = false
      next.finishedAt = null
      break
    }
    default:
      if (event.type.startsWith('run.')) {
        const status = event.type.slice(4)
        if (TERMINAL_RUN.has(status)) {
          next.status = status
          next.currentNode = null
          next.resumable = status === 'failed' || status === 'cancelled'
          // Outputs come from the run detail fetched next: this event's images carry no URL.
          if (status !== 'completed') next.error = errorText(data.error) || data.message || data.reason || null
          if (data.credits_used !== undefined) next.creditsUsed = data.credits_used
          if (status === 'completed') next.progress = 1
        }
      }
  }
  if (data.run_progress !== undefined) next.progress = fraction(data.run_progress)
  return next
}

/** The WebSocket URL for a run (same host as the page). */
export function runSocketUrl(location, runId, token, after) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const params = new URLSearchParams()
  if (token) params.set('token', token)
  if (after) params.set('after', String(after))
  return `${proto}//${location.host}/ws/runs/${encodeURIComponent(runId)}/?${params}`
}

/**
 * The URL of the image a node produced on `port` in a run, when the page can know it: the image the node stored
 * (studio runs keep every node's images; their URLs come with the run detail, not with the live events), a
 * run output (the port is wired into OUTPUT__) or the run's own input image (an INPUT__ node: a URL, or an
 * art_ id this page uploaded). Null otherwise (e.g. a run made before intermediate images were kept).
 */
export function imageAt(nodeId, port, { graph, nodeTypes, outputs, inputs, uploads, runNodes }) {
  const own = runNodes?.[nodeId]?.outputs?.[port]
  if (own && typeof own === 'object' && typeof own.url === 'string') return own
  const nodes = graph?.nodes || []
  const byId = Object.fromEntries(nodes.map((n) => [n.id, n]))
  for (const e of graph?.edges || []) {
    if (e.from?.node !== nodeId || e.from?.port !== port) continue
    const target = byId[e.to?.node]
    if (target && nodeTypes[target.type]?.dynamic_inputs) {
      const value = outputs?.[e.to.port]
      if (value && typeof value === 'object' && typeof value.url === 'string') return value
    }
  }
  const node = byId[nodeId]
  const spec = node && nodeTypes[node.type]
  if (spec?.exposes_input && (spec.outputs || []).some((p) => p.name === port && p.type === 'image')) {
    const defaults = spec.params_schema?.properties?.name?.default
    const name = node.params?.name ?? defaults
    const value = inputs?.[name]
    if (typeof value === 'string') {
      if (value.startsWith('art_')) return uploads?.[value] ? { url: uploads[value] } : null
      if (/^(https?:|data:image\/)/.test(value)) return { url: value }
    }
  }
  return null
}

/** The image flowing into `nodeId`'s input `port` (see imageAt). */
export function imageInto(nodeId, port, ctx) {
  const edge = (ctx.graph?.edges || []).find((e) => e.to?.node === nodeId && e.to?.port === port)
  return edge ? imageAt(edge.from.node, edge.from.port, ctx) : null
}
