// Small display helpers shared by the pages.

export function formatTime(iso) {
  if (!iso) return ''
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return String(iso)
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

export function formatDuration(startIso, endIso) {
  if (!startIso || !endIso) return ''
  const ms = new Date(endIso) - new Date(startIso)
  if (!Number.isFinite(ms) || ms < 0) return ''
  if (ms < 1000) return `${ms} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

/** An image value as outputs carry it: {url, width, height, …} or a bare URL string. */
export function imageUrl(value) {
  if (!value) return null
  if (typeof value === 'string') return /^(https?:|data:image\/|\/)/.test(value) ? value : null
  if (typeof value === 'object' && typeof value.url === 'string') return value.url
  return null
}

export function isImageValue(value) {
  if (typeof value === 'string') return /^(https?:|\/).*\.(png|jpe?g|webp|gif)(\?|$)/i.test(value) || value.startsWith('data:image/')
  return !!(value && typeof value === 'object' && typeof value.url === 'string' &&
    (value.width !== undefined || value.artifact_id !== undefined || /\.(png|jpe?g|webp|gif)(\?|$)/i.test(value.url) ||
      (value.content_type || '').startsWith('image/')))
}
