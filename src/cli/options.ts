/** Options every command shares, and where defaults come from (config/defaults.json). */
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

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
