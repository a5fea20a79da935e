// Small building blocks shared by every page: dialogs, copy buttons, confirmations, status badges, errors.
import { useEffect, useRef, useState } from 'react'
import { statusLabel } from '../lib/runs.js'

/** A modal built on <dialog>: focus trapping and Escape come from the browser. */
export function Dialog({ open, title, onClose, children, className = '', wide = false }) {
  const ref = useRef(null)
  useEffect(() => {
    const el = ref.current
    if (!el) return
    if (open && !el.open) el.showModal()
    if (!open && el.open) el.close()
  }, [open])
  return (
    <dialog
      ref={ref}
      className={`dialog ${wide ? 'dialog-wide' : ''} ${className}`}
      aria-label={title}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault()
        onClose?.()
      }}
    >
      {open && (
        <>
          <header className="dialog-header">
            <h2>{title}</h2>
            <button type="button" className="icon-button" aria-label="Close" onClick={onClose}>
              ×
            </button>
          </header>
          <div className="dialog-body">{children}</div>
        </>
      )}
    </dialog>
  )
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text)
    return
  }
  const area = document.createElement('textarea')
  area.value = text
  area.setAttribute('readonly', '')
  area.style.position = 'fixed'
  area.style.opacity = '0'
  document.body.appendChild(area)
  area.select()
  document.execCommand('copy')
  area.remove()
}

export function CopyButton({ text, label = 'Copy', className = '' }) {
  const [state, setState] = useState('idle')
  return (
    <button
      type="button"
      className={`button small ${className}`}
      aria-label={`${label} to clipboard`}
      onClick={async () => {
        try {
          await copyText(text)
          setState('copied')
        } catch {
          setState('failed')
        }
        setTimeout(() => setState('idle'), 1500)
      }}
    >
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed' : label}
    </button>
  )
}

/** A value shown read-only with a copy button (keys, URLs, commands). */
export function Secret({ label, value, multiline = false }) {
  return (
    <div className="secret">
      <span className="secret-label">{label}</span>
      <div className="secret-row">
        {multiline ? (
          <pre className="code" aria-label={label} tabIndex={0}>
            {value}
          </pre>
        ) : (
          <input className="code" readOnly value={value} aria-label={label} onFocus={(e) => e.target.select()} />
        )}
        <CopyButton text={value} label="Copy" />
      </div>
    </div>
  )
}

/** A button that asks once more inline before doing something that cannot be undone. */
export function ConfirmButton({ children, confirmLabel = 'Yes, do it', question, onConfirm, className = '', disabled }) {
  const [asking, setAsking] = useState(false)
  const [busy, setBusy] = useState(false)
  if (!asking) {
    return (
      <button type="button" className={`button ${className}`} disabled={disabled} onClick={() => setAsking(true)}>
        {children}
      </button>
    )
  }
  return (
    <span className="confirm" role="group" aria-label={question}>
      <span className="confirm-question">{question}</span>
      <button
        type="button"
        className="button danger small"
        disabled={busy}
        onClick={async () => {
          setBusy(true)
          try {
            await onConfirm()
          } finally {
            setBusy(false)
            setAsking(false)
          }
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" className="button small" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  )
}

export function StatusBadge({ status, progress }) {
  if (!status) return null
  const pct = status === 'running' && progress > 0 && progress < 1 ? ` ${Math.round(progress * 100)}%` : ''
  return (
    <span className={`badge status-${status}`} data-status={status}>
      {statusLabel(status)}
      {pct}
    </span>
  )
}

export function ErrorNote({ error }) {
  if (!error) return null
  const text = typeof error === 'string' ? error : error.message || String(error)
  return (
    <p className="error-note" role="alert">
      {text}
    </p>
  )
}

export function useAsync(fn, deps) {
  const [state, setState] = useState({ loading: true, error: null, data: null })
  const [tick, setTick] = useState(0)
  useEffect(() => {
    let live = true
    setState((s) => ({ ...s, loading: true, error: null }))
    fn()
      .then((data) => live && setState({ loading: false, error: null, data }))
      .catch((error) => live && setState({ loading: false, error, data: null }))
    return () => {
      live = false
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick])
  return { ...state, reload: () => setTick((t) => t + 1), setData: (data) => setState((s) => ({ ...s, data })) }
}
