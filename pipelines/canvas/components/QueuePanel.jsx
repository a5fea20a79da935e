// The queue: every run of yours across pipelines (queued, running, finished) with its place in the queue,
// progress, Cancel, Resume and a link to the run on its graph. Polled while something is queued or running.
import { useCallback, useEffect, useState } from 'react'
import { studio } from '../lib/api.js'
import { ACTIVE_RUN, fraction } from '../lib/runs.js'
import { formatDuration, formatTime } from '../lib/format.js'
import { ErrorNote, StatusBadge } from './common.jsx'

const ACTIVE_POLL_MS = 1000
const IDLE_POLL_MS = 5000

function QueueRow({ run, onCancel, onResume, busy }) {
  const active = ACTIVE_RUN.has(run.status)
  return (
    <li className="queue-row" data-testid="queue-row" data-run-id={run.id} data-status={run.status}>
      <div className="queue-line">
        <a href={`/studio/${run.pipeline.id}/?run=${encodeURIComponent(run.id)}`} className="queue-name"
          title="Open this run on its graph">
          {run.pipeline.name}
        </a>
        <StatusBadge status={run.status} progress={fraction(run.progress)} />
      </div>
      <div className="queue-line muted small">
        <code>{run.id}</code>
        {run.status === 'queued' && run.queue_position !== null && (
          <span data-testid="queue-position">
            {run.queue_position === 0 ? 'next in queue' : `#${run.queue_position + 1} in queue`}
          </span>
        )}
        {run.status === 'running' && run.current_node && <span>now {run.current_node}</span>}
        {run.finished_at ? (
          <span>{formatDuration(run.started_at || run.created_at, run.finished_at)}</span>
        ) : (
          <span>{formatTime(run.created_at)}</span>
        )}
      </div>
      {active && (
        <progress max="1" value={fraction(run.progress)} aria-label={`Progress of ${run.id}`} />
      )}
      <div className="row-actions">
        {active && (
          <button type="button" className="button small danger" disabled={busy}
            onClick={() => onCancel(run.id)} aria-label={`Cancel ${run.id}`}>
            Cancel
          </button>
        )}
        {run.resumable && (
          <button type="button" className="button small" disabled={busy} onClick={() => onResume(run.id)}
            aria-label={`Resume ${run.id}`}>
            Resume
          </button>
        )}
      </div>
    </li>
  )
}

export function QueuePanel({ limit = 30 }) {
  const [runs, setRuns] = useState(null)
  const [error, setError] = useState(null)
  const [busy, setBusy] = useState(false)

  const load = useCallback(async () => {
    try {
      setRuns(await studio.myRuns())
      setError(null)
    } catch (err) {
      setError(err)
    }
  }, [])

  const anyActive = (runs || []).some((r) => ACTIVE_RUN.has(r.status))
  useEffect(() => {
    load()
    const timer = setInterval(load, anyActive ? ACTIVE_POLL_MS : IDLE_POLL_MS)
    return () => clearInterval(timer)
  }, [load, anyActive])

  const act = (fn) => async (id) => {
    setBusy(true)
    try {
      await fn(id)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
      load()
    }
  }

  const list = (runs || []).slice(0, limit)
  const active = list.filter((r) => ACTIVE_RUN.has(r.status))
  const done = list.filter((r) => !ACTIVE_RUN.has(r.status))
  return (
    <section className="queue" data-testid="queue-panel" aria-label="Your runs">
      <ErrorNote error={error} />
      {runs && list.length === 0 && <p className="muted">No runs yet.</p>}
      {active.length > 0 && (
        <>
          <h3>Queued and running ({active.length})</h3>
          <ul className="plain-list queue-list">
            {active.map((r) => (
              <QueueRow key={r.id} run={r} busy={busy} onCancel={act(studio.cancelRun)} onResume={act(studio.resumeRun)} />
            ))}
          </ul>
        </>
      )}
      {done.length > 0 && (
        <>
          <h3>Finished</h3>
          <ul className="plain-list queue-list">
            {done.map((r) => (
              <QueueRow key={r.id} run={r} busy={busy} onCancel={act(studio.cancelRun)} onResume={act(studio.resumeRun)} />
            ))}
          </ul>
        </>
      )}
    </section>
  )
}
