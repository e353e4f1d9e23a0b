/**
 * Rooms on the client side: the rooms this account is in (from the rendezvous node's registry,
 * kept current by its pushes), subscribing to their gossipsub topics, and the owner-signed
 * member lists of private rooms that this device's topic validator checks authors against.
 * A private room's list also carries its room keys (crypto/room-key.ts): messages there travel
 * sealed with the newest one, so only members read them.
 */
import {
  GLOBAL_ROOM, MAX_ROOMS_LISTED, checkRoomName, checkUsername, roomConversation, roomInfo as roomInfoSchema, envelope as envelopeSchema,
  InvalidInputError, InvalidMessageError, NotMemberError, RoomTakenError, UnknownRoomError, UnknownUserError
} from '../protocol/index.js'
import {
  verifyEnvelope, seal, open as openSealed, newRoomKey, sealRoomContent, openRoomContent, sealPastKeys, openPastKeys, ROOM_KEY_BYTES
} from '../crypto/index.js'
import type { AccountKeyPair } from '../crypto/index.js'
import type {
  Envelope, FileEnvelope, MembersBody, MembersEnvelope, PeopleRequest, PeopleResponse, RoomContent, RoomInfo, RoomMember,
  RoomSealedBody, RoomSealedEnvelope, TextEnvelope
} from '../protocol/index.js'
import type { AbortOptions, PublicKey } from '@libp2p/interface'
import type { ClientEvent } from './events.js'

/** A private room's member list is asked again at most this often when an unknown author shows up. */
export const LIST_REFRESH_MS = 5_000

type Body<K extends Envelope['kind']> = Extract<Envelope, { kind: K }>['body']

export interface RoomsDeps {
  me: () => string
  serverKey: () => PublicKey
  sign: <K extends Envelope['kind']>(conv: string, kind: K, body: Body<K>) => Promise<Extract<Envelope, { kind: K }>>
  ask: (req: PeopleRequest, options: AbortOptions) => Promise<Extract<PeopleResponse, { ok: true }>>
  cert: () => PeopleRequest['cert']
  subscribe: (room: string) => void
  unsubscribe: (room: string) => void
  /** Fetches the room's recent history kept by the node. */
  fetchHistory: (room: string) => Promise<void>
  /** This account's sealing key pair: opens its copy of each private room's key. */
  accountKey: () => AccountKeyPair
  /** Another account's public sealing key (a private room's key is sealed to each member's). */
  accountKeyOf: (user: string, options: AbortOptions) => Promise<string | null>
  emit: (ev: ClientEvent) => void
}

/** Does room `a` come before room `b` in a `rooms` listing (#global first, then by name)? */
function comesBefore (a: string, b: string): boolean {
  if (a === GLOBAL_ROOM) return b !== GLOBAL_ROOM
  return b !== GLOBAL_ROOM && a < b
}

/**
 * Every room of a `rooms` listing, asked page after page (the node answers as many as fit a
 * frame, `more` when some are left; the next page comes after the last room of the one before).
 * Each room must come after the one before (#global first, then by name), so none is listed
 * twice and every page advances; at most MAX_ROOMS_LISTED rooms, so at most that many pages. A
 * node breaking either is refused, so it cannot keep a device asking.
 */
export async function listRoomPages (ask: RoomsDeps['ask'], cert: () => PeopleRequest['cert'], options: AbortOptions = {}): Promise<RoomInfo[]> {
  const rooms: RoomInfo[] = []
  let after: string | undefined
  for (let page = 1; ; page++) {
    const res = await ask({ op: 'rooms', cert: cert(), ...(after == null ? {} : { after }) }, options)
    if (!('rooms' in res)) {
      if (page === 1) return []
      throw new InvalidMessageError(`the rendezvous node sent no rooms on page ${page} of the room list`)
    }
    for (const room of res.rooms) {
      const last = rooms.at(-1)?.room
      if (last != null && !comesBefore(last, room.room)) {
        throw new InvalidMessageError(`the rendezvous node's room list does not advance: #${room.room} came after #${last} on page ${page}`)
      }
      rooms.push(room)
    }
    if (rooms.length > MAX_ROOMS_LISTED) throw new InvalidMessageError(`the rendezvous node listed more than ${MAX_ROOMS_LISTED} rooms`)
    if (res.more !== true) return rooms
    const next = rooms.at(-1)?.room
    if (next == null || next === after) throw new InvalidMessageError(`the rendezvous node's room list does not advance: page ${page} holds no new room`)
    after = next
  }
}

interface MemberList {
  owner: string
  version: number
  members: Set<string>
}

