import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

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

  it('bin/meshchat runs a bundle without keepNames: no closure pays for a renamed `name`', async function () {
    const dir = join(process.cwd(), 'dist', 'bin')
    const files = readdirSync(dir).filter(f => f.endsWith('.js'))
    assert.ok(files.length > 1, `the bundle in ${dir}`)
    // esbuild's keepNames wraps every function in __name(fn, "…"), a defineProperty per closure made
    for (const f of files) assert.doesNotMatch(readFileSync(join(dir, f), 'utf8'), /\b__name\(/, f)
  })
})
