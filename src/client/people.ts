/**
 * People on the client side: chat requests (request, accept, decline, close — signed envelopes
 * that travel like messages and are folded into each chat's state), which direct messages a
 * chat's state admits, the account's contacts (synced to its devices through its own archive)
 * and profiles (kept by the rendezvous node, pushed to online devices when they change).
 */
import {
  checkUsername, dmConversation, selfConversation, peerOf, printable, profileBody, envelope as envelopeSchema,
  InvalidInputError, AccountDisabledError, ChatNotAcceptedError, MAX_PROFILE_NAME
} from '../protocol/index.js'
import { verifyEnvelope } from '../crypto/index.js'
import { foldChat, admits, whyNotWritable } from './chat-state.js'
import type { ChatControlEnvelope, ContactEnvelope, Envelope, ProfileBody, ProfileInfo, PeopleRequest, PeopleResponse, UserInfo } from '../protocol/index.js'
import type { ClientStore } from '../store/index.js'
import type { AbortOptions, PublicKey } from '@libp2p/interface'
import type { ChatRequest, ChatState, Contact, Profile, ProfileChange } from './people-types.js'
import type { ClientEvent } from './events.js'

type Body<K extends Envelope['kind']> = Extract<Envelope, { kind: K }>['body']

export interface PeopleDeps {
  me: () => string
  store: () => ClientStore
  serverKey: () => PublicKey
  sign: <K extends Envelope['kind']>(conv: string, kind: K, body: Body<K>) => Promise<Extract<Envelope, { kind: K }>>
  /**
   * Sends an envelope straight to the online devices of `to` (none for `null`) and of this
   * account, and leaves sealed copies for both accounts (through the outbox, so it survives a
   * crash and an unreachable node). Resolves when the node has it or a device acked it.
   */
  distribute: (env: Envelope, to: string | null, options: AbortOptions) => Promise<void>
  /** Hands a message held back until now to history (it is admitted now). */
  receive: (env: Envelope) => Promise<void>
  emit: (ev: ClientEvent) => void
  userInfo: (user: string, options: AbortOptions) => Promise<UserInfo>
  /** Presence of everyone: the live directory, or asked of the node; fails when it is unreachable. */
  presence: (options: AbortOptions) => Promise<Map<string, UserInfo>>
  ask: (req: PeopleRequest, options: AbortOptions) => Promise<Extract<PeopleResponse, { ok: true }>>
  cert: () => PeopleRequest['cert']
}

export function emptyProfile (user: string): Profile {
  return { user, name: '', status: '', about: '', updatedAt: null }
}

export class People {
  /** The profile envelope last announced per user. */
  private readonly announced = new Map<string, string>()

  constructor (private readonly deps: PeopleDeps) {}

  private get store (): ClientStore['people'] {
    return this.deps.store().people
  }

  // ---- chats ---------------------------------------------------------------------------

  async chatState (user: string): Promise<ChatState> {
    const me = this.deps.me()
    checkUsername(user)
    const conv = dmConversation(me, user)
    return foldChat(conv, me, user, await this.store.controlsOf(conv))
  }

  /** Asks `user` to chat. A request to someone who asked this account first accepts theirs. */
  async request (user: string, text?: string, options: AbortOptions = {}): Promise<ChatState> {
    const me = this.deps.me()
    await this.checkPeer(user, options)
    const state = await this.chatState(user)
    if (state.state === 'accepted' || (state.state === 'pending' && state.by === me)) return state
    const body = text == null || text === '' ? {} : { text: checkRequestText(text) }
    return await this.control(user, 'request', body, options)
  }

  async accept (user: string, options: AbortOptions = {}): Promise<ChatState> {
    await this.checkPeer(user, options)
    const state = await this.chatState(user)
    if (state.state === 'accepted') return state
    if (state.state !== 'pending' || state.by === this.deps.me()) throw new InvalidInputError(`${user} has not asked to chat with you`)
    return await this.control(user, 'accept', {}, options)
  }

  async decline (user: string, options: AbortOptions = {}): Promise<ChatState> {
    checkUsername(user)
    const state = await this.chatState(user)
    if (state.state !== 'pending' || state.by === this.deps.me()) throw new InvalidInputError(`${user} has not asked to chat with you`)
    return await this.control(user, 'decline', {}, options)
  }

  /** Ends an open chat (or withdraws a pending request); history stays on both sides. */
  async close (user: string, options: AbortOptions = {}): Promise<ChatState> {
    checkUsername(user)
    const state = await this.chatState(user)
    if (state.state !== 'accepted' && state.state !== 'pending') throw new InvalidInputError(`there is no open chat with ${user} to close`)
    return await this.control(user, 'close', {}, options)
  }

