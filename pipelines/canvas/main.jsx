// Entry of the page bundle: the template says which page this is (<body data-page>) and where to mount it
// (#app, with data-* arguments); the header's user corner is filled on every page.
import '@xyflow/react/dist/style.css'
import './styles/app.css'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { getAccessToken, redirectToLogin } from './lib/auth.js'
import { loadMe, onMe } from './lib/me.js'
import { LoginPage, LogoutPage, SignupPage, UserSlot } from './pages/Auth.jsx'
import { AccountPage } from './pages/Account.jsx'
import { DashboardPage } from './pages/Dashboard.jsx'
import { QueuePage } from './pages/Queue.jsx'
import { RunHistoryPage } from './pages/RunHistory.jsx'
import { WorkflowPage } from './pages/Workflow.jsx'
import { StudioPage } from './studio/Studio.jsx'

const PAGES = {
  login: { component: LoginPage },
  signup: { component: SignupPage },
  logout: { component: LogoutPage },
  account: { component: AccountPage, signedIn: true },
  dashboard: { component: DashboardPage, signedIn: true },
  studio: { component: StudioPage, signedIn: true },
  runs: { component: RunHistoryPage, signedIn: true },
  queue: { component: QueuePage, signedIn: true },
  workflow: { component: WorkflowPage, signedIn: true },
}

function mountHeader() {
  const slot = document.getElementById('user-slot')
  if (!slot) return
  const root = createRoot(slot)
  onMe((me) => root.render(<UserSlot me={me} />))
}

async function mountPage() {
  const page = PAGES[document.body.dataset.page]
  const el = document.getElementById('app')
  if (!page || !el) return
  if (page.signedIn && !(await getAccessToken())) {
    redirectToLogin()
    return
  }
  const Component = page.component
  const props = { ...el.dataset }
  createRoot(el).render(
    <StrictMode>
      <Component {...props} />
    </StrictMode>,
  )
}

mountHeader()
const pageName = document.body.dataset.page
if (pageName !== 'logout' && pageName !== 'login' && pageName !== 'signup') loadMe()
else onMe(() => null)
mountPage()
