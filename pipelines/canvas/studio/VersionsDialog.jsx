// Published versions: open one read-only on the canvas, compare two (the changes highlighted on the graph),
// restore one as the draft, or roll back (publish it again as the newest, the session key unchanged).
import { useEffect, useState } from 'react'
import { studio } from '../lib/api.js'
import { formatTime } from '../lib/format.js'
import { ConfirmButton, Dialog, ErrorNote, useAsync } from '../components/common.jsx'

function CompareForm({ items, onCompare }) {
  const [from, setFrom] = useState('')
  const [to, setTo] = useState('')
  useEffect(() => {
    if (items.length >= 2) {
      setTo(String(items[0].number))
      setFrom(String(items[1].number))
    }
  }, [items])
  if (items.length < 2) return null
  const options = items.map((v) => (
    <option key={v.number} value={v.number}>
      v{v.number}
    </option>
  ))
  return (
    <form className="compare-form" data-testid="compare-form"
      onSubmit={(e) => {
        e.preventDefault()
        onCompare(Number(from), Number(to))
      }}>
      <label>
        Compare <select aria-label="Compare from version" value={from} onChange={(e) => setFrom(e.target.value)}>{options}</select>
      </label>
      <label>
        with <select aria-label="Compare to version" value={to} onChange={(e) => setTo(e.target.value)}>{options}</select>
      </label>
      <button type="submit" className="button small" disabled={from === to}>
        Show changes
      </button>
    </form>
  )
}

export function VersionsDialog({ open, pipelineId, onOpenVersion, onRestore, onRollback, onCompare, onClose }) {
  const versions = useAsync(() => (open ? studio.versions(pipelineId) : Promise.resolve(null)), [open, pipelineId])
  const items = versions.data || []
  return (
    <Dialog open={open} title="Published versions" onClose={onClose} wide>
      <ErrorNote error={versions.error} />
      {versions.data && items.length === 0 && <p className="muted">Nothing published yet.</p>}
      <CompareForm items={items} onCompare={onCompare} />
      {items.length > 0 && (
        <table className="table" aria-label="Versions">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Published</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((v, i) => (
              <tr key={v.number} data-testid="version-row" data-version={v.number}>
                <td>
                  v{v.number}
                  {i === 0 && <span className="badge small">live</span>}
                </td>
                <td>{formatTime(v.created_at)}</td>
                <td>
                  <div className="row-actions">
                    <button type="button" className="button small" onClick={() => onOpenVersion(v.number)}
                      aria-label={`Open version ${v.number} read-only`}>
                      Open
                    </button>
                    <ConfirmButton className="small" question={`Replace the draft with v${v.number}?`} confirmLabel="Restore"
                      onConfirm={() => onRestore(v.number)}>
                      Restore as draft
                    </ConfirmButton>
                    {i > 0 && (
                      <ConfirmButton className="small" confirmLabel="Roll back"
                        question={`Publish v${v.number} again as the newest version? The session key stays the same.`}
                        onConfirm={() => onRollback(v.number)}>
                        Roll back to v{v.number}
                      </ConfirmButton>
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Dialog>
  )
}
