/** The text the people and room commands print (issue 8): pure functions of the client's objects. */
import assert from 'node:assert/strict'
import { describeChat, requestLines } from '../../src/cli/commands/requests.js'
import { contactLines } from '../../src/cli/commands/contacts.js'
import { profileLines } from '../../src/cli/commands/profile.js'
import { roomLines, memberLines } from '../../src/cli/commands/rooms.js'

const NOW = 1_800_000_000_000

describe('cli people and rooms text', function () {
  it('describeChat: each state, from this account\'s side, with what to do', function () {
    const chat = { user: 'bob', conv: 'dm:alice:bob' }
    assert.equal(describeChat({ ...chat, state: 'none', by: null, at: null }), 'no chat with bob')
    assert.equal(describeChat({ ...chat, state: 'pending', by: 'alice', at: NOW }), 'asked bob to chat; they see a request until they accept it')
    assert.equal(describeChat({ ...chat, state: 'pending', by: 'bob', at: NOW, text: 'hi\n\u001b[2Jthere' }), 'bob asks to chat: hi ?[2Jthere (meshchat accept bob | decline bob)')
    assert.equal(describeChat({ ...chat, state: 'accepted', by: 'bob', at: NOW }), 'you and bob can chat')
    assert.equal(describeChat({ ...chat, state: 'declined', by: 'bob', at: NOW }), 'bob declined your chat request')
    assert.equal(describeChat({ ...chat, state: 'declined', by: 'alice', at: NOW }), 'declined bob\'s chat request')
    assert.match(describeChat({ ...chat, state: 'closed', by: 'bob', at: NOW }), /^bob closed the chat; neither of you can write/)
    assert.match(describeChat({ ...chat, state: 'closed', by: 'alice', at: NOW }), /^closed the chat with bob; neither of you can write/)
  })

  it('requestLines: aligned columns, text on one line', function () {
    const lines = requestLines([
      { user: 'carolyn', direction: 'incoming', text: 'hello\nthere', at: NOW - 2_000 },
      { user: 'bob', direction: 'outgoing', at: NOW - 180_000 }
    ], NOW)
    assert.deepEqual(lines, [
      'incoming  carolyn  2 s ago    hello there',
      'outgoing  bob      3 min ago'
    ])
  })

  it('contactLines: presence mark, name column only when someone has a name', function () {
    const base = { lastSeen: null, status: '', addedAt: NOW }
    assert.deepEqual(contactLines([
      { ...base, user: 'bob', online: true, name: 'Bob Builder', status: 'can we fix it' },
      { ...base, user: 'carolyn', online: false, name: '', lastSeen: NOW - 60_000 },
      { ...base, user: 'dave', online: null, name: '' }
    ], NOW), [
      '● bob      Bob Builder  online               can we fix it',
      '○ carolyn               last seen 1 min ago',
      '? dave                  presence unknown'
    ])
    assert.deepEqual(contactLines([{ ...base, user: 'bob', online: true, name: '' }], NOW), ['● bob  online'])
  })

  it('profileLines: one field a line, the about text indented under itself', function () {
    assert.deepEqual(profileLines({ user: 'bob', name: 'Bob', status: '', about: 'one\ntwo', updatedAt: NOW - 7_200_000 }, NOW), [
      'user     bob',
      'name     Bob',
      'status',
      'about    one\n         two',
      'updated  2 h ago'
    ])
    assert.equal(profileLines({ user: 'bob', name: '', status: '', about: '', updatedAt: null }, NOW).at(-1), 'updated  never')
  })

  it('roomLines and memberLines: aligned columns', function () {
    const room = { createdAt: NOW, list: null }
    assert.deepEqual(roomLines([
      { ...room, room: 'global', private: false, owner: null, members: 12, joined: true },
      { ...room, room: 'secret', private: true, owner: 'alice', members: 1, joined: false }
    ]), [
      '#global  public   12 members  joined',
      '#secret  private   1 member   not joined  owner alice'
    ])
    assert.deepEqual(memberLines([
      { user: 'alice', online: false, owner: true },
      { user: 'bob', online: true, owner: false }
    ]), [
      '○ alice  offline  owner',
      '● bob    online'
    ])
  })
})
