// Issue 18, acceptance 4: keyhold killed with SIGKILL around a refresh, against a provider
// that rotates refresh tokens with reuse detection (oidc-provider). host/oauth/README.md,
// "Rotation and crashes", says: the new record is committed before the new access token is
// handed out; a crash after that commit loses nothing (the next host refreshes with the
// rotated refresh token); a crash between the provider's answer and the commit leaves the
// previous refresh token in the vault, which the provider then refuses as reused (and
// revokes the grant): the old access token is used until it expires, then calls fail with
// the re-login error, and `keyhold oauth login NAME` recovers, without a restart.
//
// The provider's hook (oidc_server.mjs hooks.onGrant) runs once it has issued and stored
// the rotated tokens and before its answer is written: the test kills keyhold there (the
// answer never reaches it: the crash window). For the other case it kills keyhold as soon
// as the call that caused the refresh is answered (keyhold hands the new token out only
// after the commit, so this is right after it, without a guessed delay).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';

import { sleep, tomlString } from '../e2e/helpers.mjs';
import { audit, capture, captures, findLeaks, grant, KH, makeVault, serve, snoopInstance, structured } from '../secrets/lib.mjs';
import { startLogin } from './login.mjs';
import { authorize, issued, latest, startProvider } from './oidc_server.mjs';

let op;
let sandbox;
let configPath;
let config;
const hmac = (key, message) => createHmac('sha256', key).update(message).digest('hex');

before(async () => {
  op = await startProvider({ accessTokenTtl: 40 });
  sandbox = await makeVault('oauth-crash');
  await grant(sandbox, 'app', 'oauth-token/crash', 'sign');
  // keyhold-short: 8 s access tokens. A margin longer than the lifetime: every use
  // refreshes, so each call below is exactly one refresh.
  const providers =
    `[oauth.crash]\nissuer = ${tomlString(op.issuer)}\nclient_id = "keyhold-short"\n` +
    `scopes = ["openid", "api:read"]\nrefresh_margin = "600s"\nlogin_timeout = "60s"\n\n`;
  configPath = sandbox.writeConfig(providers, 'oauth.toml');
  config = providers + snoopInstance('app', { token: 'oauth:crash' });
});

after(async () => {
  await op?.close();
  const values = [...issued.values()].flat();
  const leaks = captures.flatMap((c) => findLeaks(c.text, values).map((h) => `${c.label}: ${h.form}`));
  assert.deepEqual(leaks, [], 'a token reached an output');
  sandbox?.cleanup();
});

async function login() {
  const { url, redirect, done } = await startLogin(sandbox, configPath, 'crash');
  await fetch(await authorize(url, redirect));
  const result = await done;
  assert.equal(result.code, 0, result.stderr);
}

const sign = async (host) => structured(await host.call('app_sign', { alias: 'token', message: 'm' }));
const storedRefreshes = async () =>
  (await audit(sandbox)).filter((e) => e.action === 'oauth.refresh' && e.outcome === 'ok' && e.secret === 'oauth-token/crash')
    .length;

// Arms the hook for the next refresh: SIGKILL of host's keyhold before the provider's answer
// is written. Resolves when keyhold is gone.
function killAtNextRefresh(host) {
  const pid = host.transport.pid;
  assert.ok(pid > 0, 'the serving keyhold has a pid');
  return new Promise((resolve) => {
    op.hooks.onGrant = (type) => {
      if (type !== 'refresh_token') return;
      op.hooks.onGrant = null;
      process.kill(pid, 'SIGKILL');
      resolve();
    };
  });
}

// A call that dies with its host: the client sees the connection end.
async function callAndDie(host, killed) {
  const outcome = await Promise.race([
    sign(host).then(
      (r) => ({ answered: r }),
      (e) => ({ error: e }),
    ),
    killed.then(() => sleep(2000)).then(() => ({ timeout: true })),
  ]);
  await killed;
  await host.close().catch(() => {});
  return outcome;
}

test('killed after the refreshed record is committed: the next host refreshes with the rotated token', async () => {
  await login();
  const host = await serve(sandbox, config, 'crash-after-commit');
  const committedBefore = await storedRefreshes();
  const refreshesBefore = op.grants.refresh_token ?? 0;
  const answered = await sign(host); // one refresh, committed before the token came back
  assert.equal(answered.sign, KH.OK, JSON.stringify(answered));
  process.kill(host.transport.pid, 'SIGKILL');
  await host.close().catch(() => {});
  assert.equal(op.grants.refresh_token, refreshesBefore + 1, 'the provider answered one refresh');
  assert.equal(await storedRefreshes(), committedBefore + 1, 'the rotated record was committed before the kill');

  const next = await serve(sandbox, config, 'crash-after-commit-restart');
  try {
    const r = await sign(next);
    assert.equal(r.sign, KH.OK, JSON.stringify(r));
    assert.equal(op.grants.refresh_token, refreshesBefore + 2, 'the stored refresh token was accepted');
    assert.equal(r.mac, hmac(latest('AccessToken'), 'm'), 'the new host uses the newest access token');
  } finally {
    await next.close();
  }
  assert.doesNotMatch(captures.at(-1).text, /refresh failed/);
});

test('killed between the provider\'s answer and the commit: the documented re-login recovers', async () => {
  let host = await serve(sandbox, config, 'crash-before-commit-warmup');
  const warm = await sign(host); // a refresh stored: its access token lives 8 s from now
  assert.equal(warm.sign, KH.OK, JSON.stringify(warm));
  const storedAccess = latest('AccessToken');
  const storedAt = Date.now();
  const committedBefore = await storedRefreshes();
  const refreshesBefore = op.grants.refresh_token;
  await callAndDie(host, killAtNextRefresh(host));
  assert.equal(op.grants.refresh_token, refreshesBefore + 1, 'the provider issued a rotated refresh token');
  assert.equal(await storedRefreshes(), committedBefore, 'keyhold died before it committed the answer');

  host = await serve(sandbox, config, 'crash-before-commit-restart');
  try {
    // The vault still holds the refresh token the provider rotated away: refused as reused.
    const kept = await sign(host);
    assert.equal(kept.sign, KH.OK, JSON.stringify(kept));
    assert.equal(kept.mac, hmac(storedAccess, 'm'), 'the stored access token is used while it is valid');
    assert.equal(op.grants.refresh_token, refreshesBefore + 1, 'the reused refresh token was refused');
    await sleep(storedAt + 8500 - Date.now()); // past the stored access token's expiry
    const failed = await sign(host);
    assert.notEqual(failed.sign, KH.OK, 'an expired token is not handed out');
    let refused;
    for (let i = 0; i < 30 && !refused; i++) {
      // Audit entries are written in the background: wait for this one.
      refused = (await audit(sandbox)).filter((e) => e.action === 'handle.sign' && e.outcome === 'error').at(-1);
      if (!refused) await sleep(200);
    }
    assert.ok(refused, 'the failed use is audited');
    assert.match(refused.detail, /refresh token already used|invalid_grant/);
    assert.match(refused.detail, /run `keyhold oauth login crash`/);

    // The documented recovery: a new login; the running host notices it (no restart).
    await login();
    const back = await sign(host);
    assert.equal(back.sign, KH.OK, JSON.stringify(back));
    assert.equal(back.mac, hmac(latest('AccessToken'), 'm'), 'after the login the host uses the new tokens');
  } finally {
    await host.close();
  }
  capture('crash test: done', '');
});
