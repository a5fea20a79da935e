// /studio/queue/: the queue panel on its own page.
import { QueuePanel } from '../components/QueuePanel.jsx'

export function QueuePage() {
  return (
    <div className="page-stack">
      <nav className="breadcrumbs" aria-label="Breadcrumb">
        <a href="/studio/">Pipelines</a> › Queue
      </nav>
      <div className="page-title">
        <h1>Your runs</h1>
      </div>
      <div className="card">
        <QueuePanel limit={100} />
      </div>
    </div>
  )
}
