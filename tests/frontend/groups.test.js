// Groups on the canvas (pipelines/canvas/lib/groups.js): which nodes lie inside a frame, how a dragged frame
// carries them, copy of a group with its nodes, and groups in the saved graph (lib/graph.js).
import { applyNodeChanges } from '@xyflow/react'
import { describe, expect, it } from 'vitest'
import { copySelection, freeSpot, pasteClipboard, pasteOffset } from '../../pipelines/canvas/lib/editing.js'
import { GROUP_NODE_TYPE, GROUP_Z, apiToFlow, flowToApi } from '../../pipelines/canvas/lib/graph.js'
import {
  followGroups, frameAround, nodesInFrame, selectGroupMembers, startGroupDrag,
} from '../../pipelines/canvas/lib/groups.js'

const size = { width: 200, height: 110 }
const node = (id, x, y, extra = {}) => ({
  id, type: 'pipeline', position: { x, y }, measured: size, data: { nodeType: 'IMAGE__RESIZE', params: {} }, ...extra,
})
const group = (id, x, y, width, height, extra = {}) => ({
  id, type: GROUP_NODE_TYPE, position: { x, y }, style: { width, height }, data: { title: id }, zIndex: GROUP_Z, ...extra,
})
const note = (id, x, y) => ({ id, type: 'note', position: { x, y }, style: { width: 220, height: 120 }, data: { text: '' } })

// group1 frames n1, n2 and note1; n3 is outside; n4 sticks out of the right edge.
const canvas = () => [
  group('group1', 0, 0, 700, 400),
  node('n1', 40, 60),
  node('n2', 300, 60),
  note('note1', 40, 220),
  node('n3', 900, 60),
  node('n4', 600, 200),
]

describe('which nodes are inside a frame', () => {
  it('takes the nodes and notes whose whole box lies inside the frame', () => {
    const nodes = canvas()
    expect(nodesInFrame(nodes[0], nodes)).toEqual(['n1', 'n2', 'note1'])
  })

  it('uses the measured size of the frame once React Flow has one, and holds nested groups', () => {
    const nodes = [group('group1', 0, 0, 100, 100, { measured: { width: 1000, height: 500 } }), group('group2', 10, 10, 300, 200), node('n1', 20, 40)]
    expect(nodesInFrame(nodes[0], nodes)).toEqual(['group2', 'n1'])
    expect(nodesInFrame(nodes[1], nodes)).toEqual(['n1'])
  })

  it('frames a selection with room around it', () => {
    expect(frameAround([node('n1', 40, 60), node('n2', 300, 60)])).toEqual({
      position: { x: 0, y: 20 }, size: { width: 540, height: 190 },
    })
    expect(frameAround([])).toBeNull()
  })
})

describe('dragging a group', () => {
  it('moves every member by the offset of the frame, leaves the rest, and ends with them', () => {
    let nodes = canvas()
    const drag = startGroupDrag([nodes[0]], nodes)
    expect(Object.keys(drag.group1.members)).toEqual(['n1', 'n2', 'note1'])
    const steps = [
      [{ type: 'position', id: 'group1', position: { x: 10, y: 5 }, dragging: true }],
      [{ type: 'position', id: 'group1', position: { x: 120, y: 80 }, dragging: true }],
      [{ type: 'position', id: 'group1', position: { x: 120, y: 80 }, dragging: false }],
    ]
    for (const changes of steps) nodes = applyNodeChanges(followGroups(changes, drag), nodes)
    const at = Object.fromEntries(nodes.map((n) => [n.id, n.position]))
    expect(at).toEqual({
      group1: { x: 120, y: 80 },
      n1: { x: 160, y: 140 },
      n2: { x: 420, y: 140 },
      note1: { x: 160, y: 300 },
      n3: { x: 900, y: 60 },
      n4: { x: 600, y: 200 },
    })
    expect(nodes.some((n) => n.dragging)).toBe(false)
  })

  it('does not carry what React Flow already moves, nor a member of two dragged groups twice', () => {
    const nodes = [group('outer', 0, 0, 800, 600), group('inner', 20, 40, 400, 300), node('n1', 60, 100), node('n2', 500, 100)]
    const drag = startGroupDrag([nodes[0], nodes[1], nodes[3]], nodes)
    expect(Object.keys(drag.outer.members)).toEqual(['n1'])
    expect(Object.keys(drag.inner.members)).toEqual([])
    const changes = [
      { type: 'position', id: 'outer', position: { x: 50, y: 0 }, dragging: true },
      { type: 'position', id: 'inner', position: { x: 70, y: 40 }, dragging: true },
      { type: 'position', id: 'n2', position: { x: 550, y: 100 }, dragging: true },
    ]
    const out = followGroups(changes, drag)
    expect(out.filter((c) => c.id === 'n1')).toEqual([{ type: 'position', id: 'n1', position: { x: 110, y: 100 }, dragging: true }])
    expect(out).toHaveLength(4)
  })

  it('leaves changes alone when no group is dragged', () => {
    const nodes = canvas()
    expect(startGroupDrag([nodes[1]], nodes)).toBeNull()
    const changes = [{ type: 'position', id: 'n1', position: { x: 0, y: 0 } }]
    expect(followGroups(changes, null)).toBe(changes)
  })
})

