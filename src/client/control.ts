/**
 * Driving a running device from outside: the JSON-lines commands that `listen --json` reads on
 * stdin, and the owner-only Unix socket in the home through which one-shot commands reach a
 * running device (so they do not fight over its key or store).
 */
import { createServer } from 'node:net'
import { chmod, rm } from 'node:fs/promises'
import { z } from 'zod'
import { InvalidInputError, MAX_PROFILE_ABOUT, MAX_PROFILE_NAME, MAX_PROFILE_STATUS, MeshchatError, toWireError } from '../protocol/index.js'
import { connectLines, lineReader, socketAnswers } from '../protocol/lines.js'
import type { MeshClient, PingResult, SendResult, ConversationEntry } from './client.js'
import type { HistoryPage } from './history.js'
import type { ChatRequest, ChatState, Contact, Profile, ProfileChange, RoomInfo, RoomMember } from './people-types.js'
import type { FileEntry, FileProgress, GetFileResult, SendFileResult } from './files.js'
import type { UserInfo, WireError } from '../protocol/index.js'
import type { Server, Socket } from 'node:net'

export { MAX_COMMAND_BYTES, lineReader } from '../protocol/lines.js'
/** Connections the control socket serves at once. */
export const MAX_CONTROL_CONNECTIONS = 16
/** How long a file command through the control socket may go without a progress report. */
export const FILE_COMMAND_TIMEOUT_MS = 120_000

/** A username or room name as given; the client checks its rule and names it in the error. */
const name = z.string().max(64)
const profileField = (max: number) => z.string().max(max, `at most ${max} characters`)

