/**
 * The rendezvous node's side of people and rooms: profiles (the newest signed profile envelope
 * of each user, pushed to online devices when it changes) and the room registry (named rooms,
 * their owners, members, and the owner-signed member lists of private rooms).
 */
import {
  GLOBAL_ROOM, MAX_ROOMS_LISTED, MAX_ROOMS_PER_ACCOUNT, MAX_ROOMS_OWNED, MAX_ROOMS_TOTAL, MAX_PUBLIC_ROOMS_LISTED, MAX_ROOM_MEMBERS,
  envelope as envelopeSchema, checkRoomName, checkUsername, selfConversation, roomConversation, printable,
  InvalidInputError, InvalidMessageError, UnknownUserError, UnknownRoomError, RoomTakenError, NotMemberError, AccountDisabledError
} from '../protocol/index.js'
import { verifyEnvelope } from '../crypto/index.js'
import { DEFAULT_ROOMS_PAGE_BYTES } from './constants.js'
import type { AccountRecord, RendezvousState, RoomRegistryRecord } from '../store/index.js'
import type { EnvelopeKind, MembersEnvelope, PeopleRequest, RoomInfo, RoomMember } from '../protocol/index.js'
import type { Presence } from './presence.js'
import type { Logger } from './log.js'
import type { PublicKey } from '@libp2p/interface'

export interface PeopleServiceDeps {
  store: () => RendezvousState
  presence: Presence
  serverKey: () => PublicKey
  log: Logger
  /** Subscribes the node to a room's topic (validator and history), once. */
  openRoom: (room: string) => void
  accountCount: () => number
  /** Bytes of room entries one `rooms` answer holds; lower only in tests. @default DEFAULT_ROOMS_PAGE_BYTES */
  roomsPageBytes?: number
}

/** Members a `members` answer lists at most (the answer fits MAX_PEOPLE_FRAME_BYTES). */
const MAX_MEMBERS_LISTED = 5_000

export class PeopleService {
  constructor (private readonly deps: PeopleServiceDeps) {}

  private get store (): RendezvousState { return this.deps.store() }

