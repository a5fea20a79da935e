// The canvas's graph <-> API conversion and wiring rules (pipelines/canvas/lib/graph.js).
import { describe, expect, it } from 'vitest'
import {
  FLOW_NODE_TYPE,
  NEW_PORT,
  apiToFlow,
  checkConnection,
  connectEdge,
  dynamicPortNames,
  errorsByNode,
  flowToApi,
  graphKey,
  groupByFamily,
  indexNodeTypes,
  layoutPositions,
  nextId,
  paramDefaults,
  portsCompatible,
  renameDynamicPort,
  runInputs,
  uniquePortName,
} from '../../pipelines/canvas/lib/graph.js'

// A slice of GET /api/v1/studio/node-types as the server describes it.
const SPECS = [
  {
    type: 'INPUT__IMAGE', family: 'io', title: 'Image input', inputs: [],
    outputs: [{ name: 'image', type: 'image' }], dynamic_inputs: false, exposes_input: { type: 'string' },
    params_schema: { type: 'object', properties: {
      name: { type: 'string', default: 'image_url' },
      description: { type: 'string', default: 'Image URL to process' },
      required: { type: 'boolean', default: true },
    } },
  },
  {
    type: 'INPUT__TEXT', family: 'io', title: 'Text input', inputs: [],
    outputs: [{ name: 'text', type: 'text' }], dynamic_inputs: false, exposes_input: { type: 'string' },
    params_schema: { type: 'object', properties: { name: { type: 'string', default: 'text' }, required: { type: 'boolean', default: false } } },
  },
  { type: 'OUTPUT__', family: 'io', title: 'Output', inputs: [], outputs: [], dynamic_inputs: true, exposes_input: null,
    params_schema: { type: 'object', properties: {} } },
  {
    type: 'IMAGE__RESIZE', family: 'image', title: 'Resize',
    inputs: [{ name: 'image', type: 'image', required: true }], outputs: [{ name: 'image', type: 'image' }],
    dynamic_inputs: false, exposes_input: null,
    params_schema: { type: 'object', properties: {
      width: { type: 'integer', minimum: 1, maximum: 8192, default: 512 },
      mode: { type: 'string', enum: ['fit', 'fill', 'stretch'], default: 'fit' },
      background: { type: 'array', default: [0, 0, 0] },
    } },
  },
  {
    type: 'IMAGE__OCR', family: 'ocr', title: 'OCR',
    inputs: [{ name: 'image', type: 'image', required: true }],
    outputs: [{ name: 'text', type: 'text' }, { name: 'lines', type: 'json' }],
    dynamic_inputs: false, exposes_input: null, params_schema: { type: 'object', properties: {} },
  },
  {
    type: 'IMAGE__NSFW_GATE', family: 'safety', title: 'NSFW gate',
    inputs: [{ name: 'image', type: 'image', required: true }],
    outputs: [{ name: 'image', type: 'image' }, { name: 'nsfw_score', type: 'number' }, { name: 'blocked', type: 'json' }],
    dynamic_inputs: false, exposes_input: null, params_schema: { type: 'object', properties: {} },
  },
]
const TYPES = indexNodeTypes(SPECS)

const GRAPH = {
  nodes: [
    { id: 'n1', type: 'INPUT__IMAGE', params: { name: 'image_url' }, position: { x: 0, y: 0 } },
    { id: 'n2', type: 'IMAGE__RESIZE', params: { width: 256 }, position: { x: 300, y: 10 } },
    { id: 'n3', type: 'OUTPUT__', params: {}, position: { x: 600, y: 20 } },
  ],
  edges: [
    { id: 'e1', from: { node: 'n1', port: 'image' }, to: { node: 'n2', port: 'image' } },
    { id: 'e2', from: { node: 'n2', port: 'image' }, to: { node: 'n3', port: 'result_url' } },
  ],
}

