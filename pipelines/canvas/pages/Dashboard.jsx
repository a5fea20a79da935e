// /studio/: the creator's pipelines with their last run; create, rename, duplicate, delete.
import { useState } from 'react'
import { studio } from '../lib/api.js'
import { formatTime } from '../lib/format.js'
import { ConfirmButton, ErrorNote, StatusBadge, useAsync } from '../components/common.jsx'

function CreateForm({ onError }) {
  const [name, setName] = useState('')
  const [busy, setBusy] = useState(false)
  const submit = async (e) => {
    e.preventDefault()
    setBusy(true)
    try {
      const p = await studio.createPipeline({ name })
      window.location.assign(`/studio/${p.id}/`)
    } catch (err) {
      onError(err)
      setBusy(false)
    }
  }
  return (
    <form className="inline-form card" onSubmit={submit} aria-label="New pipeline">
      <div className="field grow">
        <label htmlFor="new-pipeline-name">New pipeline name</label>
        <input id="new-pipeline-name" value={name} required maxLength={120} placeholder="e.g. Upscale and watermark check"
          onChange={(e) => setName(e.target.value)} />
      </div>
      <button className="button primary" type="submit" disabled={busy}>
        Create pipeline
      </button>
    </form>
  )
}

function Row({ p, onChanged, onError }) {
  const [renaming, setRenaming] = useState(false)
  const [name, setName] = useState(p.name)
  const rename = async (e) => {
    e.preventDefault()
    try {
      await studio.updatePipeline(p.id, { name })
      setRenaming(false)
      onChanged()
    } catch (err) {
      onError(err)
    }
  }
  return (
    <tr data-testid="pipeline-row" data-pipeline-id={p.id}>
      <td>
        {renaming ? (
          <form className="inline-form tight" onSubmit={rename}>
            <label className="sr-only" htmlFor={`rename-${p.id}`}>
              New name for {p.name}
            </label>
            <input id={`rename-${p.id}`} value={name} required maxLength={120} autoFocus
              onChange={(e) => setName(e.target.value)} />
            <button className="button small primary" type="submit">
              Save
            </button>
            <button className="button small" type="button" onClick={() => setRenaming(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <a href={`/studio/${p.id}/`} className="pipeline-link">
            {p.name}
          </a>
        )}
        {p.description && <div className="muted small">{p.description}</div>}
      </td>
      <td>{p.published_version ? `v${p.published_version}` : <span className="muted">draft only</span>}</td>
      <td>
        {p.last_run ? (
          <a href={`/studio/${p.id}/runs/`} title={formatTime(p.last_run.created_at)}>
            <StatusBadge status={p.last_run.status} /> <span className="muted small">{formatTime(p.last_run.created_at)}</span>
          </a>
        ) : (
          <span className="muted">no runs</span>
        )}
      </td>
      <td className="muted small">{formatTime(p.updated_at)}</td>
      <td>
                <div className="row-actions">
        <a className="button small" href={`/studio/${p.id}/`}>
          Open
        </a>
        <button className="button small" type="button" onClick={() => setRenaming(true)} aria-label={`Rename ${p.name}`}>
          Rename
        </button>
        <button
          className="button small"
          type="button"
          aria-label={`Duplicate ${p.name}`}
          onClick={async () => {
            try {
              await studio.duplicate(p.id)
              onChanged()
            } catch (err) {
              onError(err)
            }
          }}
        >
          Duplicate
        </button>
        <ConfirmButton
          className="small"
          question={`Delete ${p.name}?`}
          confirmLabel="Delete"
          onConfirm={async () => {
            try {
              await studio.deletePipeline(p.id)
              onChanged()
            } catch (err) {
              onError(err)
            }
          }}
        >
          Delete
        </ConfirmButton>
      </div>
              </td>
    </tr>
  )
}

export function DashboardPage() {
  const list = useAsync(() => studio.pipelines(), [])
  const [error, setError] = useState(null)
  const items = Array.isArray(list.data) ? list.data : list.data?.results || []
  return (
    <div className="page-stack">
      <div className="page-title">
        <h1>Your pipelines</h1>
        <a className="button" href="/studio/queue/">
          Queue
        </a>
      </div>
      <CreateForm onError={setError} />
      <ErrorNote error={error || list.error} />
      {list.loading && !list.data && <p aria-busy="true">Loading…</p>}
      {list.data && items.length === 0 && (
        <div className="card empty">
          <p>No pipelines yet. Name one above, then drag nodes onto the canvas and wire them together.</p>
        </div>
      )}
      {items.length > 0 && (
        <div className="card table-wrap">
          <table className="table" aria-label="Pipelines">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Published</th>
                <th scope="col">Last run</th>
                <th scope="col">Updated</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((p) => (
                <Row key={p.id} p={p} onChanged={list.reload} onError={setError} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}
