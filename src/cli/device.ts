/**
 * A one-shot command's way to its device: through the running process's control socket when
 * one runs on this home, otherwise a short-lived client of its own (no presence session).
 */
import { connectControl, ControlServer, Home, MeshClient, localDevice } from '../client/index.js'
import type { DeviceApi } from '../client/index.js'
import type { GossipInit } from '../net/index.js'
import type { FilesInit } from '../client/index.js'

export interface DeviceOptions {
  home: string
  gossip?: GossipInit
  /**
   * Catch up with the rendezvous node's archive before answering (history, unread, …); when the
   * node is unreachable, answer from this device's own history with a warning on stderr.
   * `'strict'`: catch up, and fail when the node cannot be reached — for commands whose outcome
   * depends on what the other side did meanwhile (a chat request, its acceptance, a close).
   */
  catchUp?: boolean | 'strict'
  /** Limits of file transfers (issue 9). */
  files?: FilesInit
}

export async function openDevice (options: DeviceOptions): Promise<DeviceApi> {
  const home = new Home(options.home)
  const remote = await connectControl(home.controlPath)
  if (remote != null) return remote
  const client = new MeshClient({ home: options.home, session: false, listen: [], gossip: options.gossip, requireServer: options.catchUp !== true, ...(options.files == null ? {} : { files: options.files }) })
  await client.start()
  if (options.catchUp === 'strict') {
    try {
      await client.catchUp()
    } catch (err) {
      await client.stop()
      throw err
    }
  } else if (options.catchUp === true) {
    if (client.connectionState !== 'connected') {
      process.stderr.write('meshchat: the server is unreachable; showing what this device already has\n')
    } else {
      try {
        await client.catchUp()
      } catch (err) {
        process.stderr.write(`meshchat: could not catch up with the server (${(err as Error).message.split('\n')[0] ?? ''}); showing what this device already has\n`)
      }
    }
  }
  return localDevice(client, async () => { await client.stop() })
}

export async function withDevice<T> (options: DeviceOptions, fn: (api: DeviceApi) => Promise<T>): Promise<T> {
  const api = await openDevice(options)
  try {
    return await fn(api)
  } finally {
    await api.close()
  }
}

/**
 * Starts a long-running device (listen, the chat screen): it claims the home's control socket
 * first, since a second process with the same device key would steal the session, then starts
 * the client. Stop the returned control server when done.
 */
export async function startRunningDevice (client: MeshClient): Promise<ControlServer> {
  const control = new ControlServer(client, client.home.controlPath)
  await client.home.ensure()
  await control.start()
  try {
    await client.start()
  } catch (err) {
    await control.stop()
    throw err
  }
  return control
}