export class Rooms {
  /** Rooms this account is in, as last told by the node. */
  private readonly joined = new Map<string, RoomInfo>()
  private readonly lists = new Map<string, MemberList>()
  private readonly refreshed = new Map<string, number>()
  private readonly refreshing = new Map<string, Promise<void>>()
  /** Private rooms' keys this account could open, by list version. */
  private readonly keys = new Map<string, Map<number, Uint8Array>>()
  /** Private rooms whose owner's device is signing a list without someone who left. */
  private readonly rekeying = new Set<string>()
  /** The last description of each room announced to listeners. */
  private readonly announced = new Map<string, string>()

  constructor (private readonly deps: RoomsDeps) {}

  isJoined (room: string): boolean {
    return room === GLOBAL_ROOM || this.joined.has(room)
  }

  /**
   * May `author` post to `room`, as far as this device knows? `unknown` for someone not on the
   * private room's list this device holds: the list may be older than the node's (it is asked
   * again), so the message is dropped without blaming whoever forwarded it.
   */
  admits (room: string, author: string): 'yes' | 'no' | 'unknown' {
    const list = this.lists.get(room)
    if (list == null) return room === GLOBAL_ROOM || this.joined.get(room)?.private === false ? 'yes' : 'unknown'
    if (list.members.has(author)) return 'yes'
    void this.refresh(room)
    return 'unknown'
  }

  /** Is `room` private here (its messages travel sealed with the room key)? */
  isPrivate (room: string): boolean {
    return this.lists.has(room) || this.joined.get(room)?.private === true
  }

  /** May a message of `kind` travel on `room`'s topic? A private room carries sealed messages only, a public one none. */
  admitsKind (room: string, kind: Envelope['kind']): boolean {
    return this.isPrivate(room) ? kind === 'sealed-room' : kind !== 'sealed-room'
  }

  /** A message's content as it goes on `room`'s topic: as it is in a public room, sealed with the newest room key in a private one. */
  sealFor (room: string, content: RoomContent): RoomContent | { kind: 'sealed-room', body: RoomSealedBody } {
    if (!this.isPrivate(room)) return content
    const list = this.lists.get(room)
    const key = list == null ? undefined : this.keys.get(room)?.get(list.version)
    if (list == null || key == null) throw new NotMemberError(`this device holds no key of the private room #${room}; its owner must invite you (again)`)
    return { kind: 'sealed-room', body: sealRoomContent(key, room, list.version, content) }
  }

  /**
   * A private room's message opened with its room key: the envelope as its author wrote it (its
   * signature covers the sealed form, checked before). Undefined when this account holds no such
   * key (a newer list is asked for first) or it does not open.
   */
  async open (room: string, env: RoomSealedEnvelope): Promise<TextEnvelope | FileEnvelope | undefined> {
    if (this.keys.get(room)?.get(env.body.v) == null && env.body.v > (this.lists.get(room)?.version ?? 0)) await this.refresh(room)
    const key = this.keys.get(room)?.get(env.body.v)
    if (key == null) return undefined
    try {
      const content = openRoomContent(key, room, env.body)
      return { ...env, kind: content.kind, body: content.body } as TextEnvelope | FileEnvelope
    } catch {
      return undefined
    }
  }

  /** Asks for a private room's list again (one at a time, at most every LIST_REFRESH_MS). */
  private async refresh (room: string): Promise<void> {
    const running = this.refreshing.get(room)
    if (running != null) return await running
    if (Date.now() - (this.refreshed.get(room) ?? 0) <= LIST_REFRESH_MS) return
    this.refreshed.set(room, Date.now())
    const asked = this.info(room).then(() => {}, () => {}).finally(() => this.refreshing.delete(room))
    this.refreshing.set(room, asked)
    await asked
  }

  /** Asks the node which rooms this account is in and follows them (after each session start). */
  async sync (options: AbortOptions = {}): Promise<RoomInfo[]> {
    const rooms = await this.list(options)
    const inNow = new Set(rooms.filter(r => r.joined).map(r => r.room))
    for (const room of [...this.joined.keys()]) {
      if (!inNow.has(room)) this.forget(room)
    }
    return rooms
  }

  /** Rooms this account is in and public rooms to join, with member counts. */
  async list (options: AbortOptions = {}): Promise<RoomInfo[]> {
    const out = []
    for (const raw of await listRoomPages(this.deps.ask, this.deps.cert, options)) {
      const info = await this.apply(raw, false)
      if (info != null) out.push(info)
    }
    return out
  }

  async info (name: string, options: AbortOptions = {}): Promise<RoomInfo> {
    const room = checkRoomName(name)
    return await this.expect(await this.deps.ask({ op: 'room', cert: this.deps.cert(), room }, options))
  }

