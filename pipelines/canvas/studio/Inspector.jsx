// The side panel: the selected node's description and parameters (generated from its schema), the output
// names of the OUTPUT__ node, and pipeline-level issues when nothing is selected.
import { useState } from 'react'
import { dynamicPortNames } from '../lib/graph.js'
import { ParamField } from './ParamField.jsx'

function OutputNames({ nodeId, edges, readOnly, onRename }) {
  const names = dynamicPortNames(nodeId, edges)
  const [drafts, setDrafts] = useState({})
  const [error, setError] = useState(null)
  if (!names.length) {
    return <p className="muted small">Wire any node output into “+ output” to add an output key.</p>
  }
  return (
    <fieldset className="output-names">
      <legend>Output keys</legend>
      {names.map((name) => {
        const id = `outname-${nodeId}-${name}`
        const value = drafts[name] ?? name
        const commit = () => {
          if (value === name) return
          const ok = onRename(name, value)
          setError(ok ? null : `“${value}” is not a usable output name (letters, digits, _; unique)`)
          setDrafts((d) => {
            const next = { ...d }
            delete next[name]
            return next
          })
        }
        return (
          <div className="field" key={name}>
            <label htmlFor={id}>Output key for wire “{name}”</label>
            <input id={id} value={value} readOnly={readOnly}
              onChange={(e) => setDrafts((d) => ({ ...d, [name]: e.target.value }))}
              onBlur={commit}
              onKeyDown={(e) => e.key === 'Enter' && commit()} />
          </div>
        )
      })}
      {error && <small className="field-error" role="alert">{error}</small>}
    </fieldset>
  )
}

export function NodeInspector({ node, spec, edges, errors, readOnly, onParam, onDelete, onRenameOutput }) {
  const props = spec?.params_schema?.properties || {}
  const required = new Set(spec?.params_schema?.required || [])
  const paramErrors = {}
  for (const e of errors || []) if (e.port && props[e.port]) paramErrors[e.port] = e.message
  const otherErrors = (errors || []).filter((e) => !(e.port && props[e.port]))
  return (
    <section className="inspector-node" aria-labelledby="inspector-title" data-testid="inspector" data-node-id={node.id}>
      <header>
        <h2 id="inspector-title">
          {spec?.title || node.data.nodeType} <span className="pnode-id">{node.id}</span>
        </h2>
        <code>{node.data.nodeType}</code>
      </header>
      {spec?.description && <p className="muted">{spec.description}</p>}
      {spec && (
        <p className="small muted">
          {spec.credit_cost} credit{spec.credit_cost === 1 ? '' : 's'} · {spec.resource_class}
          {spec.max_retries ? ` · up to ${spec.max_retries} retries` : ''}
          {spec.max_input_pixels ? ` · images up to ${(spec.max_input_pixels / 1e6).toFixed(1)} MP` : ''}
          {spec.seconds_per_megapixel ? ` · about ${spec.seconds_per_megapixel} s per MP on a CPU worker` : ''}
        </p>
      )}
      {otherErrors.length > 0 && (
        <ul className="error-list" role="alert">
          {otherErrors.map((e, i) => (
            <li key={i}>{e.message}</li>
          ))}
        </ul>
      )}
      {Object.keys(props).length > 0 ? (
        <form className="params" onSubmit={(e) => e.preventDefault()} aria-label="Parameters">
          {Object.entries(props).map(([name, prop]) => (
            <ParamField key={name} nodeId={node.id} name={name} prop={prop} value={node.data.params?.[name]}
              required={required.has(name)} readOnly={readOnly} serverError={paramErrors[name]}
              onChange={(v) => onParam(name, v)} />
          ))}
        </form>
      ) : (
        !spec?.dynamic_inputs && <p className="muted small">This node has no parameters.</p>
      )}
      {spec?.dynamic_inputs && (
        <OutputNames nodeId={node.id} edges={edges} readOnly={readOnly} onRename={onRenameOutput} />
      )}
      {!readOnly && (
        <button type="button" className="button danger small" onClick={onDelete}>
          Delete node
        </button>
      )}
    </section>
  )
}

export function PipelineOverview({ pipeline, validation }) {
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
        <li>Double-click or right-click the empty canvas to search for a node; Enter drops it there.</li>
        <li>Ctrl+C, Ctrl+V and Ctrl+D copy, paste and duplicate the selected nodes (Ctrl+click selects more).</li>
        <li>Group frames the selected nodes; drag the frame to move them together.</li>
        <li>Ctrl+Z undoes, Ctrl+Shift+Z redoes. The draft saves itself.</li>
        <li>Run tries the draft; Publish makes it an API.</li>
      </ul>
    </section>
  )
}
