// Canvas v2's editing helpers (pipelines/canvas/lib/editing.js), notes in the graph (lib/graph.js) and the
// refresh guard of a signed-out page (lib/auth.js).
import { describe, expect, it } from 'vitest'
import {
  copySelection, diffLines, diffMarks, diffWires, freeSpot, pasteClipboard, pasteOffset, searchNodeTypes, wireKey,
} from '../../pipelines/canvas/lib/editing.js'
import { NOTE_NODE_TYPE, apiToFlow, flowToApi } from '../../pipelines/canvas/lib/graph.js'
import { mayRefresh } from '../../pipelines/canvas/lib/auth.js'

const specs = {
  INPUT__IMAGE: { type: 'INPUT__IMAGE', title: 'Image input', exposes_input: { type: 'string' } },
  IMAGE__RESIZE: { type: 'IMAGE__RESIZE', title: 'Resize', family: 'image' },
  IMAGE__GRAYSCALE: { type: 'IMAGE__GRAYSCALE', title: 'Grayscale', family: 'image', description: 'black and white' },
}
const flowNode = (id, type, x, y, extra = {}) => ({ id, type: 'pipeline', position: { x, y }, data: { nodeType: type, params: {} }, ...extra })

describe('copy and paste', () => {
  const nodes = [
    flowNode('n1', 'INPUT__IMAGE', 0, 0, { selected: true, data: { nodeType: 'INPUT__IMAGE', params: { name: 'image_url' } } }),
    flowNode('n2', 'IMAGE__RESIZE', 250, 0, { selected: true }),
    flowNode('n3', 'IMAGE__GRAYSCALE', 500, 0),
  ]
  const edges = [
    { id: 'e1', source: 'n1', sourceHandle: 'image', target: 'n2', targetHandle: 'image' },
    { id: 'e2', source: 'n2', sourceHandle: 'image', target: 'n3', targetHandle: 'image' },
  ]

  it('copies the selection with the wires inside it only', () => {
    const clip = copySelection(nodes, edges)
    expect(clip.nodes.map((n) => n.id)).toEqual(['n1', 'n2'])
    expect(clip.edges).toEqual([{ source: 'n1', sourceHandle: 'image', target: 'n2', targetHandle: 'image' }])
    expect(copySelection(nodes.map((n) => ({ ...n, selected: false })), edges)).toBeNull()
  })

  it('pastes under new ids, moved, selected, with unique input names', () => {
    const clip = copySelection(nodes, edges)
    const out = pasteClipboard(clip, nodes, edges, { x: 40, y: 40 }, specs)
    expect(out.added).toEqual(['n4', 'n5'])
    const pasted = out.nodes.slice(3)
    expect(pasted.map((n) => [n.id, n.position, n.selected])).toEqual([
      ['n4', { x: 40, y: 40 }, true],
      ['n5', { x: 290, y: 40 }, true],
    ])
    expect(pasted[0].data.params.name).toBe('image_url_2')
    expect(out.nodes.slice(0, 3).every((n) => !n.selected)).toBe(true)
    expect(out.edges.at(-1)).toMatchObject({ id: 'e3', source: 'n4', target: 'n5' })
    expect(nodes[0].data.params.name).toBe('image_url') // the originals are untouched
    expect(pasted[0]).not.toHaveProperty('size')
  })

  it('pastes the group where it covers no node', () => {
    const clip = copySelection(nodes, edges)
    const offset = pasteOffset(clip, nodes, 1)
    const moved = clip.nodes.map((n) => ({ x: n.position.x + offset.x, y: n.position.y + offset.y }))
    // the group (450 wide, 110 high) clears every existing node (all on the row y = 0)
    expect(moved.every((p) => p.y >= 110 || p.y + 110 <= 0)).toBe(true)
  })
})

describe('free spot', () => {
  it('keeps a free position and moves off an occupied one', () => {
    const nodes = [flowNode('n1', 'IMAGE__RESIZE', 0, 0, { measured: { width: 200, height: 110 } })]
    expect(freeSpot(nodes, { x: 400, y: 0 })).toEqual({ x: 400, y: 0 })
    const spot = freeSpot(nodes, { x: 10, y: 10 })
    expect(spot).not.toEqual({ x: 10, y: 10 })
    const clear = spot.x >= 224 || spot.x <= -224 || spot.y >= 134 || spot.y <= -134
    expect(clear).toBe(true)
  })

  it('lets a node cover a note', () => {
    const note = { id: 'note1', type: NOTE_NODE_TYPE, position: { x: 0, y: 0 }, style: { width: 600, height: 400 }, data: {} }
    expect(freeSpot([note], { x: 50, y: 50 })).toEqual({ x: 50, y: 50 })
  })
})

describe('node search', () => {
  it('ranks prefix matches first and searches descriptions', () => {
    const list = Object.values(specs)
    expect(searchNodeTypes(list, 'res').map((s) => s.type)).toEqual(['IMAGE__RESIZE'])
    expect(searchNodeTypes(list, 'black white').map((s) => s.type)).toEqual(['IMAGE__GRAYSCALE'])
    expect(searchNodeTypes(list, 'put').map((s) => s.type)).toEqual(['INPUT__IMAGE'])
    expect(searchNodeTypes(list, 'zzz')).toEqual([])
  })
})

describe('version diff marks', () => {
  const diff = {
    from: 1, to: 2,
    nodes: {
      added: [{ id: 'n4', type: 'IMAGE__GRAYSCALE' }],
      removed: [],
      changed: [{ id: 'n2', type: 'IMAGE__RESIZE', params: [{ param: 'width', change: 'changed', from: 32, to: 64 }] }],
    },
    edges: { added: [{ from: { node: 'n2', port: 'image' }, to: { node: 'n4', port: 'image' } }], removed: [] },
  }
  it('marks nodes by id and lists the changes', () => {
    expect(diffMarks(diff).n4.kind).toBe('added')
    expect(diffMarks(diff).n2.params[0].param).toBe('width')
    expect(diffLines(diff)).toEqual([
      '+ n4 (IMAGE__GRAYSCALE) added',
      '~ n2: width 32 → 64',
      '+ wire n2.image → n4.image',
    ])
    const flowEdge = { source: 'n2', sourceHandle: 'image', target: 'n4', targetHandle: 'image' }
    expect(diffWires(diff).added.has(wireKey(flowEdge))).toBe(true)
    expect(diffWires(diff).removed.size).toBe(0)
  })
})

describe('notes', () => {
  it('round-trip through the API graph and stay out of its nodes', () => {
    const graph = {
      nodes: [{ id: 'n1', type: 'IMAGE__RESIZE', params: {}, position: { x: 0, y: 0 } }],
      edges: [],
      notes: [{ id: 'note1', text: 'hello', position: { x: 5, y: 6 }, width: 300, height: 150 }],
    }
    const flow = apiToFlow(graph)
    expect(flow.nodes.map((n) => n.type)).toEqual(['pipeline', NOTE_NODE_TYPE])
    expect(flowToApi(flow.nodes, flow.edges)).toEqual(graph)
    expect(flowToApi(flow.nodes.slice(0, 1), [])).not.toHaveProperty('notes')
  })
})

describe('refresh guard', () => {
  it('refreshes only when the signed-in cookie is there', () => {
    expect(mayRefresh('')).toBe(false)
    expect(mayRefresh('csrftoken=x; signed_in=1')).toBe(true)
    expect(mayRefresh('not_signed_in=1')).toBe(false)
  })
})
