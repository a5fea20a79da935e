// /studio/<id>/runs/: every run of a pipeline with status, time, credits and its artifacts (the artifacts of
// the owner's own runs only; other users' runs of a public pipeline come redacted, marked own: false).
import { Fragment, useState } from 'react'
import { studio } from '../lib/api.js'
import { formatDuration, formatTime } from '../lib/format.js'
import { ErrorNote, StatusBadge, useAsync } from '../components/common.jsx'
import { OutputsList, artifactLinks } from '../components/Outputs.jsx'

function RunDetails({ runId }) {
  const run = useAsync(() => studio.run(runId), [runId])
  if (run.loading) return <p aria-busy="true">Loading…</p>
  if (run.error) return <ErrorNote error={run.error} />
  const r = run.data
  const links = [...artifactLinks(r.outputs, 'outputs')]
  for (const n of r.nodes || []) links.push(...artifactLinks(n.outputs, n.node_id))
  const seen = new Set()
  const unique = links.filter((l) => !seen.has(l.url) && seen.add(l.url))
  return (
    <div className="run-details">
      {r.error && <ErrorNote error={typeof r.error === 'string' ? r.error : r.error.message || JSON.stringify(r.error)} />}
      <h3>Outputs</h3>
      <OutputsList outputs={r.outputs} />
      <h3>Artifacts</h3>
      {unique.length === 0 ? (
        <p className="muted">No artifacts.</p>
      ) : (
        <ul className="plain-list" data-testid="artifact-links">
          {unique.map((l) => (
            <li key={l.url}>
              <a href={l.url} target="_blank" rel="noopener">
                {l.path}
              </a>{' '}
              {l.id && <code className="muted">{l.id}</code>}
            </li>
          ))}
        </ul>
      )}
      <h3>Nodes</h3>
      <table className="table compact">
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Time</th>
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody>
          {(r.nodes || []).map((n) => (
            <tr key={n.node_id}>
              <td>{n.node_id}</td>
              <td>
                <code>{n.type}</code>
              </td>
              <td>
                <StatusBadge status={n.status} />
              </td>
              <td>{formatDuration(n.started_at, n.finished_at)}</td>
              <td>{n.error ? (typeof n.error === 'string' ? n.error : n.error.message || JSON.stringify(n.error)) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

export function RunHistoryPage({ pipelineId }) {
  const pipeline = useAsync(() => studio.pipeline(pipelineId), [pipelineId])
  const runs = useAsync(() => studio.runs(pipelineId), [pipelineId])
  const [open, setOpen] = useState(null)
  const items = Array.isArray(runs.data) ? runs.data : runs.data?.results || []
  return (
    <div className="page-stack">
      <nav className="breadcrumbs" aria-label="Breadcrumb">
        <a href="/studio/">Pipelines</a> › <a href={`/studio/${pipelineId}/`}>{pipeline.data?.name || 'Pipeline'}</a> › Runs
      </nav>
      <div className="page-title">
        <h1>Run history{pipeline.data ? `: ${pipeline.data.name}` : ''}</h1>
        <button type="button" className="button" onClick={runs.reload}>
          Refresh
        </button>
      </div>
      <ErrorNote error={pipeline.error || runs.error} />
      {runs.data && items.length === 0 && <p className="card muted">No runs yet. Run the pipeline from the canvas or its API.</p>}
      {items.length > 0 && (
        <div className="card table-wrap">
          <table className="table" aria-label="Runs">
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Status</th>
                <th scope="col">Version</th>
                <th scope="col">Started</th>
                <th scope="col">Duration</th>
                <th scope="col">Credits</th>
                <th scope="col">
                  <span className="sr-only">Details</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => (
                <Fragment key={r.id}>
                  <tr data-testid="run-row" data-run-id={r.id}>
                    <td>
                      <code>{r.id}</code>
                    </td>
                    <td>
                      <StatusBadge status={r.status} progress={r.progress} />
                    </td>
                    <td>{r.version ? `v${r.version}` : 'draft'}</td>
                    <td>{formatTime(r.created_at)}</td>
                    <td>{formatDuration(r.started_at || r.created_at, r.finished_at)}</td>
                    <td>{r.credits_used ?? ''}</td>
                    <td>
                      {r.own === false ? (
                        // another caller's run of this public pipeline: its inputs and results are theirs
                        <span className="muted small" title={r.error?.code || ''}>another user</span>
                      ) : (
                        <button type="button" className="button small" aria-expanded={open === r.id}
                          onClick={() => setOpen(open === r.id ? null : r.id)}>
                          {open === r.id ? 'Hide' : 'Artifacts'}
                        </button>
                      )}
                    </td>
                  </tr>
                  {open === r.id && (
                    <tr className="details-row">
                      <td colSpan={7}>
                        <RunDetails runId={r.id} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}
