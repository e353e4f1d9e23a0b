/**
 * libsodium (sodium-native, prebuilt for the usual platforms, no install script), loaded on
 * demand, for the few primitives where Node's OpenSSL is slow here: Ed25519 checks and
 * signatures (src/crypto/ed25519.ts) and X25519 for noise handshakes (src/net/noise-crypto.ts).
 * A leaf module, like polyfill.ts: both layers use it and it uses neither. Where it does not
 * load, or with MESHCHAT_NO_SODIUM=1, every caller uses OpenSSL.
 */
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'

export interface Sodium {
  crypto_sign_detached: (sig: Uint8Array, message: Uint8Array, secretKey: Uint8Array) => void
  crypto_sign_verify_detached: (sig: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean
  /** X25519: q = n · p; throws for an all-zero result (a low-order point). */
  crypto_scalarmult: (q: Uint8Array, n: Uint8Array, p: Uint8Array) => void
  crypto_scalarmult_base: (q: Uint8Array, n: Uint8Array) => void
  randombytes_buf: (buf: Uint8Array) => void
}

const require = createRequire(import.meta.url)

/**
 * What to load for libsodium (also in worker-pool's workers), or undefined when sodium-native is
 * not installed: its prebuilt addon for this platform when there is one (the package's own entry
 * first loads a module resolver, 3 MiB more of every process's memory), else the package.
 */
export const SODIUM_PATH: string | undefined = (() => {
  try {
    const prebuilt = join(dirname(require.resolve('sodium-native/package.json')), 'prebuilds', `${process.platform}-${process.arch}`, 'sodium-native.node')
    return existsSync(prebuilt) ? prebuilt : require.resolve('sodium-native')
  } catch {
    return undefined
  }
})()

let sodium: Sodium | null | undefined
let disabled = process.env.MESHCHAT_NO_SODIUM === '1'
/**
 * Operations done with OpenSSL before libsodium is loaded: loading it costs 15–25 ms here, which
 * a one-shot command signing and checking a handful, over one or two connections, never wins
 * back. An X25519 agreement counts as one, like a signature, though OpenSSL's costs ~0.65 ms more
 * than libsodium's here (a signature ~0.03 ms): the 32 are then ~8 noise handshakes, about the
 * loading cost, and a process that keeps making connections switches soon.
 */
const OPENSSL_FIRST = 32
let uses = 0

function load (): Sodium | undefined {
  if (disabled) return undefined
  if (sodium === undefined) {
    try {
      sodium = SODIUM_PATH == null ? null : require(SODIUM_PATH) as Sodium
    } catch {
      sodium = null
    }
  }
  return sodium ?? undefined
}

/** libsodium for one operation, or undefined: use OpenSSL (not loaded yet, not here, or turned off). */
export function sodiumForUse (): Sodium | undefined {
  if (sodium === undefined && !disabled && uses++ < OPENSSL_FIRST) return undefined
  return load()
}

/** Is libsodium in use (loading it now)? `use` switches to OpenSSL (false) or back (tests, MESHCHAT_NO_SODIUM=1). */
export function usingSodium (use?: boolean): boolean {
  if (use != null) disabled = !use
  return load() != null
}