  /** Pending requests, incoming and outgoing, newest first. */
  async requests (): Promise<ChatRequest[]> {
    const me = this.deps.me()
    const out: ChatRequest[] = []
    for (const [conv, controls] of await this.store.allControls()) {
      const peer = peerOf(conv, me)
      if (peer == null || peer === me) continue
      const state = foldChat(conv, me, peer, controls)
      if (state.state !== 'pending' || state.at == null) continue
      out.push({ user: peer, direction: state.by === me ? 'outgoing' : 'incoming', ...(state.text == null ? {} : { text: state.text }), at: state.at })
    }
    return out.sort((a, b) => b.at - a.at || a.user.localeCompare(b.user))
  }

  /** Throws the reason when this account may not write to `user` now. */
  async checkWritable (user: string): Promise<void> {
    const me = this.deps.me()
    if (user === me) return
    const state = await this.chatState(user)
    if (state.state !== 'accepted') throw new ChatNotAcceptedError(whyNotWritable(state, me))
  }

  /**
   * Is a direct message of someone else shown? When the chat admits it; otherwise it is held
   * back (a later accept may admit it: its sender may have seen the accept before this device).
   */
  async admit (env: Extract<Envelope, { kind: 'text' | 'file' }>, arrivedAt = Date.now()): Promise<boolean> {
    const me = this.deps.me()
    const peer = peerOf(env.conv, me)
    if (peer == null || peer === me || env.author !== peer) return false
    if (admits(env.conv, me, peer, await this.store.controlsOf(env.conv), env.sentAt, arrivedAt)) return true
    await this.store.hold(env)
    return false
  }

  /** Why `env` was not admitted, for the error its sender sees. */
  async refusal (env: Envelope): Promise<InstanceType<typeof ChatNotAcceptedError>> {
    const me = this.deps.me()
    const peer = peerOf(env.conv, me) ?? env.author
    const state = await this.chatState(peer)
    return new ChatNotAcceptedError(state.state === 'none' || state.state === 'pending'
      ? `${me} has not accepted a chat with ${peer}`
      : state.state === 'declined' ? `${me} declined the chat with ${peer}` : `the chat between ${me} and ${peer} is closed`)
  }

  /** A request, accept, decline or close from anywhere (a peer, the archive, this device). */
  async applyControl (env: ChatControlEnvelope): Promise<void> {
    const me = this.deps.me()
    const peer = peerOf(env.conv, me)
    if (peer == null || peer === me || (env.author !== me && env.author !== peer)) return
    const added = await this.store.addControl(env.conv, {
      id: env.id, kind: env.kind, author: env.author, sentAt: env.sentAt,
      ...(env.kind === 'request' && env.body.text != null ? { text: env.body.text } : {})
    })
    if (!added) return
    const controls = await this.store.controlsOf(env.conv)
    this.deps.emit({ type: 'chat', chat: foldChat(env.conv, me, peer, controls) })
    // messages that arrived before the acceptance they were sent after
    const released: string[] = []
    for (const held of await this.store.heldOf(env.conv)) {
      if ((held.kind === 'text' || held.kind === 'file') && admits(env.conv, me, peer, controls, held.sentAt)) released.push(held.id)
    }
    if (released.length === 0) return
    // stored first, then let go of: a crash in between leaves a copy held, never none
    const stored: string[] = []
    for (const held of await this.store.heldOf(env.conv)) {
      if (!released.includes(held.id)) continue
      try {
        await this.deps.receive(held)
        stored.push(held.id)
      } catch {
        // not stored (a failing store, or refused again): it stays held
      }
    }
    await this.store.release(env.conv, stored)
  }

  private async control<K extends ChatControlEnvelope['kind']> (user: string, kind: K, body: Body<K>, options: AbortOptions): Promise<ChatState> {
    const env = await this.deps.sign(dmConversation(this.deps.me(), user), kind, body)
    await this.applyControl(env as ChatControlEnvelope)
    await this.deps.distribute(env, user, options)
    return await this.chatState(user)
  }

  private async checkPeer (user: string, options: AbortOptions): Promise<void> {
    checkUsername(user)
    if (user === this.deps.me()) throw new InvalidInputError('you cannot ask yourself to chat; your own notes need no request')
    const info = await this.deps.userInfo(user, options)
    if (info.disabled === true) throw new AccountDisabledError(`account "${user}" is disabled`)
  }

  // ---- contacts ------------------------------------------------------------------------

  async addContact (user: string, options: AbortOptions = {}): Promise<void> {
    checkUsername(user)
    if (user === this.deps.me()) throw new InvalidInputError('you cannot add yourself to your contacts')
    await this.deps.userInfo(user, options)
    await this.contactChange('add', user, options)
  }

  async removeContact (user: string, options: AbortOptions = {}): Promise<void> {
    checkUsername(user)
    const rec = await this.store.contact(user)
    if (rec?.added !== true) throw new InvalidInputError(`${user} is not in your contacts`)
    await this.contactChange('remove', user, options)
  }

