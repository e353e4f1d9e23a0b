import assert from 'node:assert/strict'

describe('the package entry points', () => {
  it('`meshchat` gives the client core, the rendezvous node and the protocol; `meshchat/testing` the harness', async () => {
    // by the package's own name, as a user's code imports it (package.json "exports", the built files)
    const lib = await import('meshchat') as Record<string, unknown>
    assert.equal(typeof lib.MeshClient, 'function')
    assert.equal(typeof lib.RendezvousNode, 'function')
    assert.equal(typeof (lib.protocol as Record<string, unknown>).MeshchatError, 'function')
    const testing = await import('meshchat/testing') as Record<string, unknown>
    assert.equal(typeof testing.Harness, 'function')
  })
})
