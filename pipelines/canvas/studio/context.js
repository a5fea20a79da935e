import { createContext } from 'react'

/** What every node on the canvas needs besides its own data: specs, validation errors, live run state. */
export const StudioContext = createContext({
  nodeTypes: {},
  errorsByNode: {},
  runNodes: {},
  currentNode: null,
  runOutputs: null,
  edges: [],
  readOnly: false,
})
