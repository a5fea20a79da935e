// The form for a run's inputs, one field per INPUT__ node: images by upload (stored as an art_ id) or URL,
// text as text. Runs the draft on the canvas, or the latest published version.
import { useState } from 'react'
import { studio } from '../lib/api.js'
import { Dialog, ErrorNote } from '../components/common.jsx'

function ImageInput({ input, value, onChange }) {
  const mode = value?.mode || 'upload'
  const base = `run-input-${input.name}`
  return (
    <fieldset className="run-input" data-input={input.name}>
      <legend>
        {input.name}
        {input.required && <span className="required" aria-label="required"> *</span>}
        {input.description && <small className="muted"> — {input.description}</small>}
      </legend>
      <div className="segmented" role="radiogroup" aria-label={`${input.name} source`}>
        <label>
          <input type="radio" name={`${base}-mode`} checked={mode === 'upload'}
            onChange={() => onChange({ ...value, mode: 'upload' })} />
          Upload
        </label>
        <label>
          <input type="radio" name={`${base}-mode`} checked={mode === 'url'}
            onChange={() => onChange({ ...value, mode: 'url' })} />
          URL
        </label>
      </div>
      {mode === 'upload' ? (
        <div className="field">
          <label htmlFor={`${base}-file`}>Image file for {input.name}</label>
          <input id={`${base}-file`} type="file" accept="image/*"
            onChange={(e) => onChange({ ...value, mode: 'upload', file: e.target.files?.[0] || null })} />
        </div>
      ) : (
        <div className="field">
          <label htmlFor={`${base}-url`}>Image URL for {input.name}</label>
          <input id={`${base}-url`} type="url" placeholder={input.example || 'https://example.com/image.jpg'}
            value={value?.url || ''} onChange={(e) => onChange({ ...value, mode: 'url', url: e.target.value })} />
        </div>
      )}
    </fieldset>
  )
}

function TextInput({ input, value, onChange }) {
  const id = `run-input-${input.name}`
  return (
    <div className="field run-input" data-input={input.name}>
      <label htmlFor={id}>
        {input.name}
        {input.required && <span className="required" aria-label="required"> *</span>}
      </label>
      <textarea id={id} rows={2} value={value?.text || ''} placeholder={input.example}
        onChange={(e) => onChange({ text: e.target.value })} />
      {input.description && <small className="hint">{input.description}</small>}
    </div>
  )
}

export function RunDialog({ open, inputs, pipelineId, publishedVersion, beforeRun, onUploaded, onInvalid, onStarted, onClose }) {
  const [values, setValues] = useState({})
  const [target, setTarget] = useState('draft')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState(null)
  const submit = async (e) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await beforeRun()
      const body = {}
      for (const input of inputs) {
        const v = values[input.name] || {}
        if (input.kind === 'image') {
          if ((v.mode || 'upload') === 'upload') {
            if (v.file) {
              const art = await studio.upload(v.file)
              onUploaded?.(art)
              body[input.name] = art.artifact_id
            }
          } else if (v.url) body[input.name] = v.url
        } else if (v.text !== undefined && v.text !== '') body[input.name] = v.text
        if (input.required && body[input.name] === undefined) throw new Error(`${input.name} is required`)
      }
      const run = await studio.startRun(pipelineId, { inputs: body, draft: target === 'draft' })
      onStarted(run)
      onClose()
    } catch (err) {
      if (err.status === 422 && Array.isArray(err.body?.errors)) onInvalid?.(err.body.errors)
      else setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <Dialog open={open} title="Run pipeline" onClose={onClose}>
      <form onSubmit={submit} className="run-form" aria-label="Run inputs">
        {inputs.length === 0 && <p className="muted">This pipeline takes no inputs.</p>}
        {inputs.map((input) =>
          input.kind === 'image' ? (
            <ImageInput key={input.name} input={input} value={values[input.name]}
              onChange={(v) => setValues((s) => ({ ...s, [input.name]: v }))} />
          ) : (
            <TextInput key={input.name} input={input} value={values[input.name]}
              onChange={(v) => setValues((s) => ({ ...s, [input.name]: v }))} />
          ),
        )}
        <fieldset className="run-target">
          <legend>What to run</legend>
          <label>
            <input type="radio" name="run-target" checked={target === 'draft'} onChange={() => setTarget('draft')} />
            The draft on the canvas
          </label>
          <label>
            <input type="radio" name="run-target" checked={target === 'published'} disabled={!publishedVersion}
              onChange={() => setTarget('published')} />
            Published version{publishedVersion ? ` v${publishedVersion}` : ' (not published yet)'}
          </label>
        </fieldset>
        <ErrorNote error={error} />
        <div className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Starting…' : 'Start run'}
          </button>
        </div>
      </form>
    </Dialog>
  )
}