  async handle (req: PeopleRequest, account: AccountRecord): Promise<unknown> {
    const me = account.user
    switch (req.op) {
      case 'set-profile': {
        const env = await this.checkEnvelope(req.profile, 'profile')
        if (env.author !== me || env.conv !== selfConversation(me)) throw new InvalidMessageError('a profile must be signed by its own account')
        await this.store.putProfile(me, env)
        this.deps.log.info('profile changed', { user: me })
        this.deps.presence.emit({ type: 'profile', user: me, profile: env, at: Date.now() })
        return { ok: true }
      }
      case 'profiles': {
        const profiles = []
        for (const name of req.users) {
          const user = checkUsername(name)
          const found = await this.store.getAccount(user)
          if (found == null) throw new UnknownUserError(`no user named "${printable(name)}"`)
          const env = await this.store.getProfile(user)
          if (env != null) profiles.push(env)
        }
        return { ok: true, profiles }
      }
      case 'rooms': return await this.roomsPage(me, req.after)
      case 'room': {
        const record = await this.requireRoom(req.room)
        if (record == null) return { ok: true, room: await this.globalInfo() }
        await this.requireVisible(record, me)
        return { ok: true, room: await this.info(record, me) }
      }
      case 'create': {
        const room = checkRoomName(req.room)
        if (room === GLOBAL_ROOM) throw new RoomTakenError(`#${GLOBAL_ROOM} always exists`)
        const all = await this.store.listRooms(MAX_ROOMS_TOTAL)
        if (all.length >= MAX_ROOMS_TOTAL) throw new InvalidInputError(`this node holds ${MAX_ROOMS_TOTAL} rooms, its most`)
        if (all.filter(r => r.owner === me).length >= MAX_ROOMS_OWNED) throw new InvalidInputError(`one account may create at most ${MAX_ROOMS_OWNED} rooms`)
        await this.checkRoomLimit(me)
        let list: MembersEnvelope | null = null
        if (req.private) {
          list = await this.checkList(req.list, room, me, 0)
          if (!list.body.members.includes(me)) throw new InvalidInputError('the owner must be on the member list of a private room')
        }
        const record: RoomRegistryRecord = { room, owner: me, private: req.private, createdAt: Date.now(), list, version: list?.body.version ?? 0 }
        if (!await this.store.createRoom(record)) throw new RoomTakenError(`the room name #${room} is taken`)
        this.deps.openRoom(room)
        this.deps.log.info('room created', { room, owner: me, private: req.private })
        await this.announce(record, [me])
        return { ok: true, room: await this.info(record, me) }
      }
      case 'join': {
        const record = await this.requireRoom(req.room)
        if (record == null) return { ok: true, room: await this.globalInfo() }
        if (record.private && !this.listed(record, me)) throw new NotMemberError(`#${record.room} is private; only members invited by its owner can join`)
        if (!await this.store.isMember(record.room, me)) {
          await this.checkRoomLimit(me)
          await this.store.addMember(record.room, me, Date.now())
        }
        await this.announce(record, [me])
        return { ok: true, room: await this.info(record, me) }
      }
      case 'leave': {
        const record = await this.requireRoom(req.room)
        if (record == null) throw new InvalidInputError(`everyone is in #${GLOBAL_ROOM}; it cannot be left`)
        if (!await this.store.isMember(record.room, me)) throw new NotMemberError(`you are not in #${record.room}`)
        if (record.private && record.owner === me) throw new InvalidInputError(`you own the private room #${record.room}; its owner cannot leave it`)
        await this.store.removeMember(record.room, me)
        // the owner of a private room hears of it too: its device signs a list (and a key) without them
        await this.announce(record, record.private ? [me, record.owner] : [me])
        return { ok: true, room: await this.info(record, me) }
      }
      case 'invite': {
        const record = await this.requireRoom(req.room)
        if (record == null) throw new InvalidInputError(`everyone is in #${GLOBAL_ROOM} already`)
        const user = checkUsername(req.user)
        const target = await this.store.getAccount(user)
        if (target == null) throw new UnknownUserError(`no user named "${user}"`)
        if (target.disabled) throw new AccountDisabledError(`account "${user}" is disabled`)
        if (!await this.store.isMember(record.room, me)) throw new NotMemberError(`you are not in #${record.room}`)
        let updated = record
        if (record.private) {
          if (record.owner !== me) throw new NotMemberError(`only the owner (${record.owner}) can invite people to the private room #${record.room}`)
          const list = await this.checkList(req.list, record.room, me, record.version)
          const after = new Set(list.body.members)
          if (!after.has(user) || !after.has(me) || !await this.keepsMembers(record, after, user)) {
            throw new InvalidInputError('the new member list must keep the members and add the invited person')
          }
          updated = { ...record, list, version: list.body.version }
          if (!await this.store.updateRoom(updated)) throw new InvalidInputError('the member list changed meanwhile; try again')
        }
        if ((await this.store.roomsOf(user, MAX_ROOMS_PER_ACCOUNT)).length >= MAX_ROOMS_PER_ACCOUNT) throw new InvalidInputError(`${user} is in too many rooms`)
        await this.store.addMember(record.room, user, Date.now())
        this.deps.log.info('room invite', { room: record.room, by: me, user })
        // everyone in the room learns the new list (their validators admit the new member)
        await this.announce(updated, await this.store.members(record.room, MAX_MEMBERS_LISTED))
        return { ok: true, room: await this.info(updated, me) }
      }
      case 'remove': {
        const record = await this.requireRoom(req.room)
        if (record == null) throw new InvalidInputError(`everyone is in #${GLOBAL_ROOM}; nobody can be removed from it`)
        await this.requireVisible(record, me)
        if (!record.private) throw new InvalidInputError(`#${record.room} is public: anyone may join it, so nobody can be removed`)
        if (record.owner !== me) throw new NotMemberError(`only the owner (${record.owner}) can remove people from the private room #${record.room}`)
        const user = checkUsername(req.user)
        if (user === me) throw new InvalidInputError(`you own the private room #${record.room}; its owner cannot be removed`)
        const wasMember = await this.store.isMember(record.room, user)
        if (!wasMember && !this.listed(record, user)) throw new InvalidInputError(`${user} is not a member of #${record.room}`)
        const list = await this.checkList(req.list, record.room, me, record.version)
        const after = new Set(list.body.members)
        const before = new Set(this.listOf(record))
        // a shorter list only: nobody new comes in with a removal
        if (after.has(user) || !after.has(me) || [...after].some(u => !before.has(u)) || !await this.keepsMembers(record, after, user)) {
          throw new InvalidInputError('the new member list must keep the other members and leave out the removed person')
        }
        const updated: RoomRegistryRecord = { ...record, list, version: list.body.version }
        if (!await this.store.updateRoom(updated)) throw new InvalidInputError('the member list changed meanwhile; try again')
        if (wasMember) await this.store.removeMember(record.room, user)
        this.deps.log.info('room remove', { room: record.room, by: me, user })
        // the remaining members take the new list (and key); the removed person's devices forget the room
        const remaining = await this.store.members(record.room, MAX_MEMBERS_LISTED)
        await this.announce(updated, [...remaining, user])
        return { ok: true, room: await this.info(updated, me) }
      }
      case 'members': {
        const record = await this.requireRoom(req.room)
        if (record == null) {
          const all = await this.store.listAccounts()
          return { ok: true, members: all.filter(a => !a.disabled).slice(0, MAX_MEMBERS_LISTED).map(a => this.member(a.user, null)) }
        }
        await this.requireVisible(record, me)
        const users = await this.store.members(record.room, MAX_MEMBERS_LISTED)
        return { ok: true, members: users.map(u => this.member(u, record.owner)) }
      }
    }
  }

