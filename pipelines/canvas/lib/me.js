// The signed-in user, loaded once per page and shared by the header and the page; `refreshMe` reloads it
// (credits change after a run) and tells every listener.
import { api } from './api.js'
import { getAccessToken } from './auth.js'

let current
let loading = null
const listeners = new Set()

export function onMe(fn) {
  listeners.add(fn)
  if (current !== undefined) fn(current)
  return () => listeners.delete(fn)
}

function publish(me) {
  current = me
  for (const fn of listeners) fn(me)
  return me
}

/** The user, or null when signed out (never redirects: public pages call it too). */
export function loadMe() {
  if (current !== undefined) return Promise.resolve(current)
  if (!loading) {
    loading = getAccessToken()
      .then((token) => (token ? api('/api/v1/me') : null))
      .catch(() => null)
      .then(publish)
      .finally(() => {
        loading = null
      })
  }
  return loading
}

export function refreshMe() {
  current = undefined
  return loadMe()
}
