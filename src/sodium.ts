/**
 * libsodium (sodium-native, prebuilt for the usual platforms, no install script), loaded on
 * demand, for the few primitives where Node's OpenSSL is slow here: Ed25519 checks and
 * signatures (src/crypto/ed25519.ts), and X25519 and ChaCha20-Poly1305 for noise
 * (src/net/noise-crypto.ts).
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
  /** ChaCha20-Poly1305 (IETF: 96-bit nonce), the tag after the ciphertext; `c` is `m` + 16 bytes. */
  crypto_aead_chacha20poly1305_ietf_encrypt: (c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array) => number
  /** Throws when the tag does not match (nothing is written then); `m` is `c` − 16 bytes and may be `c` itself (in place). */
  crypto_aead_chacha20poly1305_ietf_decrypt: (m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array) => number
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

/**
 * libsodium if it is loaded already, else undefined (use OpenSSL), never loading it: for cheap
 * operations done many times a second (noise's ChaCha20-Poly1305), which should neither load it
 * in a one-shot command nor count towards OPENSSL_FIRST. A process that keeps making connections
 * or checking messages loads it soon for those.
 */
export function sodiumIfLoaded (): Sodium | undefined {
  return disabled ? undefined : sodium ?? undefined
}

/** Is libsodium in use (loading it now)? `use` switches to OpenSSL (false) or back (tests, MESHCHAT_NO_SODIUM=1). */
export function usingSodium (use?: boolean): boolean {
  if (use != null) disabled = !use
  return load() != null
}
