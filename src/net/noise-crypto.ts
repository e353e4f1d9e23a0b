/**
 * Noise's crypto with libsodium's X25519 (src/sodium.ts) where it is in use.
 *
 * @chainsafe/libp2p-noise 17 makes its X25519 keys and agreements through Node's OpenSSL from DER:
 * every agreement wraps both raw keys in PKCS8/SPKI and parses them (`createPrivateKey`,
 * `createPublicKey`), and OpenSSL 3's decoders are slow. Here one agreement took ~0.7 ms that
 * way against ~0.04 ms with libsodium, and a key pair ~0.2 against ~0.02 ms. A handshake makes
 * one key pair and three agreements at each end, so each connection cost ~2.3 ms of CPU at each
 * end in X25519 alone. In a profile of a rendezvous node taking reconnects it was 17% of the
 * node's CPU, the largest single item (docs/benchmarks.md, run Q).
 *
 * Same results (X25519 is X25519; a low-order public key fails the agreement in both), same wire
 * bytes. Everything else (hash, HKDF, ChaCha20-Poly1305) stays noise's default.
 */
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { sodiumForUse } from '../sodium.js'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'

const X25519_BYTES = 32

function bytesOf (data: Uint8Array | { subarray: () => Uint8Array }): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray()
}

export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  generateX25519KeyPair () {
    const sodium = sodiumForUse()
    if (sodium == null) return defaultCrypto.generateX25519KeyPair()
    const privateKey = Buffer.alloc(X25519_BYTES)
    sodium.randombytes_buf(privateKey)
    const publicKey = Buffer.alloc(X25519_BYTES)
    sodium.crypto_scalarmult_base(publicKey, privateKey)
    return { publicKey, privateKey }
  },
  generateX25519KeyPairFromSeed (seed) {
    const sodium = sodiumForUse()
    if (sodium == null) return defaultCrypto.generateX25519KeyPairFromSeed(seed)
    const publicKey = Buffer.alloc(X25519_BYTES)
    sodium.crypto_scalarmult_base(publicKey, seed)
    return { publicKey, privateKey: seed }
  },
  generateX25519SharedKey (privateKey, publicKey) {
    const [mine, theirs] = [bytesOf(privateKey), bytesOf(publicKey)]
    const sodium = sodiumForUse()
    if (sodium == null) return defaultCrypto.generateX25519SharedKey(mine, theirs)
    const shared = Buffer.alloc(X25519_BYTES)
    sodium.crypto_scalarmult(shared, mine, theirs)
    return shared
  }
}
