/** Opening the chat screen on this device: the client core, its control socket, the Ink app. */
import { MeshClient, logout } from '../client/index.js'
import { startRunningDevice } from './device.js'
import type { GossipInit } from '../net/index.js'
import type { FilesInit } from '../client/index.js'

export interface ChatOptions {
  home: string
  gossip?: GossipInit
  listen?: string[]
  peerDials?: number
  files?: FilesInit
}

export async function openChat (options: ChatOptions): Promise<void> {
  const client = new MeshClient({
    home: options.home,
    ...(options.listen == null ? {} : { listen: options.listen }),
    ...(options.peerDials == null ? {} : { peerDials: options.peerDials }),
    ...(options.gossip == null ? {} : { gossip: options.gossip }),
    ...(options.files == null ? {} : { files: options.files })
  })
  const control = await startRunningDevice(client)
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
