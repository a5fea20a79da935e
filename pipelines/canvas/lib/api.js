// The one way the pages talk to the server: the public creator API with a Bearer access token.
import { getAccessToken, redirectToLogin } from './auth.js'

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.error?.message || body.error)) || `Request failed (HTTP ${status})`)
    this.status = status
    this.body = body || {}
  }
}

async function parse(resp) {
  const text = await resp.text()
  if (!text) return null
  try {
    return JSON.parse(text)
  } catch {
    return { detail: text.slice(0, 300) }
  }
}

/**
 * Call the API. `body` is sent as JSON, `form` (FormData) as multipart. With `auth` (the default) a missing or
 * refused token sends the visitor to the login page.
 */
export async function api(path, { method = 'GET', body, form, auth = true, signal, keepalive } = {}) {
  const send = (token) => {
    const headers = { Accept: 'application/json' }
    if (token) headers.Authorization = `Bearer ${token}`
    let payload
    if (form) payload = form
    else if (body !== undefined) {
      headers['Content-Type'] = 'application/json'
      payload = JSON.stringify(body)
    }
    return fetch(path, { method, headers, body: payload, credentials: 'same-origin', signal, keepalive })
  }
  let token = auth ? await getAccessToken() : null
  if (auth && !token) {
    redirectToLogin()
    throw new ApiError(401, { detail: 'Please sign in' })
  }
  let resp = await send(token)
  if (resp.status === 401 && auth) {
    token = await getAccessToken({ force: true })
    if (!token) {
      redirectToLogin()
      throw new ApiError(401, { detail: 'Please sign in' })
    }
    resp = await send(token)
  }
  const data = await parse(resp)
  if (!resp.ok) throw new ApiError(resp.status, data)
  return data
}

const P = '/api/v1/studio'
const enc = encodeURIComponent

export const studio = {
  nodeTypes: () => api(`${P}/node-types`),
  pipelines: () => api(`${P}/pipelines`),
  createPipeline: (body) => api(`${P}/pipelines`, { method: 'POST', body }),
  pipeline: (id) => api(`${P}/pipelines/${enc(id)}`),
  updatePipeline: (id, body, opts = {}) => api(`${P}/pipelines/${enc(id)}`, { method: 'PATCH', body, ...opts }),
  deletePipeline: (id) => api(`${P}/pipelines/${enc(id)}`, { method: 'DELETE' }),
  duplicate: (id) => api(`${P}/pipelines/${enc(id)}/duplicate`, { method: 'POST', body: {} }),
  validate: (id) => api(`${P}/pipelines/${enc(id)}/validate`, { method: 'POST', body: {} }),
  publish: (id) => api(`${P}/pipelines/${enc(id)}/publish`, { method: 'POST', body: {} }),
  rotateKey: (id) => api(`${P}/pipelines/${enc(id)}/rotate-key`, { method: 'POST', body: {} }),
  versions: (id) => api(`${P}/pipelines/${enc(id)}/versions`),
  version: (id, n) => api(`${P}/pipelines/${enc(id)}/versions/${enc(n)}`),
  restoreVersion: (id, n) => api(`${P}/pipelines/${enc(id)}/versions/${enc(n)}/restore`, { method: 'POST', body: {} }),
  versionDiff: (id, from, to) => api(`${P}/pipelines/${enc(id)}/versions/${enc(from)}/diff/${enc(to)}`),
  rollback: (id, n) => api(`${P}/pipelines/${enc(id)}/versions/${enc(n)}/rollback`, { method: 'POST', body: {} }),
  myRuns: (status = 'all') => api(`${P}/runs?status=${enc(status)}`),
  runs: (id) => api(`${P}/pipelines/${enc(id)}/runs`),
  startRun: (id, body) => api(`${P}/pipelines/${enc(id)}/runs`, { method: 'POST', body }),
  run: (runId) => api(`${P}/runs/${enc(runId)}`),
  cancelRun: (runId) => api(`${P}/runs/${enc(runId)}/cancel`, { method: 'POST', body: {} }),
  resumeRun: (runId) => api(`${P}/runs/${enc(runId)}/resume`, { method: 'POST', body: {} }),
  upload: (file) => {
    const form = new FormData()
    form.append('file', file)
    return api(`${P}/uploads`, { method: 'POST', form })
  },
}

export const account = {
  me: () => api('/api/v1/me'),
  apiKeys: () => api('/api/v1/me/api-keys'),
  createApiKey: (body) => api('/api/v1/me/api-keys', { method: 'POST', body }),
  revokeApiKey: (id) => api(`/api/v1/me/api-keys/${enc(id)}`, { method: 'DELETE' }),
  aiKeys: () => api('/api/v1/me/ai-keys'),
  storeAiKey: (body) => api('/api/v1/me/ai-keys', { method: 'PUT', body }),
  deleteAiKey: (provider) => api(`/api/v1/me/ai-keys?provider=${enc(provider)}`, { method: 'DELETE' }),
  login: (body) => api('/api/v1/auth/login', { method: 'POST', body, auth: false }),
  register: (body) => api('/api/v1/auth/register', { method: 'POST', body, auth: false }),
  logout: () => api('/api/v1/auth/logout', { method: 'POST', body: {}, auth: false }),
}
