// How run outputs look: images, a before/after slider for upscales, OCR text, watermark boxes drawn over the
// image they were found on, and the NSFW score. Used by the canvas's results panel and the run history.
import { useState } from 'react'
import { imageUrl, isImageValue } from '../lib/format.js'

/** A watermark/detection box as [x1, y1, x2, y2] from the shapes detectors commonly return. */
export function boxOf(item) {
  if (!item || typeof item !== 'object') return null
  const arr = item.box || item.bbox || item.xyxy
  if (Array.isArray(arr) && arr.length === 4 && arr.every((v) => typeof v === 'number')) return arr
  if (['x', 'y', 'width', 'height'].every((k) => typeof item[k] === 'number')) {
    return [item.x, item.y, item.x + item.width, item.y + item.height]
  }
  if (['x1', 'y1', 'x2', 'y2'].every((k) => typeof item[k] === 'number')) return [item.x1, item.y1, item.x2, item.y2]
  return null
}

export function looksLikeBoxes(value) {
  return Array.isArray(value) && value.length > 0 && value.every((v) => boxOf(v))
}

export function ImageFigure({ value, alt, caption }) {
  const url = imageUrl(value)
  if (!url) return null
  const dims = value && typeof value === 'object' && value.width ? `${value.width}×${value.height}` : ''
  return (
    <figure className="output-image">
      <a href={url} target="_blank" rel="noopener">
        <img src={url} alt={alt} loading="lazy" />
      </a>
      <figcaption>
        {caption} {dims && <span className="muted">{dims}</span>}{' '}
        <a href={url} target="_blank" rel="noopener" download>
          Open
        </a>
      </figcaption>
    </figure>
  )
}

/** Before/after comparison: the "after" image is clipped by a range slider over the "before" one. */
export function BeforeAfter({ before, after, label = 'Upscale' }) {
  const [pos, setPos] = useState(50)
  const b = imageUrl(before)
  const a = imageUrl(after)
  if (!a) return null
  if (!b) return <ImageFigure value={after} alt={`${label} result`} caption={label} />
  return (
    <figure className="before-after" data-testid="before-after">
      <div className="ba-frame">
        <img src={b} alt={`${label}: before`} className="ba-before" />
        <div className="ba-after" style={{ clipPath: `inset(0 0 0 ${pos}%)` }}>
          <img src={a} alt={`${label}: after`} />
        </div>
        <div className="ba-divider" style={{ left: `${pos}%` }} aria-hidden="true" />
      </div>
      <label className="ba-slider">
        <span className="sr-only">Before/after position</span>
        <input type="range" min="0" max="100" value={pos} onChange={(e) => setPos(Number(e.target.value))} />
      </label>
      <figcaption>
        Before / after{' '}
        {after.width && (
          <span className="muted">
            {before?.width ? `${before.width}×${before.height} → ` : ''}
            {after.width}×{after.height}
          </span>
        )}{' '}
        <a href={a} target="_blank" rel="noopener">
          Open result
        </a>
      </figcaption>
    </figure>
  )
}

/** Boxes drawn over the image they were detected on (pixel coordinates of that image, or 0..1). */
export function BoxesOverlay({ image, boxes, label = 'Watermarks' }) {
  const url = imageUrl(image)
  const [size, setSize] = useState(
    image && typeof image === 'object' && image.width ? { w: image.width, h: image.height } : null,
  )
  const list = (boxes || []).map(boxOf).filter(Boolean)
  const normalised = list.length > 0 && list.every((b) => b.every((v) => v >= 0 && v <= 1))
  return (
    <figure className="boxes" data-testid="watermark-boxes">
      {url && (
        <div className="boxes-frame">
          <img src={url} alt={`${label}: source image`}
            onLoad={(e) => !size && setSize({ w: e.target.naturalWidth, h: e.target.naturalHeight })} />
          {size &&
            list.map((b, i) => {
              const [x1, y1, x2, y2] = normalised ? [b[0] * size.w, b[1] * size.h, b[2] * size.w, b[3] * size.h] : b
              const conf = boxes[i]?.confidence ?? boxes[i]?.score
              return (
                <div key={i} className="box" title={conf !== undefined ? `confidence ${conf}` : undefined}
                  style={{
                    left: `${(x1 / size.w) * 100}%`,
                    top: `${(y1 / size.h) * 100}%`,
                    width: `${((x2 - x1) / size.w) * 100}%`,
                    height: `${((y2 - y1) / size.h) * 100}%`,
                  }}
                >
                  {conf !== undefined && <span className="box-label">{Math.round(conf * 100)}%</span>}
                </div>
              )
            })}
        </div>
      )}
      <figcaption>
        {label}: {list.length} found
      </figcaption>
    </figure>
  )
}

export function Score({ label, value, danger = 0.5, hideLabel = false }) {
  const v = Number(value)
  return (
    <div className="score">
      {!hideLabel && <span>{label}</span>}
      <meter min="0" max="1" low={danger * 0.6} high={danger} optimum="0" value={v} aria-label={label} />
      <strong>{Number.isFinite(v) ? v.toFixed(3) : String(value)}</strong>
    </div>
  )
}

/** One output value, rendered by its shape. */
export function OutputValue({ name, value }) {
  if (value === null || value === undefined) return <span className="muted">empty</span>
  if (value && typeof value === 'object' && value.type === 'image' && !value.url) {
    return <span className="muted">image {value.width}×{value.height}</span>
  }
  if (isImageValue(value)) return <ImageFigure value={value} alt={`Output ${name}`} caption={name} />
  if (typeof value === 'number') {
    if (/nsfw|score|confidence|probability/i.test(name) && value >= 0 && value <= 1) return <Score label={name} value={value} hideLabel />
    return <strong className="number">{value}</strong>
  }
  if (typeof value === 'boolean') return <strong>{value ? 'yes' : 'no'}</strong>
  if (typeof value === 'string') {
    if (/^https?:\/\//.test(value)) {
      return (
        <a href={value} target="_blank" rel="noopener">
          {value}
        </a>
      )
    }
    return <pre className="output-text">{value}</pre>
  }
  if (looksLikeBoxes(value)) {
    return (
      <span>
        {value.length} box{value.length === 1 ? '' : 'es'}
      </span>
    )
  }
  return <pre className="output-json">{JSON.stringify(value, null, 2)}</pre>
}

export function OutputsList({ outputs }) {
  const entries = Object.entries(outputs || {})
  if (!entries.length) return <p className="muted">No outputs.</p>
  return (
    <dl className="outputs" data-testid="run-outputs">
      {entries.map(([k, v]) => (
        <div className="output" key={k} data-output={k}>
          <dt>{k}</dt>
          <dd>
            <OutputValue name={k} value={v} />
          </dd>
        </div>
      ))}
    </dl>
  )
}

/** Every artifact link found in a run's outputs (images and files anywhere in the structure). */
export function artifactLinks(value, path = '') {
  const found = []
  const walk = (v, p) => {
    if (!v || typeof v !== 'object') return
    if (typeof v.url === 'string') found.push({ path: p, url: v.url, id: v.artifact_id })
    for (const [k, child] of Object.entries(v)) if (k !== 'url') walk(child, p ? `${p}.${k}` : k)
  }
  walk(value, path)
  return found
}
