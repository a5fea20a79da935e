// Sign up, log in, log out, and the signed-in corner of the header. All through the fractafrag auth API.
import { useEffect, useState } from 'react'
import { account } from '../lib/api.js'
import { getAccessToken, safeNext, setAccessToken } from '../lib/auth.js'
import { ErrorNote } from '../components/common.jsx'

function nextPath() {
  return safeNext(new URLSearchParams(window.location.search).get('next'))
}

function Field({ label, name, type = 'text', autoComplete, value, onChange, required = true, hint, minLength }) {
  const id = `f-${name}`
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={name}
        type={type}
        autoComplete={autoComplete}
        value={value}
        required={required}
        minLength={minLength}
        onChange={(e) => onChange(e.target.value)}
      />
      {hint && <small className="hint">{hint}</small>}
    </div>
  )
}

export function LoginPage() {
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState(null)
  const [busy, setBusy] = useState(false)
  useEffect(() => {
    // Already signed in (a live refresh cookie): go straight on.
    getAccessToken().then((token) => token && window.location.replace(nextPath()))
  }, [])
  const submit = async (e) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const body = await account.login({ username, password })
      setAccessToken(body.access_token)
      window.location.assign(nextPath())
    } catch (err) {
      setError(err)
      setBusy(false)
    }
  }
  return (
    <form className="card auth-card" onSubmit={submit} aria-labelledby="login-title">
      <h1 id="login-title">Log in</h1>
      <Field label="Username or email" name="username" autoComplete="username" value={username} onChange={setUsername} />
      <Field label="Password" name="password" type="password" autoComplete="current-password" value={password} onChange={setPassword} />
      <ErrorNote error={error} />
      <button className="button primary" type="submit" disabled={busy}>
        {busy ? 'Logging in…' : 'Log in'}
      </button>
      <p className="muted">
        New here? <a href={`/signup/${window.location.search}`}>Create a free account</a>
      </p>
    </form>
  )
}

export function SignupPage() {
  const [form, setForm] = useState({ username: '', email: '', password: '' })
  const [error, setError] = useState(null)
  const [busy, setBusy] = useState(false)
  const set = (k) => (v) => setForm((f) => ({ ...f, [k]: v }))
  const submit = async (e) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const body = await account.register(form)
      setAccessToken(body.access_token)
      window.location.assign(nextPath())
    } catch (err) {
      setError(err)
      setBusy(false)
    }
  }
  return (
    <form className="card auth-card" onSubmit={submit} aria-labelledby="signup-title">
      <h1 id="signup-title">Create your account</h1>
      <Field label="Username" name="username" autoComplete="username" value={form.username} onChange={set('username')}
        hint="3+ characters: letters, digits, _ . -" minLength={3} />
      <Field label="Email" name="email" type="email" autoComplete="email" value={form.email} onChange={set('email')} />
      <Field label="Password" name="password" type="password" autoComplete="new-password" value={form.password}
        onChange={set('password')} hint="At least 8 characters" minLength={8} />
      <ErrorNote error={error} />
      <button className="button primary" type="submit" disabled={busy}>
        {busy ? 'Creating…' : 'Sign up'}
      </button>
      <p className="muted">
        Have an account? <a href={`/login/${window.location.search}`}>Log in</a>
      </p>
    </form>
  )
}

export function LogoutPage() {
  useEffect(() => {
    account
      .logout()
      .catch(() => null)
      .finally(() => {
        setAccessToken(null)
        window.location.replace('/login/')
      })
  }, [])
  return <p className="card">Logging out…</p>
}

/** The header's right-hand corner: who is signed in and their credits, or links to sign in. */
export function UserSlot({ me }) {
  if (me === undefined) return null
  if (!me) {
    return (
      <span className="user-slot">
        <a href="/login/">Log in</a>
        <a className="button small primary" href="/signup/">Sign up</a>
      </span>
    )
  }
  return (
    <span className="user-slot">
      <a href="/account/" className="user-name" data-testid="header-user">
        {me.username}
      </a>
      <span className="credits" title="Credit balance" data-testid="header-credits">
        {me.credit_balance} credits
      </span>
      <a href="/logout/">Log out</a>
    </span>
  )
}
