/**
 * A one-shot command's way to its device: through the running process's control socket when
 * one runs on this home, otherwise a short-lived client of its own (no presence session).
 */
import { connectControl, Home, MeshClient } from '../client/index.js'
import type { DeviceApi } from '../client/index.js'
import type { GossipInit } from '../net/index.js'

export interface DeviceOptions {
  home: string
  gossip?: GossipInit
}

export async function openDevice (options: DeviceOptions): Promise<DeviceApi> {
  const home = new Home(options.home)
  const remote = await connectControl(home.controlPath)
  if (remote != null) return remote
  const client = new MeshClient({ home: options.home, session: false, listen: [], gossip: options.gossip })
  await client.start()
  return {
    send: async (to, text) => await client.send(to, text),
    users: async () => await client.users(),
    ping: async user => await client.ping(user),
    close: async () => { await client.stop() }
  }
}

export async function withDevice<T> (options: DeviceOptions, fn: (api: DeviceApi) => Promise<T>): Promise<T> {
  const api = await openDevice(options)
  try {
    return await fn(api)
  } finally {
    await api.close()
  }
}
