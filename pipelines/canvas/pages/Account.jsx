// /account/: who you are, credits and tier, API keys (shown once), BYOK provider keys.
import { useEffect, useState } from 'react'
import { account } from '../lib/api.js'
import { onMe } from '../lib/me.js'
import { formatTime } from '../lib/format.js'
import { ConfirmButton, ErrorNote, Secret, useAsync } from '../components/common.jsx'

function Profile() {
  const [me, setMe] = useState(undefined)
  useEffect(() => onMe(setMe), [])
  if (!me) return <section className="card" aria-busy="true">Loading…</section>
  return (
    <section className="card" aria-labelledby="profile-title">
      <h2 id="profile-title">Profile</h2>
      <dl className="facts">
        <dt>Username</dt>
        <dd data-testid="account-username">{me.username}</dd>
        <dt>Email</dt>
        <dd>{me.email}</dd>
        <dt>Tier</dt>
        <dd data-testid="account-tier">
          <span className={`tier tier-${me.tier}`}>{me.tier}</span>
        </dd>
        <dt>Credits</dt>
        <dd data-testid="account-credits">{me.credit_balance}</dd>
      </dl>
    </section>
  )
}

// Creating keys and storing provider keys are Pro or Ultimate features: say so up front instead of offering a
// form that is refused only after it is sent.
function useIsPro() {
  const [me, setMe] = useState(undefined)
  useEffect(() => onMe(setMe), [])
  return me === undefined ? undefined : me?.tier === 'pro' || me?.tier === 'ultimate'
}

function ProOnly({ what, testId }) {
  return (
    <p className="notice" data-testid={testId}>
      {what} requires a Pro or Ultimate subscription.
    </p>
  )
}

function ApiKeys() {
  const isPro = useIsPro()
  const keys = useAsync(() => account.apiKeys(), [])
  const [name, setName] = useState('')
  const [kind, setKind] = useState('fractafrag')
  const [created, setCreated] = useState(null)
  const [error, setError] = useState(null)
  const create = async (e) => {
    e.preventDefault()
    setError(null)
    try {
      const body = await account.createApiKey({ name, kind })
      setCreated(body)
      setName('')
      keys.reload()
    } catch (err) {
      setError(err)
    }
  }
  return (
    <section className="card" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <p className="muted">
        Keys call the Fluxara (<code>Authorization: Bearer</code>) and Fizzly (<code>Authorization: Key</code>) APIs
        as you. A key is shown once, when it is created.
      </p>
      {created && (
        <div className="notice success" role="status">
          <p>
            New key <strong>{created.name}</strong> — copy it now, it will not be shown again.
          </p>
          <Secret label="New API key" value={created.key} />
          <button type="button" className="button small" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      {isPro === false && <ProOnly what="Creating API keys" testId="keys-locked" />}
      {isPro && (
        <form className="inline-form" onSubmit={create}>
          <div className="field">
            <label htmlFor="key-name">Key name</label>
            <input id="key-name" value={name} required maxLength={100} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="key-kind">Kind</label>
            <select id="key-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
              <option value="fractafrag">API (Bearer)</option>
              <option value="queue">Queue (fiz_, Key header)</option>
            </select>
          </div>
          <button type="submit" className="button primary">
            Create key
          </button>
        </form>
      )}
      <ErrorNote error={error || keys.error} />
      {keys.data && keys.data.length === 0 && <p className="muted">No active keys.</p>}
      {keys.data && keys.data.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Prefix</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.data.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td>{k.kind}</td>
                <td>
                  <code>{k.prefix}…</code>
                </td>
                <td>{formatTime(k.created_at)}</td>
                <td>{k.last_used_at ? formatTime(k.last_used_at) : 'never'}</td>
                <td>
                  <ConfirmButton
                    className="small"
                    question={`Revoke ${k.name}?`}
                    confirmLabel="Revoke"
                    onConfirm={async () => {
                      try {
                        await account.revokeApiKey(k.id)
                        keys.reload()
                      } catch (err) {
                        setError(err)
                      }
                    }}
                  >
                    Revoke
                  </ConfirmButton>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

function ProviderKeys() {
  const isPro = useIsPro()
  const list = useAsync(() => account.aiKeys(), [])
  const [provider, setProvider] = useState('openai')
  const [key, setKey] = useState('')
  const [error, setError] = useState(null)
  const [saved, setSaved] = useState(null)
  const save = async (e) => {
    e.preventDefault()
    setError(null)
    try {
      const body = await account.storeAiKey({ provider, key })
      setKey('')
      setSaved(body.provider)
      list.reload()
    } catch (err) {
      setError(err)
    }
  }
  if (isPro === false && !list.data?.length) {
    return (
      <section className="card" aria-labelledby="byok-title">
        <h2 id="byok-title">AI provider keys (BYOK)</h2>
        <ProOnly what="Storing AI provider keys" testId="byok-locked" />
      </section>
    )
  }
  return (
    <section className="card" aria-labelledby="byok-title">
      <h2 id="byok-title">AI provider keys (BYOK)</h2>
      <p className="muted">Stored encrypted; never shown again after saving.</p>
      <form className="inline-form" onSubmit={save}>
        <div className="field">
          <label htmlFor="byok-provider">Provider</label>
          <input id="byok-provider" value={provider} required pattern="[a-z0-9_\-]{2,40}"
            onChange={(e) => setProvider(e.target.value.toLowerCase())} list="byok-providers" />
          <datalist id="byok-providers">
            <option value="openai" />
            <option value="anthropic" />
            <option value="replicate" />
            <option value="stability" />
          </datalist>
        </div>
        <div className="field grow">
          <label htmlFor="byok-key">Key</label>
          <input id="byok-key" type="password" autoComplete="off" value={key} required minLength={8}
            onChange={(e) => setKey(e.target.value)} />
        </div>
        <button type="submit" className="button primary">
          Save key
        </button>
      </form>
      {saved && (
        <p className="notice success" role="status">
          Key for {saved} saved.
        </p>
      )}
      <ErrorNote error={error || list.error} />
      {list.data && list.data.length > 0 && (
        <ul className="plain-list">
          {list.data.map((p) => (
            <li key={p.provider}>
              <strong>{p.provider}</strong> <span className="muted">updated {formatTime(p.updated_at)}</span>{' '}
              <ConfirmButton
                className="small"
                question={`Delete the ${p.provider} key?`}
                confirmLabel="Delete"
                onConfirm={async () => {
                  try {
                    await account.deleteAiKey(p.provider)
                    list.reload()
                  } catch (err) {
                    setError(err)
                  }
                }}
              >
                Delete
              </ConfirmButton>
            </li>
          ))}
        </ul>
      )}
    </section>
  )
}

export function AccountPage() {
  return (
    <div className="page-stack">
      <h1>Account</h1>
      <Profile />
      <ApiKeys />
      <ProviderKeys />
    </div>
  )
}
