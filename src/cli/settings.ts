/**
 * Where option values come from, strongest first: the flag, MESHCHAT_<NAME> in the environment,
 * the JSON file named by --config (or MESHCHAT_CONFIG), then config/defaults.json. This module
 * computes the last three as the flags' defaults, so `--help` shows what will really be used.
 */
import { readFileSync } from 'node:fs'
import { FatalError } from './output.js'
import { loadDefaults } from './options.js'

export type Settings = Record<string, unknown>

function envName (option: string): string {
  return `MESHCHAT_${option.toUpperCase().replace(/-/g, '_')}`
}

/** Reads `--config FILE` / `--config=FILE` from the raw arguments, else MESHCHAT_CONFIG. */
function configPath (args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--config') return args[i + 1]
    if (a.startsWith('--config=')) return a.slice('--config='.length)
  }
  return process.env.MESHCHAT_CONFIG
}

function fromEnv (raw: string, like: unknown): unknown {
  if (typeof like === 'number') {
    const n = Number(raw)
    if (!Number.isFinite(n)) throw new FatalError(`environment value "${raw}" is not a number`)
    return n
  }
  if (typeof like === 'boolean') return raw === '1' || raw.toLowerCase() === 'true'
  if (Array.isArray(like)) return raw.split(',').map(s => s.trim()).filter(s => s !== '')
  return raw
}

export function loadSettings (args: string[]): Settings {
  const defaults = loadDefaults()
  const settings: Settings = { ...defaults }
  const path = configPath(args)
  if (path != null) {
    let file: unknown
    try {
      file = JSON.parse(readFileSync(path, 'utf8'))
    } catch (err) {
      throw new FatalError(`cannot read config file ${path}: ${(err as Error).message.split('\n')[0] ?? ''}`)
    }
    if (file == null || typeof file !== 'object' || Array.isArray(file)) {
      throw new FatalError(`config file ${path} must hold a JSON object of option values`)
    }
    for (const [key, value] of Object.entries(file)) {
      if (!(key in defaults) && !['home', 'server', 'data'].includes(key)) {
        throw new FatalError(`config file ${path}: unknown option "${key}"`)
      }
      settings[key] = value
    }
  }
  for (const key of [...Object.keys(defaults), 'home', 'server', 'data']) {
    const raw = process.env[envName(key)]
    if (raw != null && raw !== '') settings[key] = fromEnv(raw, defaults[key])
  }
  return settings
}
