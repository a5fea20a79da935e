// The access token lives in memory and in sessionStorage (this tab only); the refresh token is the HttpOnly
// cookie the API sets on /api/v1/auth/, so a page that has no usable access token asks for a new one.

const STORAGE_KEY = 'canvasflow.access'
const EARLY_MS = 30_000 // refresh a little before expiry
// Set by the API beside the refresh cookie (which scripts cannot see): without it there is nothing to refresh,
// and a signed-out visitor's page makes no refresh call that could only answer 401.
const SIGNED_IN_COOKIE = 'signed_in'

export function mayRefresh(cookies = document.cookie) {
  return cookies.split(';').some((c) => c.trim().startsWith(`${SIGNED_IN_COOKIE}=`))
}

function forgetSignedIn() {
  document.cookie = `${SIGNED_IN_COOKIE}=; Max-Age=0; Path=/; SameSite=Lax`
}

let accessToken = null
let inflight = null

function storage() {
  try {
    return window.sessionStorage
  } catch {
    return null
  }
}

export function setAccessToken(token) {
  accessToken = token || null
  const s = storage()
  if (!s) return
  if (token) s.setItem(STORAGE_KEY, token)
  else s.removeItem(STORAGE_KEY)
}

/** Expiry of a JWT in ms since the epoch (0 if unreadable). */
export function tokenExpiry(token) {
  try {
    let part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    while (part.length % 4) part += '='
    const payload = JSON.parse(atob(part))
    return typeof payload.exp === 'number' ? payload.exp * 1000 : 0
  } catch {
    return 0
  }
}

/** Ask the API for a new access token with the refresh cookie; null when signed out. One request at a time. */
export function refreshAccessToken() {
  if (!inflight) {
    inflight = fetch('/api/v1/auth/refresh', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: '{}',
    })
      .then(async (resp) => {
        if (!resp.ok) {
          setAccessToken(null)
          if (resp.status === 401) forgetSignedIn()
          return null
        }
        const body = await resp.json()
        setAccessToken(body.access_token)
        return body.access_token
      })
      .catch(() => null)
      .finally(() => {
        inflight = null
      })
  }
  return inflight
}

/** A usable access token, refreshed if missing or about to expire; null when the visitor is signed out. */
export async function getAccessToken({ force = false } = {}) {
  if (!accessToken) accessToken = storage()?.getItem(STORAGE_KEY) || null
  if (!force && accessToken && tokenExpiry(accessToken) - Date.now() > EARLY_MS) return accessToken
  if (!mayRefresh()) {
    setAccessToken(null)
    return null
  }
  return refreshAccessToken()
}

export function loginUrl() {
  const next = window.location.pathname + window.location.search
  return `/login/?next=${encodeURIComponent(next)}`
}

export function redirectToLogin() {
  window.location.assign(loginUrl())
}

/** Only same-site paths are followed after login (no open redirect). */
export function safeNext(raw, fallback = '/studio/') {
  if (typeof raw !== 'string' || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return fallback
  return raw
}

/** The access token held right now, without refreshing (for a last save while the page unloads). */
export function peekAccessToken() {
  return accessToken || storage()?.getItem(STORAGE_KEY) || null
}