export const controlCommand = z.discriminatedUnion('cmd', [
  z.object({ cmd: z.literal('send'), to: name, text: z.string(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('users'), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('ping'), user: name.optional(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('conversations'), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('history'), target: name, limit: z.number().int().positive().max(1000).optional(), before: z.string().max(64).optional(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('unread'), target: name.optional(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('read'), target: name, message: z.string().max(64).optional(), id: z.unknown().optional() }),
  // issue 8: chat requests, contacts, profiles, rooms
  z.object({ cmd: z.literal('request'), user: name, text: z.string().optional(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('requests'), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('accept'), user: name, id: z.unknown().optional() }),
  z.object({ cmd: z.literal('decline'), user: name, id: z.unknown().optional() }),
  z.object({ cmd: z.literal('close'), user: name, id: z.unknown().optional() }),
  z.object({ cmd: z.literal('contacts'), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('add-contact'), user: name, id: z.unknown().optional() }),
  z.object({ cmd: z.literal('remove-contact'), user: name, id: z.unknown().optional() }),
  z.object({ cmd: z.literal('profile'), user: name.optional(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('set-profile'), name: profileField(MAX_PROFILE_NAME).optional(), status: profileField(MAX_PROFILE_STATUS).optional(), about: profileField(MAX_PROFILE_ABOUT).optional(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('rooms'), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('create-room'), room: name, private: z.boolean().optional(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('join-room'), room: name, id: z.unknown().optional() }),
  z.object({ cmd: z.literal('leave-room'), room: name, id: z.unknown().optional() }),
  z.object({ cmd: z.literal('invite'), room: name, user: name, id: z.unknown().optional() }),
  z.object({ cmd: z.literal('remove-member'), room: name, user: name, id: z.unknown().optional() }),
  z.object({ cmd: z.literal('members'), room: name, id: z.unknown().optional() }),
  // issue 9: files (paths are absolute: the running device may have another working folder)
  z.object({ cmd: z.literal('send-file'), to: name, path: z.string().min(1).max(4096), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('files'), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('get-file'), file: z.string().max(128), to: z.string().min(1).max(4096).optional(), allowRelay: z.boolean().optional(), id: z.unknown().optional() })
])
export type ControlCommand = z.infer<typeof controlCommand>

export type CommandResult =
  | { id?: unknown, ok: true, result: unknown }
  | { id?: unknown, ok: false, error: WireError }

/** What a one-shot command needs of a device, wherever the device runs. */
export interface DeviceApi {
  send: (to: string, text: string) => Promise<SendResult>
  users: () => Promise<UserInfo[]>
  ping: (user?: string) => Promise<PingResult[]>
  conversations: () => Promise<ConversationEntry[]>
  history: (target: string, options: { limit?: number, before?: string }) => Promise<HistoryPage>
  unread: (target?: string) => Promise<UnreadEntry[]>
  read: (target: string, message?: string) => Promise<ReadResult>
  request: (user: string, text?: string) => Promise<ChatState>
  requests: () => Promise<ChatRequest[]>
  accept: (user: string) => Promise<ChatState>
  decline: (user: string) => Promise<ChatState>
  closeChat: (user: string) => Promise<ChatState>
  contacts: () => Promise<Contact[]>
  addContact: (user: string) => Promise<void>
  removeContact: (user: string) => Promise<void>
  profile: (user?: string) => Promise<Profile>
  setProfile: (change: ProfileChange) => Promise<Profile>
  rooms: () => Promise<RoomInfo[]>
  createRoom: (room: string, options: { private?: boolean }) => Promise<RoomInfo>
  joinRoom: (room: string) => Promise<RoomInfo>
  leaveRoom: (room: string) => Promise<RoomInfo>
  invite: (room: string, user: string) => Promise<RoomInfo>
  /** The owner of a private room takes `user` off it (a new room key they never get). */
  removeMember: (room: string, user: string) => Promise<RoomInfo>
  members: (room: string) => Promise<RoomMember[]>
  /** Offers a file (hashing it first: `onProgress` follows that). */
  sendFile: (to: string, path: string, options?: { onProgress?: (p: FileProgress) => void }) => Promise<SendFileResult>
  files: () => Promise<FileEntry[]>
  /** Fetches an offered file, resuming a cut transfer. */
  getFile: (file: string, options?: { to?: string, allowRelay?: boolean, onProgress?: (p: FileProgress) => void }) => Promise<GetFileResult>
  /** Ends this handle (the connection, or the short-lived client); not the chat `closeChat` ends. */
  close: () => Promise<void>
}

export interface UnreadEntry { target: string, conv: string, unread: number }
export interface ReadResult { target: string, conv: string, unread: number, changed: boolean }

/** The device API of a client in this process. */
export function localDevice (client: MeshClient, close: () => Promise<void>): DeviceApi {
  return {
    send: async (to, text) => await client.send(to, text),
    users: async () => await client.users(),
    ping: async user => await client.ping(user),
    conversations: async () => await client.conversations(),
    history: async (target, options) => await client.history.page(target, options),
    unread: async target => await client.history.unread(target),
    read: async (target, message) => await client.history.markRead(target, message),
    request: async (user, text) => await client.request(user, text),
    requests: async () => await client.requests(),
    accept: async user => await client.accept(user),
    decline: async user => await client.decline(user),
    closeChat: async user => await client.closeChat(user),
    contacts: async () => await client.contacts(),
    addContact: async user => { await client.addContact(user) },
    removeContact: async user => { await client.removeContact(user) },
    profile: async user => await client.profile(user),
    setProfile: async change => await client.setProfile(change),
    rooms: async () => await client.rooms(),
    createRoom: async (room, options) => await client.createRoom(room, options),
    joinRoom: async room => await client.joinRoom(room),
    leaveRoom: async room => await client.leaveRoom(room),
    invite: async (room, user) => await client.invite(room, user),
    removeMember: async (room, user) => await client.removeMember(room, user),
    members: async room => await client.members(room),
    sendFile: async (to, path, options = {}) => await client.sendFile(to, path, options),
    files: async () => await client.files(),
    getFile: async (file, options = {}) => await client.getFile(file, options),
    close
  }
}

type Runners = { [K in ControlCommand['cmd']]: (api: DeviceApi, cmd: Extract<ControlCommand, { cmd: K }>, progress?: (p: FileProgress) => void) => Promise<unknown> }

/** How each command runs on a device, once its arguments passed the schema. */
const runners: Runners = {
  send: async (api, c) => await api.send(c.to, c.text),
  users: async api => await api.users(),
  ping: async (api, c) => await api.ping(c.user),
  conversations: async api => await api.conversations(),
  history: async (api, c) => await api.history(c.target, { ...(c.limit == null ? {} : { limit: c.limit }), ...(c.before == null ? {} : { before: c.before }) }),
  unread: async (api, c) => await api.unread(c.target),
  read: async (api, c) => await api.read(c.target, c.message),
  request: async (api, c) => await api.request(c.user, c.text),
  requests: async api => await api.requests(),
  accept: async (api, c) => await api.accept(c.user),
  decline: async (api, c) => await api.decline(c.user),
  close: async (api, c) => await api.closeChat(c.user),
  contacts: async api => await api.contacts(),
  // null rather than undefined, so the answer line keeps its `result` field
  'add-contact': async (api, c) => { await api.addContact(c.user); return null },
  'remove-contact': async (api, c) => { await api.removeContact(c.user); return null },
  profile: async (api, c) => await api.profile(c.user),
  'set-profile': async (api, c) => await api.setProfile(definedOnly({ name: c.name, status: c.status, about: c.about })),
  rooms: async api => await api.rooms(),
  'create-room': async (api, c) => await api.createRoom(c.room, c.private == null ? {} : { private: c.private }),
  'join-room': async (api, c) => await api.joinRoom(c.room),
  'leave-room': async (api, c) => await api.leaveRoom(c.room),
  invite: async (api, c) => await api.invite(c.room, c.user),
  'remove-member': async (api, c) => await api.removeMember(c.room, c.user),
  members: async (api, c) => await api.members(c.room),
  'send-file': async (api, c, progress) => await api.sendFile(c.to, c.path, progress == null ? {} : { onProgress: progress }),
  files: async api => await api.files(),
  'get-file': async (api, c, progress) => await api.getFile(c.file, { ...(c.to == null ? {} : { to: c.to }), ...(c.allowRelay == null ? {} : { allowRelay: c.allowRelay }), ...(progress == null ? {} : { onProgress: progress }) })
}

/** The command names, for the error that lists them. */
export const COMMAND_NAMES = Object.keys(runners) as Array<ControlCommand['cmd']>

/** The object without its undefined fields: a field left out of a profile change keeps its value. */
function definedOnly<T extends Record<string, unknown>> (value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> }
}

/** Parses one command line; throws InvalidInputError with the reason. */
export function parseCommand (line: string): ControlCommand {
  let raw: unknown
  try {
    raw = JSON.parse(line)
  } catch {
    throw new InvalidInputError('command is not JSON')
  }
  const parsed = controlCommand.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new InvalidInputError(`invalid command${issue?.path.length ? ` at ${issue.path.join('.')}` : ''}: ${issue?.message ?? 'unknown shape'} (commands: ${COMMAND_NAMES.join(', ')})`)
  }
  return parsed.data
}

/** Runs one command line; long ones (files) report progress through `onProgress` before the answer. */
export async function runCommand (client: MeshClient, line: string, onProgress?: (progress: FileProgress, id: unknown) => void): Promise<CommandResult> {
  // the id of any JSON object, so that even a command the schema refuses gets a matchable answer
  const id = idOf(line)
  try {
    const cmd = parseCommand(line)
    const api = localDevice(client, async () => {})
    const run = runners[cmd.cmd] as (api: DeviceApi, cmd: ControlCommand, progress?: (p: FileProgress) => void) => Promise<unknown>
    const result = await run(api, cmd, onProgress == null ? undefined : p => { onProgress(p, id) })
    return { ...(id === undefined ? {} : { id }), ok: true, result }
  } catch (err) {
    return { ...(id === undefined ? {} : { id }), ok: false, error: err instanceof MeshchatError ? toWireError(err) : { name: 'MeshchatError', message: (err as Error).message } }
  }
}

function idOf (line: string): unknown {
  try {
    const raw: unknown = JSON.parse(line)
    return raw != null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as { id?: unknown }).id : undefined
  } catch {
    return undefined
  }
}

/** Serves the control socket of a running device. */
export class ControlServer {
  private server?: Server
  private readonly sockets = new Set<Socket>()

  constructor (private readonly client: MeshClient, private readonly path: string) {}

  async start (): Promise<void> {
    // a socket file left by a process that died is stale: nobody answers on it
    if (await socketAnswers(this.path)) {
      throw new MeshchatError(`another meshchat process is already running on this home (${this.path})`)
    }
    await rm(this.path, { force: true })
    const server = createServer(socket => { this.serve(socket) })
    server.maxConnections = MAX_CONTROL_CONNECTIONS
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.path, () => { server.off('error', reject); resolve() })
    })
    await chmod(this.path, 0o600)
    this.server = server
  }

  async stop (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>(resolve => { this.server == null ? resolve() : this.server.close(() => { resolve() }) })
    await rm(this.path, { force: true })
  }

  private serve (socket: Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    socket.setTimeout(FILE_COMMAND_TIMEOUT_MS, () => socket.destroy())
    socket.on('data', lineReader(line => {
      // progress lines ({ id, progress }) come before the answer of a long command
      const progress = (p: FileProgress, id: unknown): void => { if (!socket.destroyed) socket.write(`${JSON.stringify({ id, progress: p })}\n`) }
      void runCommand(this.client, line, progress).then(res => { if (!socket.destroyed) socket.write(`${JSON.stringify(res)}\n`) })
    }, () => {
      socket.end(`${JSON.stringify({ ok: false, error: { name: 'InvalidInputError', message: 'command too long' } })}\n`)
    }))
  }
}

/**
 * Connects to the running device of a home, if one answers; undefined otherwise. Commands sent
 * through it run in that process, as if typed there.
 */
export async function connectControl (path: string, timeoutMs = 30_000): Promise<DeviceApi | undefined> {
  const lines = await connectLines<FileProgress>(path, timeoutMs, {
    tooLong: () => new MeshchatError('answer from the running device too long'),
    closed: () => new MeshchatError('the running device closed the control connection'),
    timeout: () => new MeshchatError('the running device did not answer in time')
  })
  if (lines == null) return undefined
  const call = async (cmd: Record<string, unknown>, onProgress?: (p: FileProgress) => void): Promise<unknown> =>
    // a file transfer may stall a while before it gives up (and says why): wait longer for it
    await lines.call(cmd, onProgress == null ? {} : { timeoutMs: Math.max(timeoutMs, FILE_COMMAND_TIMEOUT_MS), onProgress })
  return {
    send: async (to, text) => await call({ cmd: 'send', to, text }) as SendResult,
    users: async () => await call({ cmd: 'users' }) as UserInfo[],
    ping: async user => await call({ cmd: 'ping', ...(user == null ? {} : { user }) }) as PingResult[],
    conversations: async () => await call({ cmd: 'conversations' }) as ConversationEntry[],
    history: async (target, options) => await call({ cmd: 'history', target, ...options }) as HistoryPage,
    unread: async target => await call({ cmd: 'unread', ...(target == null ? {} : { target }) }) as UnreadEntry[],
    read: async (target, message) => await call({ cmd: 'read', target, ...(message == null ? {} : { message }) }) as ReadResult,
    request: async (user, text) => await call({ cmd: 'request', user, ...(text == null ? {} : { text }) }) as ChatState,
    requests: async () => await call({ cmd: 'requests' }) as ChatRequest[],
    accept: async user => await call({ cmd: 'accept', user }) as ChatState,
    decline: async user => await call({ cmd: 'decline', user }) as ChatState,
    closeChat: async user => await call({ cmd: 'close', user }) as ChatState,
    contacts: async () => await call({ cmd: 'contacts' }) as Contact[],
    addContact: async user => { await call({ cmd: 'add-contact', user }) },
    removeContact: async user => { await call({ cmd: 'remove-contact', user }) },
    profile: async user => await call({ cmd: 'profile', ...(user == null ? {} : { user }) }) as Profile,
    setProfile: async change => await call({ cmd: 'set-profile', ...change }) as Profile,
    rooms: async () => await call({ cmd: 'rooms' }) as RoomInfo[],
    createRoom: async (room, options) => await call({ cmd: 'create-room', room, ...options }) as RoomInfo,
    joinRoom: async room => await call({ cmd: 'join-room', room }) as RoomInfo,
    leaveRoom: async room => await call({ cmd: 'leave-room', room }) as RoomInfo,
    invite: async (room, user) => await call({ cmd: 'invite', room, user }) as RoomInfo,
    removeMember: async (room, user) => await call({ cmd: 'remove-member', room, user }) as RoomInfo,
    members: async room => await call({ cmd: 'members', room }) as RoomMember[],
    sendFile: async (to, path, options = {}) => await call({ cmd: 'send-file', to, path }, options.onProgress) as SendFileResult,
    files: async () => await call({ cmd: 'files' }) as FileEntry[],
    getFile: async (file, options = {}) => await call({ cmd: 'get-file', file, ...(options.to == null ? {} : { to: options.to }), ...(options.allowRelay == null ? {} : { allowRelay: options.allowRelay }) }, options.onProgress) as GetFileResult,
    close: async () => { lines.close() }
  }
}
