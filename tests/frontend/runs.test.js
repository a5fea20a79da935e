// Live run state from the run detail and WebSocket events (pipelines/canvas/lib/runs.js), and the call
// examples of the Publish dialog (lib/examples.js).
import { describe, expect, it } from 'vitest'
import {
  applyEvent,
  applyRunDetail,
  emptyRun,
  fraction,
  imageAt,
  imageInto,
  attemptLines,
  nodeNote,
  runSocketUrl,
  statusLabel,
  unwrapOutputs,
} from '../../pipelines/canvas/lib/runs.js'
import { curlExecute, curlFluxara, exampleInputs, schemaFields } from '../../pipelines/canvas/lib/examples.js'

const ev = (id, type, node = null, data = {}) => ({ id, type, node, data, created_at: '2026-01-01T00:00:00Z' })

describe('run state', () => {
  it('follows a run from queued to done, node by node', () => {
    let s = applyRunDetail(emptyRun(), {
      id: 'run_1', status: 'queued', progress: 0, nodes: [
        { node_id: 'n1', type: 'INPUT__IMAGE', status: 'queued', progress: 0, outputs: {}, error: null },
        { node_id: 'n2', type: 'IMAGE__RESIZE', status: 'queued', progress: 0, outputs: {}, error: null },
      ],
    })
    expect(s.nodes.n1.status).toBe('queued')
    s = applyEvent(s, ev(1, 'run.started'))
    s = applyEvent(s, ev(2, 'node.started', 'n1', { type: 'INPUT__IMAGE' }))
    expect(s.currentNode).toBe('n1')
    expect(s.nodes.n1.status).toBe('running')
    s = applyEvent(s, ev(3, 'node.completed', 'n1', { outputs: { image: { type: 'image', width: 8, height: 8 } } }))
    s = applyEvent(s, ev(4, 'node.started', 'n2'))
    s = applyEvent(s, ev(5, 'node.progress', 'n2', { progress: 40 }))
    expect(s.nodes.n2.progress).toBeCloseTo(0.4)
    expect(s.currentNode).toBe('n2')
    s = applyEvent(s, ev(6, 'node.completed', 'n2', { outputs: {} }))
    s = applyEvent(s, ev(7, 'run.completed', null, { outputs: {}, credits_used: 3 }))
    expect(s.status).toBe('completed')
    expect(s.currentNode).toBeNull()
    expect(s.creditsUsed).toBe(3)
    expect(s.nodes.n1.status).toBe('completed')
    expect(s.lastEventId).toBe(7)
  })

  it('ignores replayed events after a reconnect', () => {
    let s = applyEvent(emptyRun(), ev(5, 'node.completed', 'n1'))
    const again = applyEvent(s, ev(4, 'node.failed', 'n1', { message: 'late' }))
    expect(again).toBe(s)
    s = applyEvent(s, ev(5, 'node.failed', 'n1', { message: 'dup' }))
    expect(s.nodes.n1.status).toBe('completed')
  })

  it('records failures, blocks and cancellation with their messages', () => {
    let s = applyEvent(emptyRun(), ev(1, 'node.failed', 'n2', { code: 'INVALID_IMAGE', message: 'not an image', node: 'n2' }))
    expect(s.nodes.n2).toMatchObject({ status: 'failed', error: 'not an image' })
    s = applyEvent(s, ev(2, 'run.failed', 'n2', { code: 'INVALID_IMAGE', message: 'not an image', node: 'n2', status: 422 }))
    expect(s).toMatchObject({ status: 'failed', error: 'not an image' })
    let b = applyEvent(emptyRun(), ev(1, 'node.blocked', 'n3', { code: 'NSFW_BLOCKED', message: 'explicit', outputs: { nsfw_score: 0.97 } }))
    expect(b.nodes.n3).toMatchObject({ status: 'blocked', outputs: { nsfw_score: 0.97 } })
    b = applyEvent(b, ev(2, 'run.blocked', 'n3', { code: 'NSFW_BLOCKED', message: 'explicit' }))
    expect(b.status).toBe('blocked')
    const c = applyEvent(emptyRun(), ev(1, 'run.cancelled', null, { reason: 'cancelled by request', credits_used: 0 }))
    expect(c.status).toBe('cancelled')
  })

  it('takes outputs from the run detail, unwrapping {type, value}', () => {
    const s = applyRunDetail(emptyRun(), {
      id: 'run_2', status: 'completed', progress: 100, inputs: { image_url: 'art_1' },
      outputs: {
        result_url: { type: 'image', artifact_id: 'art_9', url: 'http://x/a.png', width: 4, height: 4 },
        caption: { type: 'text', value: 'hello' },
        score: { type: 'number', value: 0.12 },
      },
      nodes: [{ node_id: 'n2', status: 'completed', progress: 100, outputs: { text: 'hi' }, error: { message: 'x' } }],
    })
    expect(s.outputs).toEqual({
      result_url: { type: 'image', artifact_id: 'art_9', url: 'http://x/a.png', width: 4, height: 4 },
      caption: 'hello', score: 0.12,
    })
    expect(s.progress).toBe(1)
    expect(s.inputs).toEqual({ image_url: 'art_1' })
    expect(s.nodes.n2).toMatchObject({ status: 'completed', progress: 1, outputs: { text: 'hi' }, error: 'x' })
    expect(unwrapOutputs({ a: { type: 'json', value: [1] }, b: { value: 2, other: 1 } })).toEqual({ a: [1], b: { value: 2, other: 1 } })
  })

  it('reads progress in percent and names statuses for people', () => {
    expect(fraction(50)).toBe(0.5)
    expect(fraction(1)).toBe(0.01)
    expect(fraction(250)).toBe(1)
    expect(fraction(null)).toBe(0)
    expect(statusLabel('completed')).toBe('done')
    expect(statusLabel('blocked')).toBe('blocked')
  })

  it('builds the WebSocket URL with token and resume point', () => {
    expect(runSocketUrl({ protocol: 'https:', host: 'h:1' }, 'run_1', 'tok', 7)).toBe('wss://h:1/ws/runs/run_1/?token=tok&after=7')
    expect(runSocketUrl({ protocol: 'http:', host: 'h' }, 'run_1', 'tok', 0)).toBe('ws://h/ws/runs/run_1/?token=tok')
  })

  it('finds the URLs of images a run made or took', () => {
    const graph = {
      nodes: [
        { id: 'n1', type: 'INPUT__IMAGE', params: { name: 'photo' } },
        { id: 'n2', type: 'IMAGE__UPSCALE', params: {} },
        { id: 'n3', type: 'OUTPUT__', params: {} },
      ],
      edges: [
        { id: 'e1', from: { node: 'n1', port: 'image' }, to: { node: 'n2', port: 'image' } },
        { id: 'e2', from: { node: 'n2', port: 'image' }, to: { node: 'n3', port: 'big' } },
      ],
    }
    const nodeTypes = {
      INPUT__IMAGE: { exposes_input: {}, outputs: [{ name: 'image', type: 'image' }], params_schema: { properties: { name: { default: 'image_url' } } } },
      IMAGE__UPSCALE: { outputs: [{ name: 'image', type: 'image' }] },
      OUTPUT__: { dynamic_inputs: true, outputs: [] },
    }
    const ctx = { graph, nodeTypes, outputs: { big: { url: 'http://x/big.png', width: 8 } }, inputs: { photo: 'art_5' }, uploads: { art_5: 'http://x/in.png' } }
    expect(imageAt('n2', 'image', ctx)).toEqual({ url: 'http://x/big.png', width: 8 })
    expect(imageInto('n2', 'image', ctx)).toEqual({ url: 'http://x/in.png' })
    expect(imageInto('n2', 'image', { ...ctx, inputs: { photo: 'https://example.com/a.jpg' } })).toEqual({ url: 'https://example.com/a.jpg' })
    expect(imageInto('n2', 'image', { ...ctx, uploads: {} })).toBeNull()
    expect(imageAt('n2', 'image', { ...ctx, outputs: {} })).toBeNull()
  })

  it('shows the image a node stored even when it is not a run output', () => {
    const graph = {
      nodes: [
        { id: 'n1', type: 'INPUT__IMAGE', params: {} },
        { id: 'n2', type: 'IMAGE__RESIZE', params: {} },
        { id: 'n3', type: 'IMAGE__WATERMARK', params: {} },
      ],
      edges: [
        { id: 'e1', from: { node: 'n1', port: 'image' }, to: { node: 'n2', port: 'image' } },
        { id: 'e2', from: { node: 'n2', port: 'image' }, to: { node: 'n3', port: 'image' } },
      ],
    }
    const nodeTypes = { IMAGE__RESIZE: { outputs: [{ name: 'image', type: 'image' }] } }
    const stored = { type: 'image', artifact_id: 'art_9', width: 4, height: 3, url: 'http://x/n2.png' }
    const ctx = { graph, nodeTypes, outputs: {}, inputs: {}, runNodes: { n2: { outputs: { image: stored } } } }
    expect(imageAt('n2', 'image', ctx)).toEqual(stored)
    expect(imageInto('n3', 'image', ctx)).toEqual(stored)
    // a live event describes the image before the run detail brings its URL
    const live = { ...ctx, runNodes: { n2: { outputs: { image: { type: 'image', artifact_id: 'art_9' } } } } }
    expect(imageInto('n3', 'image', live)).toBeNull()
  })
})

