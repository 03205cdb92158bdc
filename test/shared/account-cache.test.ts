import t from 'tap'
import { ChatError } from '../../shared/errors.ts'
import { startTestNode } from '../helpers/node.ts'

/** The error code `promise` rejects with, or 'resolved'. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return 'resolved'
  } catch (err) {
    return err instanceof ChatError ? err.code : String(err)
  }
}

t.test('an enabled account is remembered for ACCOUNT_CACHE_TTL_MS, and forgotten when told', async (t) => {
  const app = await startTestNode(t, { ACCOUNT_CACHE_TTL_MS: '60000' })
  const { accounts } = app.node.services
  const { db } = app.node.database
  const disable = (id: string, disabled: boolean) => db.updateTable('users').set({ disabled }).where('id', '=', id).execute()
  const [alice, bob] = [await app.user('alice'), await app.user('bob')]

  t.equal(await outcome(accounts.assertActive(alice.id)), 'resolved', 'alice is active')
  await disable(alice.id, true)
  t.equal(await outcome(accounts.assertActive(alice.id)), 'resolved', 'disabled behind mqchat\'s back: still remembered as active')
  accounts.forget(alice.id)
  t.equal(await outcome(accounts.assertActive(alice.id)), 'unauthenticated', 'once forgotten, the account is read again: refused')
  await disable(alice.id, false)

  // A read that started before a disable was announced may have seen the account enabled: it must not be remembered.
  const reading = accounts.assertActive(bob.id)
  accounts.forget(bob.id)
  t.equal(await outcome(reading), 'resolved', 'the overlapping read itself answers what it read')
  await disable(bob.id, true)
  t.equal(await outcome(accounts.assertActive(bob.id)), 'unauthenticated', 'but was not remembered: the next check reads the account')
})