  /**
   * May `user` post to `room` (a message of `kind`)? For the node's topic validator: members of
   * private rooms only, and there only messages sealed with the room key (plaintext would be
   * readable by anyone on the topic); a public room has no key, so nothing sealed.
   */
  async admits (room: string, user: string, kind?: EnvelopeKind): Promise<boolean> {
    if (room === GLOBAL_ROOM) return kind !== 'sealed-room'
    const record = await this.store.getRoom(room)
    if (record == null) return false
    if (kind != null && (kind === 'sealed-room') !== record.private) return false
    // a member who left is still on the signed list until its owner signs a new one: the node knows better
    return !record.private || (this.listed(record, user) && await this.store.isMember(room, user))
  }

  /** May `user` read `room`'s history? */
  async canRead (room: string, user: string): Promise<boolean> {
    if (room === GLOBAL_ROOM) return true
    const record = await this.store.getRoom(room)
    if (record == null) throw new UnknownRoomError(`no room named #${printable(room)}`)
    return !record.private || (this.listed(record, user) && await this.store.isMember(room, user))
  }

  /**
   * One page of the rooms `user` sees, in one order: #global first, then by name (the registry's
   * key order). The account's rooms always; public ones to join up to MAX_PUBLIC_ROOMS_LISTED,
   * counted from the start of that order whatever page is asked, so every page agrees on which
   * they are. A page holds the rooms after `after` up to a byte budget (at least one room, so a
   * listing always advances); `more` when some are left.
   */
  private async roomsPage (user: string, after?: string): Promise<{ ok: true, rooms: RoomInfo[], more: boolean }> {
    const budget = this.deps.roomsPageBytes ?? DEFAULT_ROOMS_PAGE_BYTES
    const rooms: RoomInfo[] = []
    let bytes = 0
    /** Adds an entry unless the page is full (false then). */
    const add = (info: RoomInfo): boolean => {
      const size = Buffer.byteLength(JSON.stringify(info)) + 1
      if (rooms.length > 0 && bytes + size > budget) return false
      bytes += size
      rooms.push(info)
      return true
    }
    if (after == null) add(await this.globalInfo())
    // #global is no registry room (its name cannot be taken): the page after it starts at the first
    const from = after === GLOBAL_ROOM ? null : after ?? null
    const mine = new Set(await this.store.roomsOf(user, MAX_ROOMS_PER_ACCOUNT))
    let listed = 1
    let publicRooms = 0
    for (const r of await this.store.listRooms(MAX_ROOMS_TOTAL)) {
      if (listed >= MAX_ROOMS_LISTED) break
      const own = mine.has(r.room) || (r.private && this.listed(r, user))
      if (r.private && !own) continue
      if (!own && publicRooms++ >= MAX_PUBLIC_ROOMS_LISTED) continue
      listed++
      if (from != null && r.room <= from) continue
      if (!add(await this.info(r, user))) return { ok: true, rooms, more: true }
    }
    return { ok: true, rooms, more: false }
  }

  private member (user: string, owner: string | null): RoomMember {
    return { user, online: this.deps.presence.isOnline(user), owner: user === owner }
  }

  private listOf (record: RoomRegistryRecord): string[] {
    const parsed = envelopeSchema.safeParse(record.list)
    return parsed.success && parsed.data.kind === 'members' ? parsed.data.body.members : []
  }