describe('apiToFlow / flowToApi', () => {
  it('round-trips a graph exactly', () => {
    const { nodes, edges } = apiToFlow(GRAPH)
    expect(flowToApi(nodes, edges)).toEqual(GRAPH)
  })

  it('maps nodes and edges onto React Flow shapes with port names as handle ids', () => {
    const { nodes, edges } = apiToFlow(GRAPH)
    expect(nodes[1]).toEqual({
      id: 'n2', type: FLOW_NODE_TYPE, position: { x: 300, y: 10 },
      data: { nodeType: 'IMAGE__RESIZE', params: { width: 256 } },
    })
    expect(edges[1]).toEqual({ id: 'e2', source: 'n2', sourceHandle: 'image', target: 'n3', targetHandle: 'result_url' })
  })

  it('keeps only what the API stores: no selection, sizes or run state, positions rounded', () => {
    const { nodes, edges } = apiToFlow(GRAPH)
    nodes[0] = { ...nodes[0], selected: true, dragging: false, measured: { width: 220, height: 90 }, position: { x: 10.6, y: -3.2 } }
    edges[0] = { ...edges[0], selected: true, animated: true, className: 'edge-image' }
    const api = flowToApi(nodes, edges)
    expect(api.nodes[0]).toEqual({ id: 'n1', type: 'INPUT__IMAGE', params: { name: 'image_url' }, position: { x: 11, y: -3 } })
    expect(api.edges[0]).toEqual(GRAPH.edges[0])
  })

  it('drops params left undefined (cleared fields) and edges to deleted nodes', () => {
    const { nodes, edges } = apiToFlow(GRAPH)
    nodes[1].data.params = { width: undefined, mode: 'fill' }
    const api = flowToApi(nodes.filter((n) => n.id !== 'n3'), edges)
    expect(api.nodes[1].params).toEqual({ mode: 'fill' })
    expect(api.edges.map((e) => e.id)).toEqual(['e1'])
  })

  it('survives malformed input: missing lists, duplicate ids, dangling edges, missing edge ids', () => {
    expect(apiToFlow(null)).toEqual({ nodes: [], edges: [] })
    expect(apiToFlow({ nodes: [] })).toEqual({ nodes: [], edges: [] })
    const flow = apiToFlow({
      nodes: [{ id: 'a', type: 'INPUT__IMAGE' }, { id: 'a', type: 'OUTPUT__' }, { type: 'X' }, { id: 'b', type: 'OUTPUT__' }],
      edges: [
        { from: { node: 'a', port: 'image' }, to: { node: 'b', port: 'x' } },
        { id: 'e9', from: { node: 'a', port: 'image' }, to: { node: 'zz', port: 'x' } },
      ],
    })
    expect(flow.nodes.map((n) => n.id)).toEqual(['a', 'b'])
    expect(flow.nodes[0].data.params).toEqual({})
    expect(flow.edges).toHaveLength(1)
    expect(flow.edges[0].id).toBeTruthy()
  })

  it('lays out nodes without positions by depth, and keeps stored positions', () => {
    const graph = {
      nodes: [{ id: 'c', type: 'OUTPUT__' }, { id: 'a', type: 'INPUT__IMAGE' }, { id: 'b', type: 'IMAGE__RESIZE', position: { x: 5, y: 6 } }],
      edges: [
        { id: 'e1', from: { node: 'a', port: 'image' }, to: { node: 'b', port: 'image' } },
        { id: 'e2', from: { node: 'b', port: 'image' }, to: { node: 'c', port: 'out' } },
      ],
    }
    const pos = layoutPositions(graph)
    expect(pos.a.x).toBeLessThan(pos.c.x)
    expect(pos.b).toEqual({ x: 5, y: 6 })
    // a cycle does not hang the layout
    const cyclic = { nodes: [{ id: 'x' }, { id: 'y' }], edges: [
      { from: { node: 'x', port: 'p' }, to: { node: 'y', port: 'p' } },
      { from: { node: 'y', port: 'p' }, to: { node: 'x', port: 'p' } },
    ] }
    expect(Object.keys(layoutPositions(cyclic))).toEqual(['x', 'y'])
  })

  it('gives a stable key that changes only with the graph', () => {
    const a = apiToFlow(GRAPH)
    const b = apiToFlow(JSON.parse(JSON.stringify(GRAPH)))
    expect(graphKey(flowToApi(a.nodes, a.edges))).toBe(graphKey(flowToApi(b.nodes, b.edges)))
    b.nodes[1].data.params.width = 300
    expect(graphKey(flowToApi(a.nodes, a.edges))).not.toBe(graphKey(flowToApi(b.nodes, b.edges)))
  })
})

