/** Assertions the specs share. */
import assert from 'node:assert/strict'

/** `p` rejects with an error of this name (and, when given, a message matching `message`). */
export async function rejectsNamed (p: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.equal(err.name, name, `${err.name}: ${err.message}`)
    if (message != null) assert.match(err.message, message)
    return true
  })
}