  /**
   * Does a private room's new list keep everyone of the old one who is still in the room (all but
   * `except`)? Those who left may be dropped: the owner's next list leaves them out, so they get
   * no key of any later version.
   */
  private async keepsMembers (record: RoomRegistryRecord, after: Set<string>, except: string): Promise<boolean> {
    for (const u of this.listOf(record)) {
      if (u === except || after.has(u)) continue
      if (u === record.owner || await this.store.isMember(record.room, u)) return false
    }
    return true
  }

  private listed (record: RoomRegistryRecord, user: string): boolean {
    return this.listOf(record).includes(user)
  }

  /** The record of a named room, or null for #global; UnknownRoomError when there is none. */
  private async requireRoom (name: string): Promise<RoomRegistryRecord | null> {
    const room = checkRoomName(name)
    if (room === GLOBAL_ROOM) return null
    const record = await this.store.getRoom(room)
    if (record == null) throw new UnknownRoomError(`no room named #${room}`)
    return record
  }

  private async requireVisible (record: RoomRegistryRecord, user: string): Promise<void> {
    // a private room is not revealed to those outside it
    if (record.private && !this.listed(record, user) && !await this.store.isMember(record.room, user)) {
      throw new UnknownRoomError(`no room named #${record.room}`)
    }
  }

  private async checkRoomLimit (user: string): Promise<void> {
    if ((await this.store.roomsOf(user, MAX_ROOMS_PER_ACCOUNT)).length >= MAX_ROOMS_PER_ACCOUNT) {
      throw new InvalidInputError(`one account may be in at most ${MAX_ROOMS_PER_ACCOUNT} rooms`)
    }
  }

  private async checkEnvelope<K extends 'profile' | 'members'> (raw: unknown, kind: K): Promise<Extract<import('../protocol/index.js').Envelope, { kind: K }>> {
    const parsed = envelopeSchema.safeParse(raw)
    if (!parsed.success || parsed.data.kind !== kind) throw new InvalidMessageError(`not a signed ${kind} envelope`)
    await verifyEnvelope(this.deps.serverKey(), parsed.data)
    return parsed.data as Extract<import('../protocol/index.js').Envelope, { kind: K }>
  }

  /** A private room's member list: signed by the owner, for this room, the next version. */
  private async checkList (raw: unknown, room: string, owner: string, version: number): Promise<MembersEnvelope> {
    if (raw == null) throw new InvalidInputError('a private room needs a member list signed by its owner')
    const list = await this.checkEnvelope(raw, 'members')
    if (list.author !== owner) throw new InvalidMessageError('the member list is not signed by the room\'s owner')
    if (list.conv !== roomConversation(room) || list.body.room !== room) throw new InvalidMessageError('the member list is for another room')
    if (list.body.version !== version + 1) throw new InvalidInputError('the member list changed meanwhile; try again')
    if (new Set(list.body.members).size !== list.body.members.length || list.body.members.length > MAX_ROOM_MEMBERS) throw new InvalidMessageError('the member list repeats names')
    // the room key sealed to every member and nobody else (the node cannot open them, only count them)
    const keys = list.body.keys ?? {}
    if (list.body.keys == null || Object.keys(keys).length !== list.body.members.length || list.body.members.some(u => !Object.hasOwn(keys, u))) {
      throw new InvalidMessageError('the member list must carry the room key sealed to each member')
    }
    if ((list.body.past == null) !== (list.body.version === 1)) throw new InvalidMessageError('the member list must carry the older room keys')
    return list
  }

  private async globalInfo (): Promise<RoomInfo> {
    return { room: GLOBAL_ROOM, private: false, owner: null, createdAt: 0, members: this.deps.accountCount(), joined: true, list: null }
  }

  private async info (record: RoomRegistryRecord, user: string, members?: number): Promise<RoomInfo> {
    return {
      room: record.room,
      private: record.private,
      owner: record.owner,
      createdAt: record.createdAt,
      members: members ?? await this.store.memberCount(record.room),
      joined: await this.store.isMember(record.room, user),
      list: record.list ?? null
    }
  }

  /** Tells the online devices of `users` how the room looks to them now. */
  private async announce (record: RoomRegistryRecord, users: string[]): Promise<void> {
    const at = Date.now()
    // counted once, not once per member told
    const members = await this.store.memberCount(record.room)
    for (const user of users) {
      const sessions = this.deps.presence.sessionsOf(user)
      if (sessions.length === 0) continue
      const room = await this.info(record, user, members)
      for (const s of sessions) s.push({ type: 'room', room, at })
    }
  }
}
