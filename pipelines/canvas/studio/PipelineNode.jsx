// One node on the canvas: its ports as handles, its live run status and the server's validation errors.
import { memo, useContext, useEffect, useRef } from 'react'
import { Handle, Position, useUpdateNodeInternals } from '@xyflow/react'
import { NEW_PORT, dynamicPortNames } from '../lib/graph.js'
import { imageUrl, isImageValue } from '../lib/format.js'
import { StatusBadge } from '../components/common.jsx'
import { attemptLines, nodeNote } from '../lib/runs.js'
import { StudioContext } from './context.js'
import { NodePreview } from './NodePreview.jsx'

function PortRow({ port, side, connectable, hasError }) {
  const isNew = port.name === NEW_PORT
  return (
    <div className={`port port-${side} ${hasError ? 'port-error' : ''}`} data-port={port.name}>
      <Handle
        type={side === 'in' ? 'target' : 'source'}
        position={side === 'in' ? Position.Left : Position.Right}
        id={port.name}
        isConnectable={connectable}
        className={`handle handle-${port.type}`}
        title={`${port.name} (${port.type})${port.description ? `: ${port.description}` : ''}`}
        aria-label={`${side === 'in' ? 'input' : 'output'} ${isNew ? 'new output' : port.name} (${port.type})`}
      />
      <span className="port-name">{isNew ? '+ output' : port.name}</span>
      {!isNew && <span className={`port-type type-${port.type}`}>{port.type}</span>}
    </div>
  )
}

function OutputPreview({ outputs }) {
  const entries = Object.entries(outputs || {})
  if (!entries.length) return null
  return (
    <div className="pnode-preview" data-testid="output-preview">
      {entries.slice(0, 4).map(([k, v]) => (
        <div key={k} className="preview-item">
          <span className="preview-key">{k}</span>
          {isImageValue(v) ? (
            <img src={imageUrl(v)} alt={`Output ${k}`} />
          ) : v && typeof v === 'object' && v.type === 'image' ? (
            <span className="preview-value">image {v.width}×{v.height}</span>
          ) : (
            <span className="preview-value">
              {typeof v === 'object' ? JSON.stringify(v).slice(0, 60) : String(v).slice(0, 60)}
            </span>
          )}
        </div>
      ))}
    </div>
  )
}

function PipelineNodeView({ id, data, selected }) {
  const ctx = useContext(StudioContext)
  const spec = ctx.nodeTypes[data.nodeType]
  const errors = ctx.errorsByNode[id] || []
  const runNode = ctx.runNodes[id]
  const updateInternals = useUpdateNodeInternals()
  const inputs = spec?.dynamic_inputs
    ? [
        ...dynamicPortNames(id, ctx.edges).map((name) => ({ name, type: 'any' })),
        ...(ctx.readOnly ? [] : [{ name: NEW_PORT, type: 'any' }]),
      ]
    : spec?.inputs || []
  const outputs = spec?.outputs || []
  const handleKey = inputs.map((p) => p.name).join('|')
  const measuredKey = useRef(handleKey)
  useEffect(() => {
    // React Flow measures a node when it mounts; re-measure only when wiring adds or renames a handle
    // (a call on mount would also fire a pending fit-view before the other nodes are measured).
    if (measuredKey.current === handleKey) return
    measuredKey.current = handleKey
    updateInternals(id)
  }, [handleKey, id, updateInternals])
  const mark = ctx.diff?.[id]
  const errorPorts = new Set(errors.map((e) => e.port).filter(Boolean))
  const status = runNode?.status
  const isCurrent = ctx.currentNode === id || status === 'running'
  const classes = [
    'pnode',
    `family-${spec?.family || 'unknown'}`,
    selected ? 'selected' : '',
    status ? `run-${status}` : '',
    isCurrent ? 'current' : '',
    errors.length ? 'has-errors' : '',
    runNode?.cached ? 'run-cached' : '',
    runNode?.reused ? 'run-reused' : '',
    mark ? `diff-${mark.kind}` : '',
  ].join(' ')
  const outputsToShow = data.nodeType === 'OUTPUT__' ? ctx.runOutputs || runNode?.outputs : null
  return (
    <div className={classes} data-testid="pipeline-node" data-node-id={id} data-node-type={data.nodeType}
      data-status={status || ''} data-diff={mark?.kind || ''} aria-current={isCurrent ? 'step' : undefined}>
      <div className="pnode-header">
        <span className="pnode-title">{spec?.title || data.nodeType}</span>
        <span className="pnode-id">{id}</span>
      </div>
      <div className="pnode-type">{data.nodeType}</div>
      {mark && (
        <div className={`pnode-diff diff-${mark.kind}`} data-testid="node-diff">
          {mark.kind}
          {mark.params.length > 0 && (
            <ul>
              {mark.params.map((p) => (
                <li key={p.param} data-param={p.param}>
                  {p.param}: {p.from === undefined ? '∅' : JSON.stringify(p.from)} → {p.to === undefined ? '∅' : JSON.stringify(p.to)}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {!spec && <div className="pnode-errors">Unknown node type</div>}
      <div className="pnode-ports">
        <div className="pnode-inputs">
          {inputs.map((p) => (
            <PortRow key={p.name} port={p} side="in" connectable={!ctx.readOnly} hasError={errorPorts.has(p.name)} />
          ))}
        </div>
        <div className="pnode-outputs">
          {outputs.map((p) => (
            <PortRow key={p.name} port={p} side="out" connectable={!ctx.readOnly} hasError={false} />
          ))}
        </div>
      </div>
      {status && (
        <div className="pnode-status" data-testid="node-status">
          <StatusBadge status={status} progress={runNode.progress} />
          {status === 'running' && (
            <progress max="1" value={runNode.progress || 0} aria-label={`${id} progress`} />
          )}
          {nodeNote(runNode) && (
            <div className={`pnode-note note-${nodeNote(runNode).kind}`} data-testid="node-note"
              title={attemptLines(runNode).join('\n') || undefined}>
              {nodeNote(runNode).text}
            </div>
          )}
          {runNode.error && <div className="pnode-run-error">{runNode.error}</div>}
        </div>
      )}
      {errors.length > 0 && (
        <ul className="pnode-errors" data-testid="node-errors" role="alert">
          {errors.map((e, i) => (
            <li key={i} data-code={e.code}>
              {e.message}
            </li>
          ))}
        </ul>
      )}
      {status === 'completed' && <NodePreview id={id} type={data.nodeType} />}
      {outputsToShow && <OutputPreview outputs={outputsToShow} />}
    </div>
  )
}

export const PipelineNode = memo(PipelineNodeView)
