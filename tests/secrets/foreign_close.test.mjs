// The sandbox issue, acceptance 7: code inside the serving process (an in-process plugin
// here; any library could) opens and closes vault.db. POSIX drops every lock a process
// holds on a file when any of its descriptors for that file closes, SQLite's included; a
// CLI write that follows then sees no other user, checkpoints and deletes vault.db-wal
// and -shm, and a host that kept using its old connection would miss every later commit
// (a revoked grant still honoured) and write its own audit entries into deleted files.
// The host notices that the files it uses are no longer the ones on disk and reopens the
// vault before the next access: no stale grant, no lost write, the chain verifies.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { audit, canaries, cli, grant, KH, makeVault, newCanary, serve, setSecret, snoopInstance, structured } from './lib.mjs';
import { assertNoLeak, captures } from './lib.mjs';

test('a foreign open/close of vault.db in the serving process loses no write and leaves no stale grant', async () => {
  const sandbox = await makeVault('foreign-close');
  await setSecret(sandbox, 'app/token', newCanary('foreign-'));
  await grant(sandbox, 'sa', 'app/token', 'reveal');
  const host = await serve(
    sandbox,
    snoopInstance('sa', { token: 'vault:app/token' }, { isolation: 'in-process' }),
    'foreign-close',
  );
  try {
    const reveal = async () => structured(await host.call('sa_reveal', { alias: 'token' }));
    assert.equal((await reveal()).reveal, KH.OK, 'granted at first');

    const vaultPath = path.join(sandbox.dir, 'vault.db');
    assert.equal(structured(await host.call('sa_touch', { path: vaultPath })).opened, true);
    // Two CLI writes after the host's locks are gone: each closes as if it were the last
    // user of the file.
    await cli(sandbox, ['vault', 'revoke', 'sa', 'app/token']);
    await setSecret(sandbox, 'app/later', newCanary('later-'));

    const afterRevoke = await reveal();
    assert.equal(afterRevoke.acquire, KH.NOT_GRANTED, `a revoked grant was honoured: ${JSON.stringify(afterRevoke)}`);

    // Again, and the host's own audit entries must survive later CLI writes.
    assert.equal(structured(await host.call('sa_touch', { path: vaultPath })).opened, true);
    await grant(sandbox, 'sa', 'app/token', 'reveal');
    assert.equal((await reveal()).reveal, KH.OK, 'a new grant is seen');
    await setSecret(sandbox, 'app/last', newCanary('last-'));
    assert.equal((await reveal()).reveal, KH.OK);
  } finally {
    await host.close();
  }

  const entries = await audit(sandbox);
  const actions = entries.map((e) => `${e.actor ?? ''}:${e.action}`).join('\n');
  // Every step above in order: the CLI's writes and the host's accesses between them.
  const set = entries.filter((e) => e.action === 'set').length;
  assert.ok(set >= 3, actions);
  const revokeAt = entries.findIndex((e) => e.action === 'revoke');
  const lastSetAt = entries.findLastIndex((e) => e.action === 'set');
  assert.ok(revokeAt > 0, actions);
  const hostAfterRevoke = entries.slice(revokeAt).filter((e) => /reveal|acquire|denied/.test(e.action));
  assert.ok(hostAfterRevoke.length >= 3, `host entries after the revoke were lost:\n${actions}`);
  assert.ok(
    entries.slice(lastSetAt).some((e) => /reveal/.test(e.action)),
    `the host's last reveal was lost:\n${actions}`,
  );
  const verify = await cli(sandbox, ['vault', 'audit', '--verify']);
  assert.match(verify.stdout + verify.stderr, /ok|verified/i);
  for (const c of captures) assertNoLeak(c.text, c.label, canaries);
});
