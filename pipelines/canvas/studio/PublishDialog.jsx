// Publish: freeze the draft as a new version, then everything needed to call it — the session's execute
// URL (with its key, shown once), a curl example, the derived input/output schema from the FractalQ docs
// endpoint, the Fizzly and Fluxara calls, and key rotation.
import { useEffect, useState } from 'react'
import { studio } from '../lib/api.js'
import { absolute, curlExecute, curlFizzly, curlFluxara, exampleInputs, schemaFields } from '../lib/examples.js'
import { ConfirmButton, Dialog, ErrorNote, Secret } from '../components/common.jsx'

function SchemaTable({ title, schema }) {
  const fields = Object.entries(schemaFields(schema))
  return (
    <div className="schema">
      <h4>{title}</h4>
      {fields.length === 0 ? (
        <p className="muted small">none</p>
      ) : (
        <table className="table compact" data-testid={`schema-${title.toLowerCase()}`}>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col">Required</th>
              <th scope="col">Description</th>
            </tr>
          </thead>
          <tbody>
            {fields.map(([name, f]) => (
              <tr key={name}>
                <td>
                  <code>{name}</code>
                </td>
                <td>{f.type || ''}</td>
                <td>{f.required ? 'yes' : ''}</td>
                <td>{f.description || ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}

async function fetchDocs(docsUrl) {
  const resp = await fetch(docsUrl, { headers: { Accept: 'application/json' } })
  if (!resp.ok) return null
  return resp.json()
}

export function PublishDialog({ open, pipeline, beforePublish, onPublished, onInvalid, onClose }) {
  const origin = window.location.origin
  const [result, setResult] = useState(null) // last publish/rotate answer in this dialog
  const [docs, setDocs] = useState(null)
  const [error, setError] = useState(null)
  const [busy, setBusy] = useState(false)
  const [latest, setLatest] = useState(null)

  useEffect(() => {
    if (!open) {
      // The raw key is shown once: closing the dialog forgets it.
      setResult(null)
      setDocs(null)
      return
    }
    setError(null)
    if (pipeline?.published_version) {
      studio.versions(pipeline.id).then((vs) => setLatest(vs?.[0] || null), () => null)
    }
  }, [open, pipeline?.id, pipeline?.published_version])

  // The raw key (and so the real URLs) exists only in the answer that issued it; otherwise a placeholder.
  const key = result?.session_key || null
  const executeUrl = key && result?.execute_url ? absolute(origin, result.execute_url)
    : `${origin}/api/node/api/YOUR_SESSION_KEY/execute`
  const docsUrl = key && result?.docs_url ? absolute(origin, result.docs_url) : null
  const version = result?.version || latest

  useEffect(() => {
    // The docs endpoint needs the raw key, which this page only has right after publishing or rotating.
    if (!open || !key || !docsUrl) return
    fetchDocs(docsUrl).then(setDocs, () => setDocs(null))
  }, [open, key, docsUrl])

  const publish = async () => {
    setBusy(true)
    setError(null)
    try {
      await beforePublish()
      const body = await studio.publish(pipeline.id)
      setResult(body)
      setDocs(null)
      onPublished(body)
    } catch (err) {
      if (err.status === 422 && err.body?.errors) {
        onInvalid(err.body.errors)
        setError(`${err.message} — the problems are marked on the canvas.`)
      } else setError(err)
    } finally {
      setBusy(false)
    }
  }

  const rotate = async () => {
    setError(null)
    try {
      const body = await studio.rotateKey(pipeline.id)
      setResult((r) => ({ ...(r || {}), ...body, version: r?.version || latest }))
      setDocs(null)
      onPublished({ ...body, rotated: true })
    } catch (err) {
      setError(err)
    }
  }

  const inputs = exampleInputs(docs?.inputSchema || version?.input_schema, docs?.inputExamples || version?.input_examples)
  const published = !!(pipeline?.published_version || result)
  return (
    <Dialog open={open} title="Publish" onClose={onClose} wide>
      <div className="publish" data-testid="publish-dialog">
        <div className="publish-action">
          <p>
            {pipeline?.published_version
              ? `Published version: v${pipeline.published_version}. Publishing freezes the current draft as a new version; the session key stays the same.`
              : 'Publishing freezes the current draft as version 1 and issues the session key that calls it.'}
          </p>
          <button type="button" className="button primary" onClick={publish} disabled={busy}>
            {busy ? 'Publishing…' : pipeline?.published_version ? 'Publish new version' : 'Publish'}
          </button>
        </div>
        <ErrorNote error={error} />
        {result?.version && (
          <p className="notice success" role="status" data-testid="publish-result">
            Published version v{result.version.number}.
          </p>
        )}
        {published && (
          <>
            {key ? (
              <div className="notice warning">
                <p>
                  <strong>Session key</strong> — shown once. It is part of the URL, no header needed: treat it like a
                  password.
                </p>
                <Secret label="Session key" value={key} />
              </div>
            ) : (
              <p className="muted small">
                The session key was shown when it was issued{pipeline?.session_key_prefix ? ` (it starts with ${pipeline.session_key_prefix})` : ''}.
                Lost it? Rotate the key for a new one.
              </p>
            )}
            <Secret label="Execute URL" value={executeUrl} />
            <h3>Call it (FractalQ)</h3>
            <Secret label="curl example" value={curlExecute(executeUrl, inputs)} multiline />
            {docsUrl && (
              <p className="small">
                Session docs: <a href={docsUrl} target="_blank" rel="noopener">{docsUrl}</a>
              </p>
            )}
            <div className="schemas">
              <SchemaTable title="Inputs" schema={docs?.inputSchema || version?.input_schema} />
              <SchemaTable title="Outputs" schema={docs?.outputSchema || version?.output_schema} />
            </div>
            <details>
              <summary>Fizzly queue (submit, poll, stream)</summary>
              <Secret label="Fizzly curl" value={curlFizzly(pipeline.fizzly_url || `${origin}/workflows/${pipeline.owner}/${pipeline.slug}`, inputs)} multiline />
              <p className="small muted">Needs a queue key (fiz_…) from your account page.</p>
            </details>
            <details>
              <summary>Fluxara jobs</summary>
              <Secret label="Fluxara curl" value={curlFluxara(origin, pipeline.slug, inputs)} multiline />
              <p className="small muted">Needs an API key from your account page.</p>
            </details>
            <div className="rotate">
              <ConfirmButton question="Rotate the session key? The old key stops working at once." confirmLabel="Rotate key"
                onConfirm={rotate}>
                Rotate key
              </ConfirmButton>
            </div>
          </>
        )}
      </div>
    </Dialog>
  )
}