describe('publish examples', () => {
  it('reads FractalQ docs schemas and JSON schemas alike', () => {
    expect(schemaFields({ image_url: { type: 'string', required: true } })).toEqual({ image_url: { type: 'string', required: true } })
    expect(schemaFields({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] })).toEqual({ a: { type: 'string', required: true } })
  })

  it('fills example inputs from the published examples first', () => {
    const schema = { image_url: { type: 'string', required: true }, command: { type: 'string' }, n: { type: 'number' } }
    expect(exampleInputs(schema, { command: 'upscale' })).toEqual({ image_url: 'https://example.com/image.jpg', command: 'upscale', n: 1 })
  })

  it('writes curl commands that a shell accepts', () => {
    const cmd = curlExecute('http://h/api/node/api/k/execute', { text: "it's" })
    expect(cmd).toContain('curl -X POST http://h/api/node/api/k/execute')
    expect(cmd).toContain(`'\\''`)
    const flux = curlFluxara('http://h', 'my-pipe', { a: 1 })
    expect(flux).toContain('/api/v1/jobs')
    expect(flux).toContain('"pipeline": "my-pipe"')
  })
})

describe('engine v2 in the canvas', () => {
  it('shows cache hits, fallbacks, retries and reused nodes, and offers to resume a failed run', () => {
    let s = applyRunDetail(emptyRun(), {
      id: 'run_2', status: 'failed', progress: 40, resumable: true, resumes: 0, nodes: [
        { node_id: 'p', type: 'TEST', status: 'completed', progress: 100, outputs: {}, cached: true },
        { node_id: 'b', type: 'LLM', status: 'completed', progress: 100, outputs: {}, fallback_used: true, attempts: 3,
          attempt_log: [
            { attempt: 1, node_type: 'LLM', provider: 'gpt-a', outcome: 'failed', error: { code: 'DOWN' }, duration_ms: 12 },
            { attempt: 2, node_type: 'LLM', provider: 'gpt-a', outcome: 'failed', error: { code: 'DOWN' }, duration_ms: 9 },
            { attempt: 3, node_type: 'LLM', provider: 'gpt-b', outcome: 'completed', duration_ms: 30 },
          ] },
        { node_id: 'r', type: 'TEST', status: 'completed', progress: 100, outputs: {}, attempts: 2, attempt_log: [{}, {}] },
        { node_id: 'f', type: 'TEST', status: 'failed', progress: 0, outputs: {}, error: { code: 'X', message: 'boom' } },
      ],
    })
    expect(s.resumable).toBe(true)
    expect(nodeNote(s.nodes.p)).toEqual({ kind: 'cached', text: 'cached: not run again, not billed' })
    expect(nodeNote(s.nodes.b).kind).toBe('fallback')
    expect(nodeNote(s.nodes.b).text).toContain('gpt-b')
    expect(nodeNote(s.nodes.r)).toEqual({ kind: 'retried', text: '2 attempts' })
    expect(nodeNote(s.nodes.f)).toBe(null)
    expect(attemptLines(s.nodes.b)[0]).toBe('1. LLM (gpt-a) failed DOWN (12 ms)')
    s = applyEvent(s, ev(10, 'run.resumed', null, { resume: 1, reused: ['p', 'b'] }))
    expect(s.status).toBe('queued')
    expect(s.resumable).toBe(false)
    expect(s.nodes.p.reused).toBe(true)
    expect(s.nodes.f.status).toBe('queued')
    expect(s.nodes.f.error).toBe(null)
    s = applyEvent(s, ev(11, 'node.completed', 'f', { outputs: {}, cached: true }))
    expect(s.nodes.f.cached).toBe(true)
    s = applyEvent(s, ev(12, 'node.fallback', 'r', { type: 'BACKUP' }))
    expect(s.nodes.r.error).toBe('falling back to BACKUP')
    s = applyEvent(s, ev(13, 'run.failed', null, { message: 'again' }))
    expect(s.resumable).toBe(true)
  })
})
