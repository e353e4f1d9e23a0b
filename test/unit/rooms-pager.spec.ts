import assert from 'node:assert/strict'
import { listRoomPages } from '../../src/client/rooms.js'
import { MAX_ROOMS_LISTED } from '../../src/protocol/index.js'
import type { PeopleRequest, PeopleResponse, RoomInfo } from '../../src/protocol/index.js'

type Answer = Extract<PeopleResponse, { ok: true }>

const cert = (): PeopleRequest['cert'] => ({}) as unknown as PeopleRequest['cert']

function room (name: string): RoomInfo {
  return { room: name, private: false, owner: name === 'global' ? null : 'alice', createdAt: 0, members: 1, joined: true, list: null }
}

/** A fake node: answers each `rooms` request with `answer(after)`, and records the `after` of each. */
function fakeNode (answer: (after: string | undefined, call: number) => Answer): { ask: (req: PeopleRequest) => Promise<Answer>, asked: Array<string | undefined> } {
  const asked: Array<string | undefined> = []
  return {
    asked,
    ask: async req => {
      assert.equal(req.op, 'rooms')
      const after = req.op === 'rooms' ? req.after : undefined
      asked.push(after)
      return answer(after, asked.length)
    }
  }
}

describe('client rooms pager (listRoomPages)', () => {
  it('asks page after page, each after the last room of the one before, until no more are left', async () => {
    const pages: Record<string, Answer> = {
      '': { ok: true, rooms: [room('global'), room('alpha')], more: true },
      alpha: { ok: true, rooms: [room('bravo')], more: true },
      bravo: { ok: true, rooms: [room('delta'), room('echo')], more: false }
    }
    const node = fakeNode(after => pages[after ?? '']!)
    const rooms = await listRoomPages(node.ask, cert)
    assert.deepEqual(rooms.map(r => r.room), ['global', 'alpha', 'bravo', 'delta', 'echo'])
    assert.deepEqual(node.asked, [undefined, 'alpha', 'bravo'])
  })

  it('takes one answer without `more` (an older node) as the whole list', async () => {
    const node = fakeNode(() => ({ ok: true, rooms: [room('global'), room('ops')] }))
    assert.deepEqual((await listRoomPages(node.ask, cert)).map(r => r.room), ['global', 'ops'])
    assert.equal(node.asked.length, 1)
  })

  it('a page after #global alone asks for the rooms after "global"', async () => {
    const node = fakeNode(after => after == null ? { ok: true, rooms: [room('global')], more: true } : { ok: true, rooms: [room('alpha')], more: false })
    assert.deepEqual((await listRoomPages(node.ask, cert)).map(r => r.room), ['global', 'alpha'])
    assert.deepEqual(node.asked, [undefined, 'global'])
  })

  it('refuses a node that answers the same page again', async () => {
    const node = fakeNode(() => ({ ok: true, rooms: [room('global'), room('alpha')], more: true }))
    await assert.rejects(listRoomPages(node.ask, cert), { name: 'InvalidMessageError' })
    assert.equal(node.asked.length, 2)
  })

  it('refuses an empty page that promises more', async () => {
    const node = fakeNode(after => after == null ? { ok: true, rooms: [room('global')], more: true } : { ok: true, rooms: [], more: true })
    await assert.rejects(listRoomPages(node.ask, cert), { name: 'InvalidMessageError' })
    assert.equal(node.asked.length, 2)
    const empty = fakeNode(() => ({ ok: true, rooms: [], more: true }))
    await assert.rejects(listRoomPages(empty.ask, cert), { name: 'InvalidMessageError' })
    assert.equal(empty.asked.length, 1)
  })

  it('refuses rooms out of order, or listed twice, within a page or across pages', async () => {
    const back = fakeNode(after => after == null ? { ok: true, rooms: [room('global'), room('mike')], more: true } : { ok: true, rooms: [room('alpha'), room('zulu')], more: false })
    await assert.rejects(listRoomPages(back.ask, cert), { name: 'InvalidMessageError' })
    const twice = fakeNode(() => ({ ok: true, rooms: [room('global'), room('alpha'), room('alpha')] }))
    await assert.rejects(listRoomPages(twice.ask, cert), { name: 'InvalidMessageError' })
    const globalAgain = fakeNode(after => after == null ? { ok: true, rooms: [room('global'), room('alpha')], more: true } : { ok: true, rooms: [room('global')], more: false })
    await assert.rejects(listRoomPages(globalAgain.ask, cert), { name: 'InvalidMessageError' })
  })

  it('stops asking a node that keeps sending new rooms, after MAX_ROOMS_LISTED of them', async () => {
    const node = fakeNode((_after, call) => ({ ok: true, rooms: [room(`r${String(call).padStart(6, '0')}`)], more: true }))
    await assert.rejects(listRoomPages(node.ask, cert), { name: 'InvalidMessageError' })
    assert.ok(node.asked.length <= MAX_ROOMS_LISTED + 1, `asked ${node.asked.length} pages`)
  })

  it('takes an answer that is no room list as no rooms on the first page, and as an error later', async () => {
    const none = fakeNode(() => ({ ok: true }))
    assert.deepEqual(await listRoomPages(none.ask, cert), [])
    const later = fakeNode(after => after == null ? { ok: true, rooms: [room('global')], more: true } : { ok: true })
    await assert.rejects(listRoomPages(later.ask, cert), { name: 'InvalidMessageError' })
  })
})
