/**
 * Driving a running device from outside: the JSON-lines commands that `listen --json` reads on
 * stdin, and the owner-only Unix socket in the home through which one-shot commands reach a
 * running device (so they do not fight over its key or store).
 */
import { createServer, createConnection } from 'node:net'
import { chmod, rm } from 'node:fs/promises'
import { StringDecoder } from 'node:string_decoder'
import { z } from 'zod'
import { InvalidInputError, MeshchatError, fromWireError, toWireError } from '../protocol/index.js'
import type { MeshClient, PingResult, SendResult, ConversationEntry } from './client.js'
import type { HistoryPage } from './history.js'
import type { UserInfo, WireError } from '../protocol/index.js'
import type { Server, Socket } from 'node:net'

/** Longest command line accepted on stdin or the control socket. */
export const MAX_COMMAND_BYTES = 128 * 1024
/** Connections the control socket serves at once. */
export const MAX_CONTROL_CONNECTIONS = 16

export const controlCommand = z.discriminatedUnion('cmd', [
  z.object({ cmd: z.literal('send'), to: z.string().max(64), text: z.string(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('users'), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('ping'), user: z.string().max(64).optional(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('conversations'), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('history'), target: z.string().max(64), limit: z.number().int().positive().max(1000).optional(), before: z.string().max(64).optional(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('unread'), target: z.string().max(64).optional(), id: z.unknown().optional() }),
  z.object({ cmd: z.literal('read'), target: z.string().max(64), message: z.string().max(64).optional(), id: z.unknown().optional() })
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
    close
  }
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
    throw new InvalidInputError(`invalid command${issue?.path.length ? ` at ${issue.path.join('.')}` : ''}: ${issue?.message ?? 'unknown shape'} (commands: send, users, ping, conversations, history, unread, read)`)
  }
  return parsed.data
}

export async function runCommand (client: MeshClient, line: string): Promise<CommandResult> {
  // the id of any JSON object, so that even a command the schema refuses gets a matchable answer
  const id = idOf(line)
  try {
    const cmd = parseCommand(line)
    const api = localDevice(client, async () => {})
    let result: unknown
    switch (cmd.cmd) {
      case 'send': result = await api.send(cmd.to, cmd.text); break
      case 'users': result = await api.users(); break
      case 'ping': result = await api.ping(cmd.user); break
      case 'conversations': result = await api.conversations(); break
      case 'history': result = await api.history(cmd.target, { ...(cmd.limit == null ? {} : { limit: cmd.limit }), ...(cmd.before == null ? {} : { before: cmd.before }) }); break
      case 'unread': result = await api.unread(cmd.target); break
      case 'read': result = await api.read(cmd.target, cmd.message); break
    }
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

/** Splits a byte stream into lines, refusing any line over MAX_COMMAND_BYTES. */
export function lineReader (onLine: (line: string) => void, onTooLong: () => void): (chunk: Buffer | string) => void {
  // a character cut between two chunks is joined again rather than turned into U+FFFD
  const decoder = new StringDecoder('utf8')
  let buf = ''
  // the rest of a line already refused as too long, up to its newline, is not a line of its own
  let skipping = false
  return chunk => {
    buf += typeof chunk === 'string' ? chunk : decoder.write(chunk)
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const raw = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (skipping) {
        skipping = false
        continue
      }
      // a long line may arrive whole in one chunk
      if (Buffer.byteLength(raw) > MAX_COMMAND_BYTES) {
        onTooLong()
        continue
      }
      const line = raw.trim()
      if (line !== '') onLine(line)
    }
    if (skipping) {
      buf = ''
    } else if (Buffer.byteLength(buf) > MAX_COMMAND_BYTES) {
      buf = ''
      skipping = true
      onTooLong()
    }
  }
}

/** Serves the control socket of a running device. */
export class ControlServer {
  private server?: Server
  private readonly sockets = new Set<Socket>()

  constructor (private readonly client: MeshClient, private readonly path: string) {}

  async start (): Promise<void> {
    // a socket file left by a process that died is stale: nobody answers on it
    if (await probe(this.path)) {
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
    socket.setTimeout(60_000, () => socket.destroy())
    socket.on('data', lineReader(line => {
      void runCommand(this.client, line).then(res => { if (!socket.destroyed) socket.write(`${JSON.stringify(res)}\n`) })
    }, () => {
      socket.end(`${JSON.stringify({ ok: false, error: { name: 'InvalidInputError', message: 'command too long' } })}\n`)
    }))
  }
}

/** True when a process answers on the socket at `path`. */
async function probe (path: string): Promise<boolean> {
  return await new Promise(resolve => {
    const s = createConnection(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

/**
 * Connects to the running device of a home, if one answers; undefined otherwise. Commands sent
 * through it run in that process, as if typed there.
 */
export async function connectControl (path: string, timeoutMs = 30_000): Promise<DeviceApi | undefined> {
  const socket = await new Promise<Socket | undefined>(resolve => {
    const s = createConnection(path)
    s.once('connect', () => { resolve(s) })
    s.once('error', () => { resolve(undefined) })
  })
  if (socket == null) return undefined
  let next = 0
  const pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  }
  socket.on('data', lineReader(line => {
    let res: CommandResult
    try { res = JSON.parse(line) as CommandResult } catch { return }
    const p = pending.get(res.id as number)
    if (p == null) return
    pending.delete(res.id as number)
    if (res.ok) p.resolve(res.result)
    else p.reject(fromWireError(res.error))
  }, () => { failAll(new MeshchatError('answer from the running device too long')) }))
  socket.on('close', () => { failAll(new MeshchatError('the running device closed the control connection')) })
  socket.on('error', () => {})
  const call = async (cmd: Record<string, unknown>): Promise<unknown> => await new Promise((resolve, reject) => {
    const id = next++
    const timer = setTimeout(() => { pending.delete(id); reject(new MeshchatError('the running device did not answer in time')) }, timeoutMs)
    pending.set(id, {
      resolve: v => { clearTimeout(timer); resolve(v) },
      reject: e => { clearTimeout(timer); reject(e) }
    })
    socket.write(`${JSON.stringify({ ...cmd, id })}\n`)
  })
  return {
    send: async (to, text) => await call({ cmd: 'send', to, text }) as SendResult,
    users: async () => await call({ cmd: 'users' }) as UserInfo[],
    ping: async user => await call({ cmd: 'ping', ...(user == null ? {} : { user }) }) as PingResult[],
    conversations: async () => await call({ cmd: 'conversations' }) as ConversationEntry[],
    history: async (target, options) => await call({ cmd: 'history', target, ...options }) as HistoryPage,
    unread: async target => await call({ cmd: 'unread', ...(target == null ? {} : { target }) }) as UnreadEntry[],
    read: async (target, message) => await call({ cmd: 'read', target, ...(message == null ? {} : { message }) }) as ReadResult,
    close: async () => { socket.destroy() }
  }
}
