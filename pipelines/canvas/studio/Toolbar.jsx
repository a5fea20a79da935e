// The bar above the canvas (name, save state, undo/redo, note, group, validate, versions, history, run, publish) and the
// banner shown while a published version is open read-only.
import { useEffect, useState } from 'react'
import { ConfirmButton } from '../components/common.jsx'

const SAVE_LABEL = { saved: 'All changes saved', saving: 'Saving…', unsaved: 'Unsaved changes', error: 'Not saved' }

function PipelineName({ name, onRename }) {
  const [value, setValue] = useState(name)
  useEffect(() => setValue(name), [name])
  return (
    <input
      className="pipeline-name"
      aria-label="Pipeline name"
      value={value}
      maxLength={120}
      onChange={(e) => setValue(e.target.value)}
      onBlur={() => (value.trim() ? onRename(value.trim()) : setValue(name))}
      onKeyDown={(e) => e.key === 'Enter' && e.currentTarget.blur()}
    />
  )
}

export function Toolbar({ pipeline, saveState, viewing, problemCount, history, actions }) {
  const readOnly = viewing !== null
  return (
    <div className="studio-toolbar" role="toolbar" aria-label="Pipeline actions">
      <a href="/studio/" className="back-link" aria-label="Back to pipelines">
        ←
      </a>
      <PipelineName name={pipeline.name} onRename={actions.rename} />
      <span className={`save-state save-${saveState}`} data-testid="save-state" data-state={saveState} role="status">
        {readOnly ? `Viewing v${viewing}` : SAVE_LABEL[saveState]}
      </span>
      {!readOnly && problemCount > 0 && (
        <span className="problems" data-testid="problem-count">
          {problemCount} problem{problemCount === 1 ? '' : 's'}
        </span>
      )}
      <span className="toolbar-spacer" />
      <button type="button" className="button small" onClick={history.undo} disabled={readOnly || !history.canUndo}
        aria-label="Undo" title="Undo (Ctrl+Z)">
        Undo
      </button>
      <button type="button" className="button small" onClick={history.redo} disabled={readOnly || !history.canRedo}
        aria-label="Redo" title="Redo (Ctrl+Shift+Z)">
        Redo
      </button>
      <button type="button" className="button small" onClick={actions.note} disabled={readOnly}
        title="A note to annotate the graph">
        Note
      </button>
      <button type="button" className="button small" onClick={actions.group} disabled={readOnly}
        title="A titled frame around the selected nodes; dragging it moves the nodes inside it">
        Group
      </button>
      <button type="button" className="button small" onClick={actions.validate} disabled={readOnly}>
        Validate
      </button>
      <button type="button" className="button small" onClick={actions.versions}>
        Versions
      </button>
      <a className="button small" href={`/studio/${pipeline.id}/runs/`}>
        History
      </a>
      <button type="button" className="button" onClick={actions.run} disabled={readOnly}>
        Run
      </button>
      <button type="button" className="button primary" onClick={actions.publish} disabled={readOnly}>
        Publish
      </button>
    </div>
  )
}

export function ReadOnlyBanner({ number, onRestore, onBack }) {
  return (
    <div className="readonly-banner" role="status" data-testid="readonly-banner">
      Viewing published version v{number} (read-only).
      <ConfirmButton className="small" question={`Replace the draft with v${number}?`} confirmLabel="Restore"
        onConfirm={onRestore}>
        Restore as draft
      </ConfirmButton>
      <button type="button" className="button small" onClick={onBack}>
        Back to draft
      </button>
    </div>
  )
}
