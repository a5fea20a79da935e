// Ready-to-paste calls of a published pipeline on each surface (FractalQ, Fizzly, Fluxara). Pure functions.

/** The {name: {type, required, description}} map of an input/output schema (FractalQ docs or JSON schema). */
export function schemaFields(schema) {
  if (!schema || typeof schema !== 'object') return {}
  if (schema.properties && typeof schema.properties === 'object') {
    const required = new Set(schema.required || [])
    const out = {}
    for (const [k, v] of Object.entries(schema.properties)) out[k] = { ...v, required: v.required ?? required.has(k) }
    return out
  }
  return schema
}

/** Example inputs: the published examples when given, else a plausible value by name/type. */
export function exampleInputs(inputSchema, examples = {}) {
  const out = {}
  for (const [name, field] of Object.entries(schemaFields(inputSchema))) {
    if (examples && examples[name] !== undefined) out[name] = examples[name]
    else if (field.example !== undefined) out[name] = field.example
    else if (field.examples?.length) out[name] = field.examples[0]
    else if (/image|url/i.test(name) || field.format === 'uri') out[name] = 'https://example.com/image.jpg'
    else if (field.type === 'number' || field.type === 'integer') out[name] = 1
    else out[name] = 'enhance and upscale'
  }
  return out
}

const shellQuote = (s) => `'${String(s).replace(/'/g, "'\\''")}'`

export function curlExecute(executeUrl, inputs) {
  return [
    `curl -X POST ${executeUrl} \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(JSON.stringify({ inputs }, null, 2))}`,
  ].join('\n')
}

export function curlFizzly(workflowUrl, inputs) {
  return [
    `curl -X POST ${workflowUrl} \\`,
    `  -H "Authorization: Key fiz_YOUR_QUEUE_KEY" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(JSON.stringify({ inputs }, null, 2))}`,
  ].join('\n')
}

export function curlFluxara(origin, slug, inputs) {
  return [
    `curl -X POST ${origin}/api/v1/jobs \\`,
    `  -H "Authorization: Bearer YOUR_API_KEY" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(JSON.stringify({ pipeline: slug, input: inputs }, null, 2))}`,
  ].join('\n')
}

/** An absolute URL for a path the API returned (it may already be absolute). */
export function absolute(origin, url) {
  if (!url) return ''
  if (/^https?:\/\//.test(url)) return url
  return `${origin}${url.startsWith('/') ? '' : '/'}${url}`
}
