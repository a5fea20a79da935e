// The live run: status, progress, credits, Cancel, the outputs, and per-node results where a picture says
// more (upscale before/after, watermark boxes over their image, OCR text, NSFW score).
import { ConfirmButton, ErrorNote, StatusBadge } from '../components/common.jsx'
import { BeforeAfter, BoxesOverlay, OutputsList, Score } from '../components/Outputs.jsx'
import { ACTIVE_RUN, imageAt, imageInto } from '../lib/runs.js'
import { formatDuration } from '../lib/format.js'

function NodeResult({ node, runNode, images }) {
  const type = node.type
  const out = runNode.outputs || {}
  const source = imageInto(node.id, 'image', images)
  let body = null
  if (type === 'IMAGE__UPSCALE' && out.image) {
    const after = imageAt(node.id, 'image', images)
    body = after ? (
      <BeforeAfter before={source} after={{ ...out.image, ...after }} label={`Upscale ${node.id}`} />
    ) : (
      <p className="muted small">Upscaled to {out.image.width}×{out.image.height}.</p>
    )
  } else if (type === 'IMAGE__WATERMARK' && out.watermarks) {
    body = <BoxesOverlay image={source} boxes={out.watermarks} label={`Watermarks (${node.id})`} />
  } else if (type === 'IMAGE__OCR' && out.text !== undefined) {
    body = (
      <div data-testid="ocr-text">
        <pre className="output-text" dir="auto">
          {out.text || '(no text found)'}
        </pre>
      </div>
    )
  } else if (type === 'IMAGE__NSFW_GATE' && out.nsfw_score !== undefined) {
    body = (
      <div data-testid="nsfw-score">
        <Score label="NSFW score" value={out.nsfw_score} />
        {out.blocked !== undefined && <p>{out.blocked ? 'Blocked: downstream nodes did not run.' : 'Passed.'}</p>}
      </div>
    )
  }
  if (!body) return null
  return (
    <section className="node-result" aria-label={`${node.id} result`}>
      <h4>
        {node.id} <code>{type}</code>
      </h4>
      {body}
    </section>
  )
}

export function ResultsPanel({ run, graph, nodeTypes, uploads, onCancel, onResume, historyUrl }) {
  if (!run.id) {
    return (
      <div className="results-empty muted">
        <p>No run yet. Press Run to try the pipeline with your own inputs.</p>
      </div>
    )
  }
  const active = ACTIVE_RUN.has(run.status)
  return (
    <section className="results" aria-labelledby="results-title" data-testid="results-panel" data-run-status={run.status}>
      <header className="results-header">
        <h2 id="results-title">
          Run <code>{run.id}</code>
        </h2>
        <StatusBadge status={run.status} progress={run.progress} />
      </header>
      {active && <progress max="1" value={run.progress || 0} aria-label="Run progress" />}
      <dl className="facts small">
        {run.creditsUsed !== null && (
          <>
            <dt>Credits</dt>
            <dd data-testid="run-credits">{run.creditsUsed}</dd>
          </>
        )}
        {run.finishedAt && (
          <>
            <dt>Time</dt>
            <dd>{formatDuration(run.startedAt || run.createdAt, run.finishedAt)}</dd>
          </>
        )}
        {run.currentNode && (
          <>
            <dt>Now</dt>
            <dd>{run.currentNode}</dd>
          </>
        )}
      </dl>
      {active && (
        <ConfirmButton className="danger" question="Cancel this run?" confirmLabel="Cancel run" onConfirm={onCancel}>
          Cancel run
        </ConfirmButton>
      )}
      {run.resumable && onResume && (
        <button type="button" className="primary" data-testid="resume-run" onClick={onResume}
          title="Run what did not finish again; the nodes that finished are reused and not charged twice">
          Resume run
        </button>
      )}
      {run.resumes > 0 && <p className="muted small">Resumed {run.resumes}×.</p>}
      <ErrorNote error={run.error} />
      {run.outputs && (
        <>
          <h3>Outputs</h3>
          <OutputsList outputs={run.outputs} />
        </>
      )}
      {(graph.nodes || []).map((n) =>
        run.nodes[n.id]?.outputs ? (
          <NodeResult key={n.id} node={n} runNode={run.nodes[n.id]}
            images={{ graph, nodeTypes, outputs: run.outputs, inputs: run.inputs, uploads, runNodes: run.nodes }} />
        ) : null,
      )}
      {historyUrl && (
        <p>
          <a href={historyUrl}>All runs of this pipeline →</a>
        </p>
      )}
    </section>
  )
}
