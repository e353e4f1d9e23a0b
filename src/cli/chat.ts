/** Opening the chat screen on this device: the client core, its control socket, the Ink app. */
import { MeshClient, ControlServer, logout } from '../client/index.js'
import type { GossipInit } from '../net/index.js'

export interface ChatOptions {
  home: string
  gossip?: GossipInit
  listen?: string[]
  peerDials?: number
}

export async function openChat (options: ChatOptions): Promise<void> {
  const client = new MeshClient({
    home: options.home,
    ...(options.listen == null ? {} : { listen: options.listen }),
    ...(options.peerDials == null ? {} : { peerDials: options.peerDials }),
    ...(options.gossip == null ? {} : { gossip: options.gossip })
  })
  // claim the home first, as listen does: one process per device identity
  const control = new ControlServer(client, client.home.controlPath)
  await client.home.ensure()
  await control.start()
  try {
    await client.start()
  } catch (err) {
    await control.stop()
    throw err
  }
  let loggedOut = false
  try {
    // Ink and React load only for the chat screen: one-shot commands start faster without them
    const { runChat } = await import('../ui/index.js')
    await runChat(client, {
      onLogout: async () => {
        await client.stop()
        await logout(options.home)
        loggedOut = true
      }
    })
  } finally {
    await control.stop()
    await client.stop()
  }
  if (loggedOut) process.stdout.write('logged out\n')
}
