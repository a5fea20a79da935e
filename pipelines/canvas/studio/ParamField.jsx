// One parameter's control, generated from its JSON schema: enums are selects, booleans checkboxes, numbers
// number inputs with their range, strings text inputs (examples as suggestions), objects/arrays JSON.
import { useEffect, useState } from 'react'

export function schemaType(prop) {
  const t = prop?.type
  if (Array.isArray(t)) return t.find((x) => x !== 'null') || 'string'
  if (t) return t
  if (prop?.enum) return typeof prop.enum[0] === 'number' ? 'number' : 'string'
  return 'string'
}

/** Client-side check of a value against its schema (the server's validation has the last word). */
export function paramProblem(prop, value) {
  if (value === undefined || value === null || value === '') return null
  const t = schemaType(prop)
  if (t === 'integer' && !Number.isInteger(value)) return 'Must be a whole number'
  if ((t === 'integer' || t === 'number') && typeof value === 'number') {
    if (prop.minimum !== undefined && value < prop.minimum) return `At least ${prop.minimum}`
    if (prop.maximum !== undefined && value > prop.maximum) return `At most ${prop.maximum}`
    if (prop.exclusiveMinimum !== undefined && value <= prop.exclusiveMinimum) return `More than ${prop.exclusiveMinimum}`
    if (prop.exclusiveMaximum !== undefined && value >= prop.exclusiveMaximum) return `Less than ${prop.exclusiveMaximum}`
  }
  if (t === 'string' && typeof value === 'string') {
    if (prop.maxLength !== undefined && value.length > prop.maxLength) return `At most ${prop.maxLength} characters`
    if (prop.pattern && !new RegExp(prop.pattern).test(value)) return `Must match ${prop.pattern}`
  }
  return null
}

function rangeHint(prop) {
  const lo = prop.minimum ?? prop.exclusiveMinimum
  const hi = prop.maximum ?? prop.exclusiveMaximum
  if (lo !== undefined && hi !== undefined) return `${lo} – ${hi}`
  if (lo !== undefined) return `≥ ${lo}`
  if (hi !== undefined) return `≤ ${hi}`
  return ''
}

function display(value) {
  if (value === undefined) return ''
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

export function ParamField({ nodeId, name, prop, value, required, onChange, readOnly, serverError }) {
  const id = `param-${nodeId}-${name}`
  const hintId = `${id}-hint`
  const t = schemaType(prop)
  const [text, setText] = useState(display(value))
  const [localError, setLocalError] = useState(null)
  useEffect(() => {
    setText(display(value))
  }, [value])
  const problem = localError || paramProblem(prop, value)
  const label = prop.title || name
  const hints = [prop.description, rangeHint(prop), prop.default !== undefined ? `default: ${display(prop.default)}` : '']
    .filter(Boolean)
    .join(' · ')
  let control
  if (prop.enum) {
    control = (
      <select id={id} value={value === undefined ? '' : String(value)} disabled={readOnly} aria-describedby={hintId}
        onChange={(e) => {
          const raw = e.target.value
          if (raw === '') return onChange(undefined)
          const match = prop.enum.find((opt) => String(opt) === raw)
          onChange(match)
        }}
      >
        {(!required || value === undefined) && <option value="">—</option>}
        {prop.enum.map((opt) => (
          <option key={String(opt)} value={String(opt)}>
            {String(opt)}
          </option>
        ))}
      </select>
    )
  } else if (t === 'boolean') {
    control = (
      <input id={id} type="checkbox" checked={value === true} disabled={readOnly} aria-describedby={hintId}
        onChange={(e) => onChange(e.target.checked)} />
    )
  } else if (t === 'integer' || t === 'number') {
    control = (
      <input id={id} type="number" inputMode={t === 'integer' ? 'numeric' : 'decimal'} value={text}
        min={prop.minimum} max={prop.maximum} step={t === 'integer' ? 1 : prop.multipleOf || 'any'}
        readOnly={readOnly} aria-describedby={hintId} aria-invalid={problem ? 'true' : undefined}
        onChange={(e) => {
          const raw = e.target.value
          setText(raw)
          if (raw.trim() === '') {
            setLocalError(null)
            return onChange(undefined)
          }
          const n = Number(raw)
          if (!Number.isFinite(n)) return setLocalError('Not a number')
          setLocalError(null)
          onChange(n)
        }}
      />
    )
  } else if (t === 'object' || t === 'array') {
    control = (
      <textarea id={id} rows={3} value={text} readOnly={readOnly} spellCheck={false} aria-describedby={hintId}
        aria-invalid={problem ? 'true' : undefined}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => {
          if (text.trim() === '') {
            setLocalError(null)
            return onChange(undefined)
          }
          try {
            onChange(JSON.parse(text))
            setLocalError(null)
          } catch {
            setLocalError('Not valid JSON')
          }
        }}
      />
    )
  } else {
    const long = (prop.maxLength || 0) > 300
    const listId = prop.examples?.length ? `${id}-examples` : undefined
    control = long ? (
      <textarea id={id} rows={3} value={text} readOnly={readOnly} aria-describedby={hintId}
        onChange={(e) => {
          setText(e.target.value)
          onChange(e.target.value)
        }} />
    ) : (
      <>
        <input id={id} type="text" value={text} readOnly={readOnly} list={listId} aria-describedby={hintId}
          placeholder={prop.examples?.[0] !== undefined ? String(prop.examples[0]) : ''}
          aria-invalid={problem ? 'true' : undefined}
          onChange={(e) => {
            setText(e.target.value)
            onChange(e.target.value)
          }} />
        {listId && (
          <datalist id={listId}>
            {prop.examples.map((ex) => (
              <option key={String(ex)} value={String(ex)} />
            ))}
          </datalist>
        )}
      </>
    )
  }
  return (
    <div className={`field param ${t === 'boolean' ? 'field-check' : ''}`} data-param={name}>
      <label htmlFor={id}>
        {label}
        {required && <span className="required" aria-label="required"> *</span>}
      </label>
      {control}
      {hints && (
        <small id={hintId} className="hint">
          {hints}
        </small>
      )}
      {(problem || serverError) && (
        <small className="field-error" role="alert">
          {problem || serverError}
        </small>
      )}
    </div>
  )
}
