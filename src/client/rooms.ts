/**
 * Rooms on the client side: the rooms this account is in (from the rendezvous node's registry,
 * kept current by its pushes), subscribing to their gossipsub topics, and the owner-signed
 * member lists of private rooms that this device's topic validator checks authors against.
 */
import {
  GLOBAL_ROOM, checkRoomName, checkUsername, roomConversation, roomInfo as roomInfoSchema, envelope as envelopeSchema,
  InvalidInputError, NotMemberError, RoomTakenError, UnknownRoomError
} from '../protocol/index.js'
import { verifyEnvelope } from '../crypto/index.js'
import type { Envelope, MembersEnvelope, PeopleRequest, PeopleResponse, RoomInfo, RoomMember } from '../protocol/index.js'
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
  emit: (ev: ClientEvent) => void
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
    const last = this.refreshed.get(room) ?? 0
    if (Date.now() - last > LIST_REFRESH_MS) {
      this.refreshed.set(room, Date.now())
      void this.info(room).catch(() => {})
    }
    return 'unknown'
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
    const res = await this.deps.ask({ op: 'rooms', cert: this.deps.cert() }, options)
    if (!('rooms' in res)) return []
    const out = []
    for (const raw of res.rooms) {
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
    const list = priv ? await this.deps.sign(roomConversation(room), 'members', { room, version: 1, members: [this.deps.me()] }) : undefined
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
      if (held.members.has(user)) throw new InvalidInputError(`${user} is already a member of #${room}`)
      list = await this.deps.sign(roomConversation(room), 'members', { room, version: held.version + 1, members: [...held.members, user] })
    }
    return await this.expect(await this.deps.ask({ op: 'invite', cert: this.deps.cert(), room, user, ...(list == null ? {} : { list }) }, options))
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

  /** Rooms (besides #global) this device follows. */
  joinedRooms (): string[] {
    return [...this.joined.keys()]
  }

  private forget (room: string): void {
    this.joined.delete(room)
    this.lists.delete(room)
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
  }

  private async expect (res: Extract<PeopleResponse, { ok: true }>): Promise<RoomInfo> {
    if (!('room' in res)) throw new UnknownRoomError('the rendezvous node sent no room')
    const info = await this.apply(res.room)
    if (info == null) throw new UnknownRoomError('the rendezvous node sent an invalid room')
    return info
  }
}
