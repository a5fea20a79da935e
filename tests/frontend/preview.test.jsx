// The previews drawn on the canvas's nodes (pipelines/canvas/studio/NodePreview.jsx), rendered to HTML.
import { describe, expect, it } from 'vitest'
import { renderToStaticMarkup } from 'react-dom/server'
import { NodePreview } from '../../pipelines/canvas/studio/NodePreview.jsx'
import { StudioContext } from '../../pipelines/canvas/studio/context.js'

const nodeTypes = {
  IMAGE__RESIZE: { outputs: [{ name: 'image', type: 'image' }] },
  IMAGE__WATERMARK: { outputs: [{ name: 'watermarks', type: 'json' }, { name: 'count', type: 'number' }] },
  IMAGE__OCR: { outputs: [{ name: 'text', type: 'text' }, { name: 'lines', type: 'json' }] },
  IMAGE__NSFW_GATE: { outputs: [{ name: 'nsfw_score', type: 'number' }, { name: 'image', type: 'image' }] },
}
const image = { type: 'image', url: 'http://h/media/small.png', width: 100, height: 50, artifact_id: 'art_1' }
const graph = {
  nodes: ['rs', 'wm', 'ocr', 'gate'].map((id, i) => ({ id, type: Object.keys(nodeTypes)[i], params: {} })),
  edges: ['wm', 'ocr', 'gate'].map((to) => ({ from: { node: 'rs', port: 'image' }, to: { node: to, port: 'image' } })),
}
const runNodes = {
  rs: { status: 'completed', outputs: { image } },
  wm: { status: 'completed', outputs: { watermarks: [{ box: [10, 5, 60, 25], confidence: 0.87 }], count: 1 } },
  ocr: { status: 'completed', outputs: { text: 'HELLO', lines: [{ text: 'HELLO', box: [0, 0, 50, 10], confidence: 0.99 }] } },
  gate: { status: 'completed', outputs: { nsfw_score: 0.02, image } },
}

function render(id, type) {
  const ctx = { nodeTypes, runNodes, images: { graph, nodeTypes, runNodes, outputs: null, inputs: {}, uploads: {} },
    openImage: () => null }
  return renderToStaticMarkup(
    <StudioContext.Provider value={ctx}>
      <NodePreview id={id} type={type} />
    </StudioContext.Provider>,
  )
}

describe('node previews', () => {
  it('shows an intermediate image, clickable to full size', () => {
    const html = render('rs', 'IMAGE__RESIZE')
    expect(html).toContain('src="http://h/media/small.png"')
    expect(html).toContain('aria-label="Open rs image full size"')
  })

  it('draws watermark boxes with their confidence over the image they were found on', () => {
    const html = render('wm', 'IMAGE__WATERMARK')
    expect(html).toContain('src="http://h/media/small.png"')
    expect(html).toContain('left:10%;top:10%;width:50%;height:40%')
    expect(html).toContain('87%')
  })

  it('boxes the OCR lines and shows the text', () => {
    const html = render('ocr', 'IMAGE__OCR')
    expect(html).toContain('data-testid="node-ocr-text"')
    expect(html).toContain('HELLO')
    expect(html).toContain('class="box"')
  })

  it('shows the NSFW score', () => {
    const html = render('gate', 'IMAGE__NSFW_GATE')
    expect(html).toContain('<meter')
    expect(html).toContain('0.020')
  })

  it('shows nothing for a node without a run', () => {
    expect(render('zz', 'IMAGE__RESIZE')).toBe('')
  })
})
