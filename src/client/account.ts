/** Register, login and logout of a device: short exchanges with the rendezvous node over Noise. */
import { checkPassword, checkUsername, InvalidCertificateError, MeshchatError } from '../protocol/index.js'
import { generateAccountKey, wrapAccountKey, unwrapAccountKey, forgetSealCaches, DEFAULT_WRAP_SCRYPT } from '../crypto/index.js'
import { createMeshNode } from '../net/index.js'
import { authRequest } from './client.js'
import { Home } from './home.js'
import { parseServerAddress, peerIdOfAddress, withoutPeerId, dialError } from './server-address.js'
import type { AccountKeyFile, SavedLogin } from './home.js'
import type { AccountKeyMaterial, AuthResponse } from '../protocol/index.js'
import type { AbortOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { MeshNode } from '../net/index.js'

type AuthResponseOk = Extract<AuthResponse, { ok: true }>

/** A login, with a warning to show when the account key had to be made anew (after a password reset). */
export type LoginResult = SavedLogin & { warning?: string }

export interface Credentials {
  home: string
  server: string
  user: string
  password: string
  /** scrypt cost for wrapping a new account key; lower only in tests. */
  wrapScrypt?: { N: number, r: number, p: number }
}

/** Opens a node with the device key (no listening), resolves the pinned server address, runs `fn`. */
async function withServer<T> (home: Home, server: string, fn: (node: MeshNode, addr: Multiaddr) => Promise<T>): Promise<T> {
  await home.ensure()
  let addr = parseServerAddress(server)
  const bare = withoutPeerId(addr)
  const pinned = await home.pinnedServer(bare)
  const given = peerIdOfAddress(addr)
  if (given == null && pinned != null) {
    addr = parseServerAddress(`${bare}/p2p/${pinned}`)
  }
  const node = await createMeshNode({ privateKey: await home.deviceKey(), listen: [] })
  try {
    const result = await fn(node, addr)
    if (peerIdOfAddress(addr) == null) {
      // trust on first use: remember the key the server answered with
      const conn = node.getConnections().find(c => withoutPeerId(c.remoteAddr) === bare || c.remoteAddr.toString().startsWith(bare))
      if (conn != null) await home.pinServer(bare, conn.remotePeer.toString())
    } else if (pinned == null) {
      await home.pinServer(bare, peerIdOfAddress(addr)!)
    }
    return result
  } finally {
    await node.stop()
  }
}

function fullAddress (node: MeshNode, addr: Multiaddr): string {
  const id = peerIdOfAddress(addr)
  if (id != null) return addr.toString()
  const conn = node.getConnections()[0]
  if (conn == null) throw new MeshchatError('lost the connection to the server')
  return `${addr.toString()}/p2p/${conn.remotePeer.toString()}`
}

async function authenticate (op: 'register' | 'login', creds: Credentials, options: AbortOptions): Promise<LoginResult> {
  const user = checkUsername(creds.user)
  checkPassword(creds.password)
  const home = new Home(creds.home)
  // the first device makes the account's sealing key; the node only ever sees it wrapped
  const fresh = op === 'register' ? generateAccountKey() : undefined
  const accountKey = fresh == null
    ? undefined
    : { publicKey: fresh.publicKey, wrapped: await wrapAccountKey(fresh.privateKey, creds.password, creds.wrapScrypt ?? DEFAULT_WRAP_SCRYPT) }
  return await withServer(home, creds.server, async (node, addr) => {
    const res = await authRequest(node, addr, { op, user, password: creds.password, ...(accountKey == null ? {} : { accountKey }) }, options)
    const cert = res.cert
    if (cert == null) throw new InvalidCertificateError('the server sent no certificate')
    if (cert.device !== node.peerId.toString() || cert.user !== user) {
      throw new InvalidCertificateError('the server sent a certificate for someone else')
    }
    let key: AccountKeyFile
    let warning: string | undefined
    if (fresh != null) {
      if (res.accountKey?.publicKey !== fresh.publicKey) throw new MeshchatError('the server did not keep the new account key')
      key = fresh
    } else {
      const upload = async (accountKey: AccountKeyMaterial): Promise<AccountKeyMaterial> => {
        const stored = await authRequest(node, addr, { op: 'set-account-key', cert, accountKey }, options)
        if (stored.accountKey == null) throw new MeshchatError('the server sent no account key')
        return stored.accountKey
      }
      ;({ key, warning } = await accountKeyAtLogin(res, home, creds, upload))
    }
    await home.saveAccountKey(key)
    const login = { server: fullAddress(node, addr), user, cert }
    await home.saveLogin(login)
    return warning == null ? login : { ...login, warning }
  })
}

/**
 * The account's sealing key at login. An account the operator added has none yet: this device
 * makes it. After the operator reset the password, the stored key is still wrapped by the old
 * one: this device wraps again the key it holds, else it makes a new one, and `warning` says that
 * what was sealed to the old key cannot be read here. Either way the node keeps the first device's
 * key, and a later device unwraps that one.
 */
async function accountKeyAtLogin (
  res: Pick<AuthResponseOk, 'accountKey' | 'keyReset'>,
  home: Home,
  creds: Credentials,
  upload: (accountKey: AccountKeyMaterial) => Promise<AccountKeyMaterial>
): Promise<{ key: AccountKeyFile, warning?: string }> {
  const offer = async (pair: AccountKeyFile): Promise<AccountKeyFile> => {
    const stored = await upload({ publicKey: pair.publicKey, wrapped: await wrapAccountKey(pair.privateKey, creds.password, creds.wrapScrypt ?? DEFAULT_WRAP_SCRYPT) })
    if (stored.publicKey === pair.publicKey) return pair
    // another device of the account was first: its key is wrapped by this same password
    return { publicKey: stored.publicKey, privateKey: await unwrapAccountKey(stored.wrapped, creds.password) }
  }
  if (res.accountKey == null) return { key: await offer(generateAccountKey()) }
  try {
    return { key: { publicKey: res.accountKey.publicKey, privateKey: await unwrapAccountKey(res.accountKey.wrapped, creds.password) } }
  } catch (err) {
    if (res.keyReset !== true || (err as Error).name !== 'WrongPasswordError') throw err
  }
  const held = await home.readAccountKey().catch(() => undefined)
  const key = await offer(held != null && held.publicKey === res.accountKey.publicKey ? held : generateAccountKey())
  if (key.publicKey === res.accountKey.publicKey) return { key }
  return { key, warning: 'the password was reset and this device did not hold the account key: a new one was made, so messages archived before cannot be read on this device' }
}

/** Creates the account and logs this device in. */
export async function register (creds: Credentials, options: AbortOptions = {}): Promise<LoginResult> {
  return await authenticate('register', creds, options)
}

/** Logs this device in: the rendezvous node signs a certificate for its key, saved in the home. */
export async function login (creds: Credentials, options: AbortOptions = {}): Promise<LoginResult> {
  return await authenticate('login', creds, options)
}

/**
 * Logs this device out: the node stops honouring its certificate and the login is removed from
 * the home. When the node cannot be reached the local login is removed all the same.
 */
export async function logout (homeDir: string, options: AbortOptions = {}): Promise<{ user: string, serverNotified: boolean }> {
  const home = new Home(homeDir)
  const saved = await home.requireLogin()
  let serverNotified = false
  try {
    await withServer(home, saved.server, async (node, addr) => {
      await authRequest(node, addr, { op: 'logout', cert: saved.cert }, options)
    })
    serverNotified = true
  } catch (err) {
    if (!(dialError(err, saved.server).name === 'UnreachableError' || dialError(err, saved.server).name === 'TimeoutError' || err instanceof InvalidCertificateError)) throw err
  }
  // keys this process kept for the account (a client of it may have run here) go with the login
  const accountKey = await home.readAccountKey().catch(() => undefined)
  await home.clearLogin()
  if (accountKey != null) forgetSealCaches(accountKey.publicKey)
  return { user: saved.user, serverNotified }
}
