/**
 * Rendering Ink components for tests on a terminal of a given size, with a fake keyboard, and
 * waiting (bounded, never a fixed sleep) for what the screen shows; shared by the UI specs.
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { stripVTControlCharacters } from 'node:util'
import { render as inkRender } from 'ink'
import { cellWidth } from '../../src/ui/format.js'
import type { ReactElement } from 'react'

export const KEY = {
  enter: '\r',
  esc: '\u001B',
  tab: '\t',
  up: '\u001B[A',
  down: '\u001B[B',
  pageUp: '\u001B[5~',
  pageDown: '\u001B[6~',
  ctrlN: '\u000E',
  ctrlP: '\u0010',
  ctrlR: '\u0012',
  ctrlC: '\u0003'
}

export interface Screen {
  lastFrame: () => string | undefined
  frames: string[]
  stdin: { write: (data: string) => void }
  unmount: () => void
}

/** The frame as text: no colour codes (there are none without a TTY, but be sure). */
export function text (frame: string | undefined): string {
  return stripVTControlCharacters(frame ?? '')
}

export function lines (frame: string | undefined): string[] {
  return text(frame).split('\n')
}

/** Polls until `cond` holds, every 10 ms for up to 2 s; never a fixed sleep. */
export async function until (cond: () => boolean, what: string, describeLast: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + 2_000
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}${describeLast() === '' ? '' : `; last frame:\n${describeLast()}`}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** Waits until the latest frame satisfies `pred`, and returns it. */
export async function frameWhere (screen: Screen, pred: (frame: string) => boolean, what: string): Promise<string> {
  await until(() => pred(text(screen.lastFrame())), what, () => text(screen.lastFrame()))
  return text(screen.lastFrame())
}

export async function frameWith (screen: Screen, ...needles: string[]): Promise<string> {
  return await frameWhere(screen, f => needles.every(n => f.includes(n)), needles.map(n => JSON.stringify(n)).join(' and '))
}

export async function frameWithout (screen: Screen, ...needles: string[]): Promise<string> {
  return await frameWhere(screen, f => needles.every(n => !f.includes(n)), `no ${needles.map(n => JSON.stringify(n)).join(' nor ')}`)
}

export function assertFits (frame: string, columns: number, rows?: number): void {
  const all = lines(frame)
  for (const l of all) assert.ok(cellWidth(l) <= columns, `a line of ${cellWidth(l)} cells is wider than ${columns}:\n${l}`)
  if (rows != null) assert.ok(all.length <= rows, `${all.length} lines, more than ${rows}:\n${frame}`)
}

/** A terminal of a given size for Ink (ink-testing-library's is always 100 columns, no rows). */
class SizedStdout extends EventEmitter {
  readonly isTTY = false
  readonly frames: string[] = []
  constructor (public columns: number, public rows: number) { super() }
  write = (frame: string): boolean => { this.frames.push(frame); return true }
  lastFrame = (): string | undefined => this.frames.at(-1)
}

/** The same fake keyboard as ink-testing-library's. */
class FakeStdin extends EventEmitter {
  readonly isTTY = true
  private data: string | null = null
  write = (data: string): void => { this.data = data; this.emit('readable'); this.emit('data', data) }
  read = (): string | null => { const d = this.data; this.data = null; return d }
  setEncoding (): void {}
  setRawMode (): void {}
  resume (): void {}
  pause (): void {}
  ref (): void {}
  unref (): void {}
}

export interface SizedScreen extends Screen {
  /** Settles when the app exits (asked for at once: Ink only reports exits it was asked about). */
  exited: Promise<unknown>
}

export function renderSized (tree: ReactElement, columns: number, rows: number): SizedScreen {
  const stdout = new SizedStdout(columns, rows)
  const stderr = new SizedStdout(columns, rows)
  const stdin = new FakeStdin()
  const instance = inkRender(tree, {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stderr: stderr as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    debug: true,
    exitOnCtrlC: false,
    patchConsole: false
  })
  const exited = instance.waitUntilExit()
  return { lastFrame: stdout.lastFrame, frames: stdout.frames, stdin, unmount: instance.unmount, exited }
}

/**
 * Lets the event loop turn a few times. Ink holds a lone Esc for one `setImmediate` (to tell it
 * from the start of an escape sequence), and React re-subscribes `useInput` handlers in passive
 * effects, which run a `setImmediate` after the frame is drawn. A person never types faster than
 * that; a test writing keys back to back does, so each key waits for these turns first.
 */
export async function settle (): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise(resolve => setImmediate(resolve))
}

/** Writes a key and lets Ink and React take it in (see `settle`). */
export async function press (screen: Screen, data: string): Promise<void> {
  screen.stdin.write(data)
  await settle()
}

/** Types `data`, waits for the frame to show every needle, and returns that frame. */
export async function type (screen: Screen, data: string, ...needles: string[]): Promise<string> {
  await press(screen, data)
  const frame = await frameWith(screen, ...needles)
  await settle()
  return frame
}
