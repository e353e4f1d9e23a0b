/**
 * The chat screen in a real pseudo-terminal (tmux), against a real rendezvous node: what a person
 * sees and types. Skipped, visibly, where tmux is missing (.ci/run installs it).
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ProcessGroup, TerminalPane, assertOk, tmuxAvailable } from '../../src/testing/index.js'
import type { ServeProcess } from '../../src/testing/index.js'

const PASSWORD = 'correct horse battery'
const ENV = { MESHCHAT_IP_COLOCATION_WHITELIST: '127.0.0.1' }

describe('chat screen in a terminal', function () {
  // each test starts a node and runs several real processes one after another
  this.timeout(90_000)
  const group = new ProcessGroup()
  const panes: TerminalPane[] = []
  let server: ServeProcess

  before(function () {
    if (!tmuxAvailable()) {
      console.log('    (tmux is not installed: the terminal tests are skipped; .ci/run installs it)')
      this.skip()
    }
  })
  beforeEach(async () => {
    server = await group.startServe({ args: ['--heartbeat-ms', '500', '--registrations-per-second', '100'] })
  })
  afterEach(async () => {
    await Promise.all(panes.map(async p => { await p.stop() }))
    panes.length = 0
    await group.stopAll()
  })

  async function registered (user: string): Promise<string> {
    const home = await group.tempDir(`tui-${user}`)
    assertOk(await group.run(['register', '--home', home, '--server', server.address, '--user', user], { env: { ...ENV, MESHCHAT_PASSWORD: PASSWORD } }))
    return home
  }

  async function pane (args: string[], size = { columns: 80, rows: 24 }): Promise<TerminalPane> {
    const p = new TerminalPane(args, { ...size, env: ENV })
    panes.push(p)
    return await p.start()
  }

  it('two people chat: one types, the other sees it, and the first then sees it read', async () => {
    const [aliceHome, bobHome] = await Promise.all([registered('alice'), registered('bob')])
    // a direct chat needs an accepted request first (issue 8)
    assertOk(await group.run(['request', '--home', bobHome, 'alice'], { env: ENV }))
    assertOk(await group.run(['accept', '--home', aliceHome, 'bob'], { env: ENV }))
    assertOk(await group.run(['send', '--home', bobHome, 'alice', 'hi alice, zażółć gęślą jaźń, привет'], { env: ENV }))
    const alice = await pane(['--home', aliceHome])
    const bob = await pane(['--home', bobHome])
    // alice sees bob's message arrive in the list (it came while she was away), and opens it
    await alice.waitFor(s => s.includes('connected as alice') && /● bob +1/.test(s), 'bob with one unread message in alice\'s list')
    await alice.ready(' › ')
    await alice.type('/msg bob')
    await alice.press('Enter')
    await alice.waitFor(s => s.includes('hi alice, zażółć gęślą jaźń, привет') && s.includes('bob › '), 'alice has bob\'s chat open')
    await alice.waitFor(s => !/● bob +1/.test(s), 'opening it marked it read')
    // bob opens his chat with alice with the keys
    await bob.waitFor(s => s.includes('connected as bob') && s.includes('alice'), 'bob\'s screen')
    await bob.ready(' › ')
    for (let i = 0; i < 3 && !(await bob.screen()).includes('alice › '); i++) {
      await bob.press('C-n')
      await bob.waitFor(() => true, 'a redraw', 100).catch(() => {})
    }
    await bob.waitFor(s => s.includes('alice › '), 'bob has alice\'s chat open')
    await alice.type('hello bob from the terminal')
    await alice.press('Enter')
    await bob.waitFor(s => s.includes('hello bob from the terminal'), 'bob sees alice\'s message')
    // bob's screen shows the chat, so the message is read; alice sees the mark
    await alice.waitFor(s => s.includes('hello bob from the terminal') && s.includes('read'), 'alice sees it read')
    const screen = await alice.screen()
    for (const line of screen.split('\n')) assert.ok([...line].length <= 80, `line wider than the terminal: ${line}`)
  })

  it('a chat request: bob sees it arrive, accepts it with a key, and then alice\'s messages reach him', async () => {
    const [aliceHome, bobHome] = await Promise.all([registered('alice'), registered('bob')])
    const bob = await pane(['--home', bobHome])
    await bob.waitFor(s => s.includes('connected as bob'), 'bob\'s screen')
    await bob.ready(' › ')
    // before a request, alice cannot write to bob
    const refused = await group.run(['send', '--home', aliceHome, 'bob', 'too early'], { env: ENV })
    assert.equal(refused.code, 12, `a message before the request is refused (ChatNotAcceptedError): ${refused.stderr}`)
    assertOk(await group.run(['request', '--home', aliceHome, 'bob', 'hello'], { env: ENV }))
    await bob.waitFor(s => s.includes('Requests') && /» alice/.test(s) && s.includes('hello'), 'the request in bob\'s list')
    // to the list (the composer loses its cursor), onto the request, and a accepts it
    await bob.press('Escape')
    await bob.waitFor(s => s.includes('#global › type a message'), 'the list has the keys')
    await bob.press('Up')
    await bob.waitFor(s => s.includes('alice › alice asks to chat'), 'the request under the cursor, and how to answer it')
    await bob.press('a')
    await bob.waitFor(s => !s.includes('Requests') && s.includes('you and alice can chat now'), 'the request accepted')
    assert.ok(!(await bob.screen()).includes('alice › a'), 'the a was an answer, not a letter typed')
    assertOk(await group.run(['send', '--home', aliceHome, 'bob', 'glad you said yes'], { env: ENV }))
    await bob.waitFor(s => s.includes('glad you said yes') && s.includes('alice › '), 'bob sees alice\'s message in the open chat')
    const screen = await bob.screen()
    for (const line of screen.split('\n')) assert.ok([...line].length <= 80, `line wider than the terminal: ${line}`)
  })

  it('files: alice types /send, bob sees the offer, types /get, and the card says done; the bytes are equal', async () => {
    const [aliceHome, bobHome] = await Promise.all([registered('alice'), registered('bob')])
    assertOk(await group.run(['request', '--home', bobHome, 'alice'], { env: ENV }))
    assertOk(await group.run(['accept', '--home', aliceHome, 'bob'], { env: ENV }))
    // three chunks (1 MiB each), and a name with a space: the path is quoted as typed
    const dir = await group.tempDir('tui-files')
    const path = join(dir, 'field notes.bin')
    const bytes = randomBytes(2 * 1024 * 1024 + 12_345)
    await writeFile(path, bytes)
    const alice = await pane(['--home', aliceHome])
    const bob = await pane(['--home', bobHome])
    await alice.waitFor(s => s.includes('connected as alice'), 'alice\'s screen')
    await alice.ready(' › ')
    await alice.type('/msg bob')
    await alice.press('Enter')
    await alice.waitFor(s => s.includes('bob › '), 'alice has bob\'s chat open')
    await alice.type(`/send "${path}"`)
    await alice.waitFor(s => s.includes('notes.bin"'), 'the command typed')
    await alice.press('Enter')
    // hashed and offered in the background: the card is alice's, and the composer is free
    await alice.waitFor(s => s.includes('📎 field notes.bin') && s.includes('offered field notes.bin to bob'), 'alice\'s offer', 30_000)
    await bob.waitFor(s => s.includes('connected as bob'), 'bob\'s screen')
    await bob.ready(' › ')
    await bob.type('/msg alice')
    await bob.press('Enter')
    await bob.waitFor(s => s.includes('alice › ') && s.includes('📎 field notes.bin') && s.includes('/get to fetch it'), 'the offer in bob\'s chat with alice', 30_000)
    await bob.type('/get')
    await bob.press('Enter')
    const done = await bob.waitFor(s => s.includes('✓ done'), 'the card says done', 60_000)
    assert.ok(!done.includes('failed'), done)
    const got = await readFile(join(bobHome, 'files', 'field notes.bin'))
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(bytes).digest('hex'))
    assert.equal(got.length, bytes.length)
    for (const line of done.split('\n')) assert.ok([...line].length <= 80, `line wider than the terminal: ${line}`)
  })

  it('shows help, the users list and a one-line error for an unknown command', async () => {
    const home = await registered('carol')
    const carol = await pane(['--home', home], { columns: 100, rows: 30 })
    await carol.waitFor(s => s.includes('connected as carol'), 'the chat screen')
    await carol.ready(' › ')
    await carol.type('/help')
    await carol.press('Enter')
    await carol.waitFor(s => s.includes('/msg <user> [text]') && s.includes('PageUp'), 'the help')
    await carol.press('Escape')
    await carol.waitFor(s => !s.includes('/msg <user> [text]'), 'the help closed')
    await carol.type('/users')
    await carol.press('Enter')
    await carol.waitFor(s => s.includes('Users (1 online)') && s.includes('carol (you)'), 'the users list')
    await carol.press('Escape')
    await carol.waitFor(s => !s.includes('Users (1 online)'), 'the users list closed')
    await carol.type('/frobnicate')
    await carol.press('Enter')
    await carol.waitFor(s => s.includes('unknown command /frobnicate'), 'the error on the status line')
    await carol.type('/quit')
    await carol.press('Enter')
    await carol.waitFor(s => s.includes('[exited 0]'), 'a clean exit')
  })

  it('logs in through the form, then opens the chat screen', async () => {
    await registered('dave')
    const home = await group.tempDir('tui-dave-2')
    const dave = await pane(['login', '--home', home])
    await dave.waitFor(s => s.includes('meshchat — log in') && s.includes('Server'), 'the login form')
    await dave.ready('Server    ')
    // like a person: look at the screen before typing into the next field
    await dave.type(server.address)
    await dave.press('Enter')
    await dave.waitFor(s => s.includes('› Username'), 'the username field')
    // like a person, look that the text landed before pressing Enter
    await dave.type('dave')
    await dave.waitFor(s => /› Username +dave/.test(s), 'the username typed')
    await dave.press('Enter')
    await dave.waitFor(s => s.includes('› Password'), 'the password field')
    await dave.type('wrong password!')
    await dave.waitFor(s => s.includes('•'.repeat('wrong password!'.length)), 'the password typed (masked)')
    await dave.press('Enter')
    await dave.waitFor(s => s.includes('wrong password for "dave"'), 'the error under the form')
    assert.ok(!(await dave.screen()).includes('wrong password!'), 'the password is never shown')
    await dave.type(PASSWORD)
    await dave.press('Enter')
    await dave.waitFor(s => s.includes('connected as dave'), 'the chat screen after login')
  })
})
