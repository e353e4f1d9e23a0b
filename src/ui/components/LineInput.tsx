import { useRef, useState } from 'react'
import { Text, useInput } from 'ink'

export interface LineInputProps {
  /** The current text (controlled). */
  value: string
  onChange: (value: string) => void
  /** Enter: the line is handed over. */
  onSubmit: (value: string) => void
  /** Only the focused input takes keys (useInput's isActive). */
  focus: boolean
  placeholder?: string
  /** Show this character instead of each typed one (passwords). */
  mask?: string
  /** Longest value accepted, in characters. @default 16384 */
  maxLength?: number
  /**
   * Asked on every key instead of waiting for `focus` to re-render: where several inputs hand the
   * focus to each other, a key typed right after a switch reaches the new one, not nobody.
   */
  takesKeys?: () => boolean
}

/**
 * A one-line text input. Our own rather than ink-text-input: that one types Ctrl-N/Ctrl-P as
 * letters, and our key table needs them to switch conversations.
 */
export function LineInput ({ value, onChange, onSubmit, focus, placeholder, mask, maxLength = 16_384, takesKeys }: LineInputProps): React.JSX.Element {
  // Keys can arrive faster than React renders (a fast typist, a paste, a test): the handler
  // reads the latest value and cursor from refs, not from the last render's closure.
  const latest = useRef(value)
  // a value set from outside (the list hands over the first letter typed there) puts the
  // cursor at its end, so the next letter goes after it
  const external = latest.current !== value
  latest.current = value
  const [cursor, setCursorState] = useState(Array.from(value).length)
  const cursorRef = useRef(cursor)
  if (external) cursorRef.current = Array.from(value).length
  const setCursor = (n: number): void => { cursorRef.current = n; setCursorState(n) }
  const change = (next: string): void => { latest.current = next; onChange(next) }
  const submitLine = (line: string): void => { latest.current = ''; onSubmit(line) }
  useInput((input, key) => {
    if (takesKeys != null && !takesKeys()) return
    // positions count code points, so emoji and other astral characters edit as one
    const value = latest.current
    const chars = Array.from(value)
    const at = Math.min(cursorRef.current, chars.length)
    if (key.return) { submitLine(value); setCursor(0); return }
    if (key.leftArrow) { setCursor(Math.max(0, at - 1)); return }
    if (key.rightArrow) { setCursor(Math.min(chars.length, at + 1)); return }
    if (key.home || (key.ctrl && input === 'a')) { setCursor(0); return }
    if (key.end || (key.ctrl && input === 'e')) { setCursor(chars.length); return }
    if (key.backspace || key.delete) {
      if (at === 0) return
      change([...chars.slice(0, at - 1), ...chars.slice(at)].join(''))
      setCursor(at - 1)
      return
    }
    if (key.ctrl && input === 'u') { change(chars.slice(at).join('')); setCursor(0); return }
    if (key.ctrl || key.meta || key.escape || key.tab || key.upArrow || key.downArrow || key.pageUp || key.pageDown) return
    // a chunk with line breaks (typed fast, or pasted): each break submits the text before it,
    // and what follows the last one stays typed
    // eslint-disable-next-line no-control-regex
    const strip = (s: string): string[] => Array.from(s.replace(/[\u0000-\u001f\u007f]/g, ''))
    const [first = '', ...more] = input.split(/\r\n|\r|\n/)
    const clean = strip(first)
    if (chars.length + clean.length > maxLength) return
    const next = [...chars.slice(0, at), ...clean, ...chars.slice(at)].join('')
    if (more.length === 0) {
      if (clean.length === 0) return
      change(next)
      setCursor(at + clean.length)
      return
    }
    submitLine(next)
    for (const line of more.slice(0, -1)) if (strip(line).length > 0) submitLine(strip(line).join(''))
    const rest = strip(more.at(-1) ?? '').slice(0, maxLength)
    change(rest.join(''))
    setCursor(rest.length)
  }, { isActive: takesKeys != null || focus })
  const chars = Array.from(value)
  const at = Math.min(cursorRef.current, chars.length)
  const shown = mask == null ? value : mask.repeat(chars.length)
  if (shown === '' && !focus) return <Text dimColor>{placeholder ?? ''}</Text>
  if (shown === '') return <Text><Text inverse> </Text><Text dimColor>{placeholder ?? ''}</Text></Text>
  if (!focus) return <Text>{shown}</Text>
  const cells = Array.from(shown)
  return (
    <Text>
      {cells.slice(0, at).join('')}
      <Text inverse>{cells[at] ?? ' '}</Text>
      {cells.slice(at + 1).join('')}
    </Text>
  )
}
