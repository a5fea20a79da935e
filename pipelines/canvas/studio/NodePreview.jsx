// What a node produced in the current run, on the node itself: its image (for the input, every intermediate
// and the output), OCR lines boxed over the image they were read from, watermark boxes with their confidence,
// the NSFW score. A click on a picture opens it full size.
import { useContext } from 'react'
import { BoxesOverlay, Score } from '../components/Outputs.jsx'
import { imageAt, imageInto } from '../lib/runs.js'
import { imageUrl } from '../lib/format.js'
import { StudioContext } from './context.js'

function Thumb({ image, label, onOpen }) {
  const url = imageUrl(image)
  if (!url) return null
  return (
    <button type="button" className="nodrag preview-thumb" onClick={() => onOpen({ url, label })}
      aria-label={`Open ${label} full size`} data-testid="node-image">
      <img src={url} alt={label} loading="lazy" />
    </button>
  )
}

function Overlay({ image, boxes, label, onOpen, children }) {
  const url = imageUrl(image)
  return (
    <div className="preview-overlay">
      {url ? (
        <div role="button" tabIndex={0} className="nodrag preview-thumb" data-testid="node-image"
          aria-label={`Open ${label} full size`} onClick={() => onOpen({ url, label, image, boxes })}
          onKeyDown={(e) => e.key === 'Enter' && onOpen({ url, label, image, boxes })}>
          <BoxesOverlay image={image} boxes={boxes} label={label} />
        </div>
      ) : (
        <p className="muted small">{boxes.length} found</p>
      )}
      {children}
    </div>
  )
}

/** The preview of node `id` (a pipeline node of type `type`), or null when the run has nothing to show. */
export function NodePreview({ id, type }) {
  const ctx = useContext(StudioContext)
  const runNode = ctx.runNodes?.[id]
  const images = ctx.images
  if (!runNode || !images || type === 'OUTPUT__') return null
  const spec = ctx.nodeTypes[type]
  const out = runNode.outputs || {}
  const open = ctx.openImage
  let body = null
  if (type === 'IMAGE__OCR' && Array.isArray(out.lines)) {
    body = (
      <Overlay image={imageInto(id, 'image', images)} boxes={out.lines} label={`OCR ${id}`} onOpen={open}>
        <pre className="preview-text" dir="auto" data-testid="node-ocr-text">{out.text || '(no text found)'}</pre>
      </Overlay>
    )
  } else if (type === 'IMAGE__WATERMARK' && Array.isArray(out.watermarks)) {
    body = <Overlay image={imageInto(id, 'image', images)} boxes={out.watermarks} label={`Watermarks ${id}`} onOpen={open} />
  } else if (type === 'IMAGE__NSFW_GATE' && out.nsfw_score !== undefined) {
    body = (
      <div data-testid="node-nsfw">
        <Score label="NSFW" value={out.nsfw_score} />
        <Thumb image={imageAt(id, 'image', images) || imageInto(id, 'image', images)} label={`${id} image`} onOpen={open} />
      </div>
    )
  } else {
    const port = (spec?.outputs || []).find((p) => p.type === 'image' && imageAt(id, p.name, images))
    if (port) body = <Thumb image={imageAt(id, port.name, images)} label={`${id} ${port.name}`} onOpen={open} />
  }
  if (!body) return null
  return (
    <div className="pnode-media" data-testid="node-preview">
      {body}
    </div>
  )
}
