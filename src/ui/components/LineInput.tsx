import { useState } from 'react'
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
}

/**
 * A one-line text input. Our own rather than ink-text-input: that one types Ctrl-N/Ctrl-P as
 * letters, and our key table needs them to switch conversations.
 */
export function LineInput ({ value, onChange, onSubmit, focus, placeholder, mask, maxLength = 16_384 }: LineInputProps): React.JSX.Element {
  // positions count code points, so emoji and other astral characters edit as one
  const chars = Array.from(value)
  const [cursor, setCursor] = useState(chars.length)
  const at = Math.min(cursor, chars.length)
  useInput((input, key) => {
    if (key.return) { onSubmit(value); setCursor(0); return }
    if (key.leftArrow) { setCursor(Math.max(0, at - 1)); return }
    if (key.rightArrow) { setCursor(Math.min(chars.length, at + 1)); return }
    if (key.home || (key.ctrl && input === 'a')) { setCursor(0); return }
    if (key.end || (key.ctrl && input === 'e')) { setCursor(chars.length); return }
    if (key.backspace || key.delete) {
      if (at === 0) return
      onChange([...chars.slice(0, at - 1), ...chars.slice(at)].join(''))
      setCursor(at - 1)
      return
    }
    if (key.ctrl && input === 'u') { onChange(chars.slice(at).join('')); setCursor(0); return }
    if (key.ctrl || key.meta || key.escape || key.tab || key.upArrow || key.downArrow || key.pageUp || key.pageDown) return
    // eslint-disable-next-line no-control-regex
    const clean = Array.from(input.replace(/\r?\n/g, ' ').replace(/[\u0000-\u001f\u007f]/g, ''))
    if (clean.length === 0 || chars.length + clean.length > maxLength) return
    onChange([...chars.slice(0, at), ...clean, ...chars.slice(at)].join(''))
    setCursor(at + clean.length)
  }, { isActive: focus })
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
