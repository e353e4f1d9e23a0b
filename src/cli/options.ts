/** Options every command shares, and where defaults come from (config/defaults.json). */
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FatalError } from './output.js'

export interface GlobalArgs {
  home: string
  server?: string
  json: boolean
  debug: boolean
  /** IPs gossipsub does not penalise for sharing an address (loopback tests). */
  ipColocationWhitelist?: string[]
  /** The largest file this device offers or fetches (`4GiB`, bytes, …). */
  maxFileSize?: string
  /** Offers a running device fetches without being asked: `contacts`, `all`, `none`. */
  autoGet?: string
  /** The largest file fetched without being asked (`100MiB`, bytes, …). */
  autoGetMax?: string
}

/**
 * The repo's config/defaults.json: option name → default value. It is found by walking up from
 * this module, which is dist/src/cli/ when compiled, dist/bin/ when bundled for bin/meshchat.js,
 * and src/cli/ under tsx.
 */
export function loadDefaults (): Record<string, unknown> {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let up = 0; up < 4; up++) {
    dir = dirname(dir)
    const path = join(dir, 'config', 'defaults.json')
    if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
  }
  throw new Error(`config/defaults.json not found above ${fileURLToPath(import.meta.url)}`)
}

function dataRoot (): string {
  return process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share')
}

/** A device's home when neither --home nor MESHCHAT_HOME says otherwise. */
export function defaultHome (): string {
  return join(dataRoot(), 'meshchat')
}

/** The rendezvous node's data folder when --data is not given. */
export function defaultDataDir (): string {
  return join(dataRoot(), 'meshchat-server')
}

/** Gossipsub scoring options from config (loopback deployments whitelist 127.0.0.1). */
export function gossipFrom (argv: { ipColocationWhitelist?: unknown }): { ipColocationWhitelist: string[] } {
  const list = Array.isArray(argv.ipColocationWhitelist) ? argv.ipColocationWhitelist.map(String) : []
  return { ipColocationWhitelist: list }
}

/**
 * A numeric option checked against its range: a typo or a config value out of range stops the
 * command with one line naming the flag, instead of a node that misbehaves later.
 */
export function numberOption (value: unknown, flag: string, min: number, max: number, whole = true): number {
  if (Array.isArray(value)) throw new FatalError(`--${flag}: given more than once`, 2)
  const n = typeof value === 'number' ? value : Number.NaN
  if (!Number.isFinite(n) || n < min || n > max || (whole && !Number.isInteger(n))) {
    const fmt = (x: number): string => x.toLocaleString('en-US')
    const want = `${whole ? 'a whole number' : 'a number'} from ${fmt(min)} to ${fmt(max)}`
    // yargs turns text into NaN: there is no value worth repeating
    if (Number.isNaN(n)) throw new FatalError(`--${flag}: not a number (want ${want})`, 2)
    throw new FatalError(`--${flag}: "${String(value)}" is not ${want}`, 2)
  }
  return n
}