  async create (name: string, opts: { private?: boolean } = {}, options: AbortOptions = {}): Promise<RoomInfo> {
    const room = checkRoomName(name)
    if (room === GLOBAL_ROOM) throw new RoomTakenError(`#${GLOBAL_ROOM} always exists`)
    const priv = opts.private === true
    const list = priv ? await this.signList(room, 1, [this.deps.me()], [], options) : undefined
    return await this.expect(await this.deps.ask({ op: 'create', cert: this.deps.cert(), room, private: priv, ...(list == null ? {} : { list }) }, options))
  }

  async join (name: string, options: AbortOptions = {}): Promise<RoomInfo> {
    const room = checkRoomName(name)
    return await this.expect(await this.deps.ask({ op: 'join', cert: this.deps.cert(), room }, options))
  }

  async leave (name: string, options: AbortOptions = {}): Promise<RoomInfo> {
    const room = checkRoomName(name)
    return await this.expect(await this.deps.ask({ op: 'leave', cert: this.deps.cert(), room }, options))
  }

  /** Adds `user` to a room; for a private room this device (its owner's) signs the longer list. */
  async invite (name: string, user: string, options: AbortOptions = {}): Promise<RoomInfo> {
    const room = checkRoomName(name)
    checkUsername(user)
    const current = await this.info(room, options)
    let list: MembersEnvelope | undefined
    if (current.private) {
      const me = this.deps.me()
      if (current.owner !== me) throw new NotMemberError(`only the owner (${current.owner ?? 'nobody'}) can invite people to the private room #${room}`)
      const held = this.lists.get(room)
      if (held == null) throw new InvalidInputError(`the member list of #${room} could not be checked; try again`)
      const kept = await this.stillIn(room, held, options)
      if (kept.includes(user)) throw new InvalidInputError(`${user} is already a member of #${room}`)
      // a new key for the new version; the older ones go along, so the invited member reads the history
      list = await this.signList(room, held.version + 1, [...kept, user], this.pastKeys(room, held.version), options)
    }
    return await this.expect(await this.deps.ask({ op: 'invite', cert: this.deps.cert(), room, user, ...(list == null ? {} : { list }) }, options))
  }

  /**
   * Takes `user` off a private room (this device is its owner's): the next list leaves them (and
   * anyone who left) out and carries a new room key, so they read nothing sent after. A public
   * room has nobody to remove: anyone may join it.
   */
  async remove (name: string, user: string, options: AbortOptions = {}): Promise<RoomInfo> {
    const room = checkRoomName(name)
    checkUsername(user)
    const current = await this.info(room, options)
    if (room === GLOBAL_ROOM) throw new InvalidInputError(`everyone is in #${GLOBAL_ROOM}; nobody can be removed from it`)
    if (!current.private) throw new InvalidInputError(`#${room} is public: anyone may join it, so nobody can be removed`)
    const me = this.deps.me()
    if (current.owner !== me) throw new NotMemberError(`only the owner (${current.owner ?? 'nobody'}) can remove people from the private room #${room}`)
    if (user === me) throw new InvalidInputError(`you own the private room #${room}; its owner cannot be removed`)
    const held = this.lists.get(room)
    if (held == null) throw new InvalidInputError(`the member list of #${room} could not be checked; try again`)
    const kept = await this.stillIn(room, held, options)
    if (!held.members.has(user) && !kept.includes(user)) throw new InvalidInputError(`${user} is not a member of #${room}`)
    const list = await this.signList(room, held.version + 1, kept.filter(u => u !== user), this.pastKeys(room, held.version), options)
    return await this.expect(await this.deps.ask({ op: 'remove', cert: this.deps.cert(), room, user, list }, options))
  }

  /** The members on a private room's list who are still in it (the owner always): those who left are dropped from the next list. */
  private async stillIn (room: string, held: MemberList, options: AbortOptions): Promise<string[]> {
    const me = this.deps.me()
    const now = new Set((await this.members(room, options)).map(m => m.user))
    return [...held.members].filter(u => u === me || now.has(u))
  }

  /** The keys of versions 1..`version` this device holds, for the next list's `past`. */
  private pastKeys (room: string, version: number): Array<Uint8Array | null> {
    const past: Array<Uint8Array | null> = []
    for (let v = 1; v <= version; v++) past.push(this.keys.get(room)?.get(v) ?? null)
    return past
  }

  async members (name: string, options: AbortOptions = {}): Promise<RoomMember[]> {
    const room = checkRoomName(name)
    const res = await this.deps.ask({ op: 'members', cert: this.deps.cert(), room }, options)
    if (!('members' in res)) throw new UnknownRoomError(`no room named #${room}`)
    return res.members
  }