describe('copy, paste and the saved graph', () => {
  it('copies a group with the nodes inside it and pastes it under new ids', () => {
    const nodes = canvas().map((n) => (n.id === 'group1' ? { ...n, selected: true } : n))
    const edges = [
      { id: 'e1', source: 'n1', sourceHandle: 'image', target: 'n2', targetHandle: 'image' },
      { id: 'e2', source: 'n2', sourceHandle: 'image', target: 'n3', targetHandle: 'image' },
    ]
    expect(selectGroupMembers(nodes).filter((n) => n.selected).map((n) => n.id)).toEqual(['group1', 'n1', 'n2', 'note1'])
    const clip = copySelection(nodes, edges)
    expect(clip.nodes.map((n) => n.id)).toEqual(['group1', 'n1', 'n2', 'note1'])
    expect(clip.edges).toHaveLength(1)
    const out = pasteClipboard(clip, nodes, edges, { x: 0, y: 500 })
    expect(out.added).toEqual(['group2', 'n5', 'n6', 'note2'])
    const pasted = out.nodes.slice(nodes.length)
    expect(nodesInFrame(pasted[0], out.nodes)).toEqual(['n5', 'n6', 'note2'])
  })

  it('pastes a group where its frame covers no node (one it covered would join it)', () => {
    const nodes = canvas().map((n) => (n.id === 'group1' ? { ...n, selected: true } : n))
    const clip = copySelection(nodes, [])
    const offset = pasteOffset(clip, nodes, 1)
    const frame = { ...clip.nodes[0], position: { x: offset.x, y: offset.y } }
    expect(nodesInFrame(frame, nodes)).toEqual([])
  })

  it('lets a new node land inside a group', () => {
    expect(freeSpot([group('group1', 0, 0, 700, 400)], { x: 50, y: 50 })).toEqual({ x: 50, y: 50 })
  })

  it('saves groups in graph.groups and loads them back behind the nodes', () => {
    const nodes = canvas()
    const graph = flowToApi(nodes, [])
    expect(graph.groups).toEqual([{ id: 'group1', title: 'group1', position: { x: 0, y: 0 }, width: 700, height: 400 }])
    expect(graph.nodes.map((n) => n.id)).toEqual(['n1', 'n2', 'n3', 'n4'])
    const back = apiToFlow(graph).nodes.find((n) => n.id === 'group1')
    expect(back).toMatchObject({ type: GROUP_NODE_TYPE, zIndex: GROUP_Z, data: { title: 'group1' }, style: { width: 700, height: 400 } })
    expect(flowToApi(apiToFlow(graph).nodes, [])).toEqual(graph)
  })

  it('loads an old draft with notes only as before, and drops malformed groups', () => {
    const old = { nodes: [], edges: [], notes: [{ id: 'note1', text: 'hi', position: { x: 1, y: 2 }, width: 300, height: 200 }] }
    expect(flowToApi(apiToFlow(old).nodes, [])).toEqual(old)
    const odd = { nodes: [], edges: [], groups: [null, { title: 'no id' }, { id: 'g', position: { x: 'a' } }] }
    expect(flowToApi(apiToFlow(odd).nodes, []).groups).toEqual([{ id: 'g', title: '', position: { x: 0, y: 0 }, width: 480, height: 300 }])
  })
})