  /** A contact change from this account's other devices (or this one). */
  async applyContact (env: ContactEnvelope): Promise<void> {
    const me = this.deps.me()
    if (env.author !== me || env.conv !== selfConversation(me)) return
    const changed = await this.store.setContact({ user: env.body.user, added: env.body.op === 'add', sentAt: env.sentAt, id: env.id })
    if (changed) this.deps.emit({ type: 'contact', user: env.body.user, added: env.body.op === 'add' })
  }

  /** Contacts with presence (when known) and profile name and status. */
  async contacts (options: AbortOptions = {}): Promise<Contact[]> {
    const records = await this.store.contacts()
    const profiles = await this.profiles(records.map(r => r.user), options)
    const directory = await this.deps.presence(options).catch(() => new Map<string, UserInfo>())
    return records.map(r => {
      const info = directory.get(r.user)
      const p = profiles.get(r.user) ?? emptyProfile(r.user)
      return { user: r.user, online: info?.online ?? null, lastSeen: info?.lastSeen ?? null, name: p.name, status: p.status, addedAt: r.sentAt }
    }).sort((a, b) => a.user.localeCompare(b.user))
  }

  private async contactChange (op: 'add' | 'remove', user: string, options: AbortOptions): Promise<void> {
    const me = this.deps.me()
    const env = await this.deps.sign(selfConversation(me), 'contact', { op, user })
    await this.applyContact(env)
    await this.deps.distribute(env, null, options)
  }

  // ---- profiles ------------------------------------------------------------------------

  /** A profile from the rendezvous node; the last one seen when it cannot be reached. */
  async profile (user: string, options: AbortOptions = {}): Promise<Profile> {
    checkUsername(user)
    const found = await this.profiles([user], options, true)
    return found.get(user) ?? emptyProfile(user)
  }

  async setProfile (change: ProfileChange, options: AbortOptions = {}): Promise<Profile> {
    const me = this.deps.me()
    if (change.name == null && change.status == null && change.about == null) throw new InvalidInputError('nothing to change: give a name, a status or an about text')
    const current = await this.profile(me, options)
    const body: ProfileBody = { name: change.name ?? current.name, status: change.status ?? current.status, about: change.about ?? current.about }
    const parsed = profileBody.safeParse(body)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new InvalidInputError(`profile ${String(issue?.path[0] ?? 'field')} is ${issue?.message ?? 'invalid'} (name up to ${MAX_PROFILE_NAME} characters)`)
    }
    for (const [field, value] of Object.entries(body)) {
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(value)) throw new InvalidInputError(`profile ${field} has control characters`)
    }
    const env = await this.deps.sign(selfConversation(me), 'profile', parsed.data)
    await this.deps.ask({ op: 'set-profile', cert: this.deps.cert(), profile: env }, options)
    return await this.applyProfile(env) ?? emptyProfile(me)
  }

  /** A profile envelope from the node (an answer or a pushed change): checked, kept, announced. */
  async applyProfile (raw: unknown, announce = true): Promise<Profile | undefined> {
    const parsed = envelopeSchema.safeParse(raw)
    if (!parsed.success || parsed.data.kind !== 'profile') return undefined
    const env = parsed.data
    if (env.conv !== selfConversation(env.author)) return undefined
    try {
      await verifyEnvelope(this.deps.serverKey(), env, env.sentAt)
    } catch {
      return undefined
    }
    const profile: ProfileInfo = { user: env.author, ...env.body, updatedAt: env.sentAt }
    const before = await this.store.getProfile(env.author)
    await this.store.putProfile(profile)
    // the answer to this device's own change and the node's push of it are announced once
    if (announce && (before?.updatedAt ?? -1) < env.sentAt && this.announced.get(env.author) !== env.id) {
      this.announced.set(env.author, env.id)
      if (this.announced.size > 10_000) this.announced.clear()
      this.deps.emit({ type: 'profile', profile })
    }
    return profile
  }

  private async profiles (users: string[], options: AbortOptions, strict = false): Promise<Map<string, Profile>> {
    const out = new Map<string, Profile>()
    for (let i = 0; i < users.length; i += 256) {
      const slice = users.slice(i, i + 256)
      try {
        const res = await this.deps.ask({ op: 'profiles', cert: this.deps.cert(), users: slice }, options)
        if ('profiles' in res) {
          for (const raw of res.profiles) {
            const p = await this.applyProfile(raw, false)
            if (p != null) out.set(p.user, p)
          }
        }
      } catch (err) {
        if (strict && (err as Error).name === 'UnknownUserError') throw err
        // unreachable node: the profiles last seen
      }
      for (const u of slice) {
        if (!out.has(u)) {
          const cached = await this.store.getProfile(u)
          if (cached != null) out.set(u, cached)
        }
      }
    }
    return out
  }
}

function checkRequestText (text: string): string {
  if (Buffer.byteLength(text) > 16 * 1024) throw new InvalidInputError(`request text "${printable(text, 20)}" is too long`)
  return text
}