describe('port compatibility and wiring', () => {
  it('follows the server rule: equal, any, text/number into json', () => {
    expect(portsCompatible('image', 'image')).toBe(true)
    expect(portsCompatible('image', 'any')).toBe(true)
    expect(portsCompatible('any', 'text')).toBe(true)
    expect(portsCompatible('text', 'json')).toBe(true)
    expect(portsCompatible('number', 'json')).toBe(true)
    expect(portsCompatible('json', 'text')).toBe(false)
    expect(portsCompatible('text', 'image')).toBe(false)
    expect(portsCompatible('image', 'json')).toBe(false)
  })

  const flow = () => {
    const f = apiToFlow({
      nodes: [
        { id: 'n1', type: 'INPUT__IMAGE' }, { id: 'n2', type: 'IMAGE__RESIZE' }, { id: 'n3', type: 'OUTPUT__' },
        { id: 'n4', type: 'INPUT__TEXT' }, { id: 'n5', type: 'IMAGE__OCR' },
      ],
      edges: [{ id: 'e1', from: { node: 'n1', port: 'image' }, to: { node: 'n2', port: 'image' } }],
    })
    return f
  }

  it('refuses incompatible ports with a reason naming both ends', () => {
    const { nodes, edges } = flow()
    const res = checkConnection({ source: 'n4', sourceHandle: 'text', target: 'n2', targetHandle: 'image' }, nodes, edges, TYPES)
    expect(res.ok).toBe(false)
    expect(res.reason).toContain('n4.text (text)')
    expect(res.reason).toContain('n2.image (image)')
  })

  it('accepts compatible ports and anything into the OUTPUT__ node', () => {
    const { nodes, edges } = flow()
    expect(checkConnection({ source: 'n2', sourceHandle: 'image', target: 'n5', targetHandle: 'image' }, nodes, edges, TYPES).ok).toBe(true)
    expect(checkConnection({ source: 'n5', sourceHandle: 'lines', target: 'n3', targetHandle: NEW_PORT }, nodes, edges, TYPES).ok).toBe(true)
    expect(checkConnection({ source: 'n4', sourceHandle: 'text', target: 'n3', targetHandle: 'caption' }, nodes, edges, TYPES).ok).toBe(true)
  })

  it('refuses self loops, cycles, unknown ports and unknown nodes', () => {
    const { nodes, edges } = flow()
    expect(checkConnection({ source: 'n2', sourceHandle: 'image', target: 'n2', targetHandle: 'image' }, nodes, edges, TYPES).ok).toBe(false)
    const chain = connectEdge({ source: 'n2', sourceHandle: 'image', target: 'n5', targetHandle: 'image' }, edges, (ids) => nextId(ids, 'e'))
    // n5 has no image output, so test the cycle with resize -> resize chains instead
    const f2 = apiToFlow({
      nodes: [{ id: 'a', type: 'IMAGE__RESIZE' }, { id: 'b', type: 'IMAGE__RESIZE' }],
      edges: [{ id: 'e1', from: { node: 'a', port: 'image' }, to: { node: 'b', port: 'image' } }],
    })
    const cyc = checkConnection({ source: 'b', sourceHandle: 'image', target: 'a', targetHandle: 'image' }, f2.nodes, f2.edges, TYPES)
    expect(cyc).toEqual({ ok: false, reason: 'That wire would make a cycle' })
    expect(checkConnection({ source: 'n2', sourceHandle: 'nope', target: 'n5', targetHandle: 'image' }, nodes, chain, TYPES).ok).toBe(false)
    expect(checkConnection({ source: 'n2', sourceHandle: 'image', target: 'n5', targetHandle: 'nope' }, nodes, chain, TYPES).ok).toBe(false)
    expect(checkConnection({ source: 'zz', sourceHandle: 'image', target: 'n5', targetHandle: 'image' }, nodes, chain, TYPES).ok).toBe(false)
  })

  it('replaces the wire already feeding an input', () => {
    const { edges } = flow()
    const next = connectEdge({ source: 'n9', sourceHandle: 'image', target: 'n2', targetHandle: 'image' }, edges, (ids) => nextId(ids, 'e'))
    expect(next).toHaveLength(1)
    expect(next[0]).toMatchObject({ source: 'n9', target: 'n2', targetHandle: 'image', id: 'e1' })
  })

  it('names a wire dropped on the OUTPUT__ "+ output" handle after its source port, uniquely', () => {
    let { edges } = flow()
    const make = (ids) => nextId(ids, 'e')
    edges = connectEdge({ source: 'n2', sourceHandle: 'image', target: 'n3', targetHandle: NEW_PORT }, edges, make)
    edges = connectEdge({ source: 'n1', sourceHandle: 'image', target: 'n3', targetHandle: NEW_PORT }, edges, make)
    expect(dynamicPortNames('n3', edges)).toEqual(['image', 'image_2'])
    const api = flowToApi(apiToFlow(GRAPH).nodes.concat([{ id: 'n3', data: { nodeType: 'OUTPUT__' }, position: { x: 0, y: 0 } }]), edges)
    expect(api.edges.map((e) => e.to.port)).toContain('image_2')
  })

  it('renames output keys only to free identifiers', () => {
    const { edges } = apiToFlow(GRAPH)
    const renamed = renameDynamicPort(edges, 'n3', 'result_url', 'resized')
    expect(dynamicPortNames('n3', renamed)).toEqual(['resized'])
    expect(renameDynamicPort(edges, 'n3', 'result_url', '1bad')).toBeNull()
    expect(renameDynamicPort(edges, 'n3', 'result_url', 'has space')).toBeNull()
    const two = [...edges, { id: 'e3', source: 'n1', sourceHandle: 'image', target: 'n3', targetHandle: 'original' }]
    expect(renameDynamicPort(two, 'n3', 'result_url', 'original')).toBeNull()
  })
})

