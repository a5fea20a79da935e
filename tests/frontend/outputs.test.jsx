// How results look: rendered to HTML with react-dom/server (no browser needed).
import { describe, expect, it } from 'vitest'
import { renderToStaticMarkup } from 'react-dom/server'
import { artifactLinks, boxOf, looksLikeBoxes, OutputsList } from '../../pipelines/canvas/components/Outputs.jsx'
import { ResultsPanel } from '../../pipelines/canvas/studio/ResultsPanel.jsx'
import { applyRunDetail, emptyRun } from '../../pipelines/canvas/lib/runs.js'

const nodeTypes = {
  INPUT__IMAGE: { exposes_input: {}, outputs: [{ name: 'image', type: 'image' }], params_schema: { properties: { name: { default: 'image_url' } } } },
  IMAGE__UPSCALE: { outputs: [{ name: 'image', type: 'image' }] },
  IMAGE__WATERMARK: { outputs: [{ name: 'watermarks', type: 'json' }] },
  IMAGE__OCR: { outputs: [{ name: 'text', type: 'text' }] },
  IMAGE__NSFW_GATE: { outputs: [{ name: 'nsfw_score', type: 'number' }] },
  OUTPUT__: { dynamic_inputs: true, outputs: [] },
}

const graph = {
  nodes: [
    { id: 'n1', type: 'INPUT__IMAGE', params: {} },
    { id: 'up', type: 'IMAGE__UPSCALE', params: {} },
    { id: 'wm', type: 'IMAGE__WATERMARK', params: {} },
    { id: 'ocr', type: 'IMAGE__OCR', params: {} },
    { id: 'gate', type: 'IMAGE__NSFW_GATE', params: {} },
    { id: 'out', type: 'OUTPUT__', params: {} },
  ],
  edges: [
    { id: 'e1', from: { node: 'n1', port: 'image' }, to: { node: 'up', port: 'image' } },
    { id: 'e2', from: { node: 'n1', port: 'image' }, to: { node: 'wm', port: 'image' } },
    { id: 'e3', from: { node: 'n1', port: 'image' }, to: { node: 'ocr', port: 'image' } },
    { id: 'e4', from: { node: 'n1', port: 'image' }, to: { node: 'gate', port: 'image' } },
    { id: 'e5', from: { node: 'up', port: 'image' }, to: { node: 'out', port: 'big' } },
  ],
}

const run = applyRunDetail(emptyRun(), {
  id: 'run_x', status: 'completed', progress: 100, credits_used: 9, inputs: { image_url: 'https://example.com/in.png' },
  outputs: { big: { type: 'image', url: 'http://h/media/big.png', width: 256, height: 256, artifact_id: 'art_2' } },
  nodes: [
    { node_id: 'up', status: 'completed', progress: 100, outputs: { image: { type: 'image', width: 256, height: 256 } } },
    { node_id: 'wm', status: 'completed', progress: 100, outputs: { watermarks: [{ box: [10, 20, 30, 40], confidence: 0.9 }], count: 1 } },
    { node_id: 'ocr', status: 'completed', progress: 100, outputs: { text: 'مرحبا HELLO', lines: [] } },
    { node_id: 'gate', status: 'completed', progress: 100, outputs: { nsfw_score: 0.031, blocked: false } },
  ],
})

describe('results panel', () => {
  const html = renderToStaticMarkup(
    <ResultsPanel run={run} graph={graph} nodeTypes={nodeTypes} uploads={{}} onCancel={() => null} historyUrl="/h" />,
  )

  it('shows the upscale as a before/after comparison', () => {
    expect(html).toContain('data-testid="before-after"')
    expect(html).toContain('src="https://example.com/in.png"')
    expect(html).toContain('src="http://h/media/big.png"')
  })

  it('draws watermark boxes over the image they were found on', () => {
    expect(html).toContain('data-testid="watermark-boxes"')
    expect(html).toContain('Watermarks (wm): 1 found')
  })

  it('shows OCR text (right-to-left aware) and the NSFW score', () => {
    expect(html).toContain('dir="auto"')
    expect(html).toContain('مرحبا HELLO')
    expect(html).toContain('NSFW score')
    expect(html).toContain('0.031')
    expect(html).toContain('Passed.')
  })

  it('offers no cancel once the run is over, and credits and status', () => {
    expect(html).not.toContain('Cancel run')
    expect(html).toContain('data-run-status="completed"')
    expect(html).toContain('data-testid="run-credits">9<')
  })

  it('offers cancel while the run is active', () => {
    const active = renderToStaticMarkup(
      <ResultsPanel run={{ ...run, status: 'running' }} graph={graph} nodeTypes={nodeTypes} uploads={{}} onCancel={() => null} />,
    )
    expect(active).toContain('Cancel run')
  })
})

describe('output values', () => {
  it('renders images, numbers, text and JSON by shape', () => {
    const html = renderToStaticMarkup(
      <OutputsList outputs={{
        result_url: { url: 'http://h/a.png', width: 4, height: 4, artifact_id: 'art_1' },
        nsfw_score: 0.5, count: 3, text: 'hi', meta: { scale: 4 }, pending: { type: 'image', width: 2, height: 2 },
      }} />,
    )
    expect(html).toContain('alt="Output result_url"')
    expect(html).toContain('<meter')
    expect(html).toContain('<strong class="number">3</strong>')
    expect(html).toContain('<pre class="output-text">hi</pre>')
    expect(html).toContain('&quot;scale&quot;: 4')
    expect(html).toContain('image 2×2')
  })

  it('reads detection boxes in the usual shapes', () => {
    expect(boxOf({ box: [1, 2, 3, 4] })).toEqual([1, 2, 3, 4])
    expect(boxOf({ x: 1, y: 2, width: 3, height: 4 })).toEqual([1, 2, 4, 6])
    expect(boxOf({ x1: 1, y1: 2, x2: 3, y2: 4 })).toEqual([1, 2, 3, 4])
    expect(boxOf({ nope: 1 })).toBeNull()
    expect(looksLikeBoxes([{ bbox: [0, 0, 1, 1] }])).toBe(true)
    expect(looksLikeBoxes([])).toBe(false)
  })

  it('collects artifact links anywhere in outputs', () => {
    expect(artifactLinks({ a: { url: 'u1', artifact_id: 'art_1' }, b: [{ url: 'u2' }] }, 'outputs')).toEqual([
      { path: 'outputs.a', url: 'u1', id: 'art_1' },
      { path: 'outputs.b.0', url: 'u2', id: undefined },
    ])
  })
})
