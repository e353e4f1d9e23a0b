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
 * bytes.
 *
 * And every noise message's ChaCha20-Poly1305, once libsodium is loaded (sodiumIfLoaded: a
 * one-shot command does not load it for this). Noise's default takes a WebAssembly build under
 * 1,200 bytes and a new OpenSSL cipher object per message above. Measured here: a 100-byte
 * message 4.0 µs against 1.1 µs with libsodium, 600 bytes 8.9 against 1.7, 1,500 bytes 11.2
 * against 2.7, 4 KiB 16.6 against 5.4; about the same at 64 KiB. Every frame a meshchat
 * process sends or receives is one or more of these. Hash and HKDF stay noise's default.
 */
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { sodiumForUse, sodiumIfLoaded } from '../sodium.js'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'

const X25519_BYTES = 32
const TAG_BYTES = 16

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
  },
  chaCha20Poly1305Encrypt (plaintext, nonce, ad, k) {
    const sodium = sodiumIfLoaded()
    if (sodium == null) return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
    const message = bytesOf(plaintext)
    const sealed = Buffer.allocUnsafe(message.byteLength + TAG_BYTES)
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(sealed, message, ad, null, nonce, k)
    return sealed
  },
  chaCha20Poly1305Decrypt (ciphertext, nonce, ad, k, dst) {
    const sodium = sodiumIfLoaded()
    if (sodium == null) return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
    const sealed = bytesOf(ciphertext)
    if (sealed.byteLength < TAG_BYTES) throw new Error('Invalid chacha20poly1305 decryption')
    // noise hands the ciphertext's own bytes as `dst` (decrypting in place), which libsodium allows
    const plain = dst != null && dst.byteLength === sealed.byteLength - TAG_BYTES ? dst : Buffer.allocUnsafe(sealed.byteLength - TAG_BYTES)
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(plain, null, sealed, ad, nonce, k)
    return plain
  }
}