describe('helpers', () => {
  it('numbers new nodes and edges after the highest id', () => {
    expect(nextId([])).toBe('n1')
    expect(nextId(['n1', 'n7', 'x3'])).toBe('n8')
    expect(nextId(['e2', 'e10'], 'e')).toBe('e11')
  })

  it('makes port names valid identifiers', () => {
    expect(uniquePortName('image', [])).toBe('image')
    expect(uniquePortName('image', ['image', 'image_2'])).toBe('image_3')
    expect(uniquePortName('nsfw-score', [])).toBe('nsfw_score')
    expect(uniquePortName('2x', [])).toBe('_2x')
  })

  it('starts a new node with its schema defaults (copies, not shared objects)', () => {
    const d = paramDefaults(TYPES.IMAGE__RESIZE.params_schema)
    expect(d).toEqual({ width: 512, mode: 'fit', background: [0, 0, 0] })
    d.background.push(1)
    expect(TYPES.IMAGE__RESIZE.params_schema.properties.background.default).toEqual([0, 0, 0])
    expect(paramDefaults(undefined)).toEqual({})
  })

  it('groups the palette by family, I/O first', () => {
    const groups = groupByFamily(SPECS)
    expect(groups.map((g) => g.family)).toEqual(['io', 'image', 'ocr', 'safety'])
    expect(groups[0].items.map((s) => s.type)).toEqual(['INPUT__IMAGE', 'INPUT__TEXT', 'OUTPUT__'])
  })

  it('derives the run form from INPUT__ nodes and their params', () => {
    const graph = {
      nodes: [
        { id: 'n1', type: 'INPUT__IMAGE', params: {} },
        { id: 'n2', type: 'INPUT__TEXT', params: { name: 'command', required: true } },
        { id: 'n3', type: 'IMAGE__RESIZE', params: {} },
      ],
      edges: [],
    }
    expect(runInputs(graph, TYPES)).toEqual([
      { name: 'image_url', node: 'n1', kind: 'image', required: true, description: 'Image URL to process', example: '' },
      { name: 'command', node: 'n2', kind: 'text', required: true, description: '', example: '' },
    ])
  })

  it('sorts server validation errors onto their nodes', () => {
    const res = errorsByNode([
      { node: 'n2', port: 'image', code: 'MISSING_CONNECTION', message: 'not connected' },
      { node: null, port: null, code: 'MISSING_OUTPUT', message: 'needs an OUTPUT__ node' },
      { node: 'n2', port: 'width', code: 'INVALID_PARAM', message: 'too big' },
    ])
    expect(Object.keys(res.byNode)).toEqual(['n2'])
    expect(res.byNode.n2).toHaveLength(2)
    expect(res.general[0].code).toBe('MISSING_OUTPUT')
  })
})