  /** A room as the node describes it (an answer or a push): checked, followed or left, announced. */
  async apply (raw: unknown, announce = true): Promise<RoomInfo | undefined> {
    const parsed = roomInfoSchema.safeParse(raw)
    if (!parsed.success) return undefined
    const info = parsed.data
    if (info.private) await this.takeList(info)
    if (info.private && info.joined && info.owner === this.deps.me()) this.rekeyIfLeft(info)
    const was = this.joined.get(info.room)
    if (info.room === GLOBAL_ROOM) return info
    if (info.joined) {
      this.joined.set(info.room, info)
      if (was == null) {
        this.deps.subscribe(info.room)
        void this.deps.fetchHistory(info.room).catch(() => {})
      }
    } else if (was != null) {
      this.forget(info.room)
    }
    // the answer to this device's own change and the node's push of it are announced once
    const key = JSON.stringify(info)
    if (announce && this.announced.get(info.room) !== key) {
      this.announced.set(info.room, key)
      this.deps.emit({ type: 'room', room: info })
    }
    return info
  }

  /**
   * On the owner's device: someone on the signed list has left the room (the node counts fewer
   * members than the list names), so a new list and key without them go out, as a removal would.
   * One at a time per room; a failure waits for the next change.
   */
  private rekeyIfLeft (info: RoomInfo): void {
    const held = this.lists.get(info.room)
    if (held == null || held.members.size <= info.members || this.rekeying.has(info.room)) return
    this.rekeying.add(info.room)
    void (async () => {
      const kept = await this.stillIn(info.room, held, {})
      const left = [...held.members].find(u => !kept.includes(u))
      if (left != null) await this.remove(info.room, left)
    })().catch(() => {}).finally(() => { this.rekeying.delete(info.room) })
  }

  /** Rooms (besides #global) this device follows. */
  joinedRooms (): string[] {
    return [...this.joined.keys()]
  }

  private forget (room: string): void {
    this.joined.delete(room)
    this.lists.delete(room)
    this.keys.delete(room)
    this.deps.unsubscribe(room)
  }

  private async takeList (info: RoomInfo): Promise<void> {
    const parsed = envelopeSchema.safeParse(info.list)
    if (!parsed.success || parsed.data.kind !== 'members') return
    const env = parsed.data
    if (env.author !== info.owner || env.body.room !== info.room || env.conv !== roomConversation(info.room)) return
    try {
      await verifyEnvelope(this.deps.serverKey(), env, env.sentAt)
    } catch {
      return
    }
    const held = this.lists.get(info.room)
    if (held != null && held.version >= env.body.version) return
    this.lists.set(info.room, { owner: env.author, version: env.body.version, members: new Set(env.body.members) })
    this.openKeys(info.room, env.body)
  }

  /** Takes this account's room key (and the older ones) from a checked list. */
  private openKeys (room: string, body: MembersBody): void {
    const me = this.deps.me()
    const mine = body.keys != null && Object.hasOwn(body.keys, me) ? body.keys[me] : undefined
    if (mine == null) return
    try {
      const key = openSealed(this.deps.accountKey(), mine)
      if (key.length !== ROOM_KEY_BYTES) return
      const held = this.keys.get(room) ?? new Map<number, Uint8Array>()
      held.set(body.version, key)
      if (body.past != null) {
        for (const [v, k] of openPastKeys(key, room, body.version, body.past)) if (!held.has(v)) held.set(v, k)
      }
      this.keys.set(room, held)
    } catch {
      // sealed to an account key this device no longer has: the room stays unreadable here until the owner invites again
    }
  }

  /** Signs a private room's list of `version` with a new room key sealed to each member, and the older keys. */
  private async signList (room: string, version: number, members: string[], past: Array<Uint8Array | null>, options: AbortOptions): Promise<MembersEnvelope> {
    const key = newRoomKey()
    const me = this.deps.me()
    const keys: Record<string, string> = {}
    for (const user of members) {
      const publicKey = user === me ? this.deps.accountKey().publicKey : await this.deps.accountKeyOf(user, options)
      if (publicKey == null) throw new UnknownUserError(`${user} has no account key yet; they must log in once before joining a private room`)
      keys[user] = seal(publicKey, key, this.deps.accountKey().publicKey)
    }
    return await this.deps.sign(roomConversation(room), 'members', {
      room, version, members, keys, ...(past.length === 0 ? {} : { past: sealPastKeys(key, room, version, past) })
    })
  }

  private async expect (res: Extract<PeopleResponse, { ok: true }>): Promise<RoomInfo> {
    if (!('room' in res)) throw new UnknownRoomError('the rendezvous node sent no room')
    const info = await this.apply(res.room)
    if (info == null) throw new UnknownRoomError('the rendezvous node sent an invalid room')
    return info
  }
}
