// Published versions: open one read-only on the canvas, or restore it as the draft.
import { studio } from '../lib/api.js'
import { formatTime } from '../lib/format.js'
import { ConfirmButton, Dialog, ErrorNote, useAsync } from '../components/common.jsx'

export function VersionsDialog({ open, pipelineId, onOpenVersion, onRestore, onClose }) {
  const versions = useAsync(() => (open ? studio.versions(pipelineId) : Promise.resolve(null)), [open, pipelineId])
  const items = versions.data || []
  return (
    <Dialog open={open} title="Published versions" onClose={onClose}>
      <ErrorNote error={versions.error} />
      {versions.data && items.length === 0 && <p className="muted">Nothing published yet.</p>}
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
            {items.map((v) => (
              <tr key={v.number} data-testid="version-row" data-version={v.number}>
                <td>v{v.number}</td>
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
