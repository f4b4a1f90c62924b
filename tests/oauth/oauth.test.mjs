// Issue 18: keyhold as an OAuth 2.1 client of a real authorization server (oidc-provider,
// see oidc_server.mjs), end to end: `keyhold oauth login` (authorization code + PKCE,
// loopback redirect) driven by a headless user agent, tokens in the vault and never on any
// output, `oauth status`, a plugin granted `oauth:NAME` getting the current access token
// (never the refresh token) while the host refreshes it before it expires, forged state
// and mixed-up issuer refused, client credentials, and `oauth logout` revoking at the
// provider. Every captured output is swept for every token the provider issued.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';

import { sleep, tomlString } from '../e2e/helpers.mjs';
import { capture, captures, cli, findLeaks, grant, KH, makeVault, serve, setSecret, SNOOP_ENV_COMMANDS, snoopInstance, structured } from '../secrets/lib.mjs';
import { startLogin as startLoginIn } from './login.mjs';
import { all, authorize, forget, issued, latest, startProvider, stillStored } from './oidc_server.mjs';

let op;
let sandbox;
let configPath;
let providers; // the [oauth.*] tables, also in every served config
const TTL = 40; // access token lifetime at the provider
const MARGIN = 34; // keyhold refreshes this long before expiry: from 6 s after issue

before(async () => {
  op = await startProvider({ accessTokenTtl: TTL });
  sandbox = await makeVault('oauth');
  await setSecret(sandbox, 'oauth/service-client-secret', op.serviceSecret);
  await grant(sandbox, 'app', 'oauth-token/local', 'reveal,sign,env');
  await grant(sandbox, 'short', 'oauth-token/short', 'sign');
  providers =
    `[oauth.local]\nissuer = ${tomlString(op.issuer)}\nclient_id = "keyhold-native"\n` +
    `scopes = ["openid", "offline_access", "api:read"]\nrefresh_margin = "${MARGIN}s"\nlogin_timeout = "60s"\n\n` +
    `[oauth.service]\nissuer = ${tomlString(op.issuer)}\nclient_id = "keyhold-service"\n` +
    `client_secret = "vault:oauth/service-client-secret"\nscopes = ["api:read"]\n\n` +
    `[oauth.short]\nissuer = ${tomlString(op.issuer)}\nclient_id = "keyhold-short"\n` +
    `scopes = ["openid", "api:read"]\nrefresh_margin = "3s"\nlogin_timeout = "60s"\n\n`;
  configPath = sandbox.writeConfig(providers, 'oauth.toml');
});

after(async () => {
  await op?.close();
  // The sweep: no token, code or client secret the provider knows of reached any output.
  const values = [...issued.values()].flat().concat([op.serviceSecret]);
  assert.ok(values.length > 5, 'the provider issued tokens');
  const leaks = captures.flatMap((c) => findLeaks(c.text, values).map((h) => `${c.label}: ${h.form}`));
  assert.deepEqual(leaks, [], 'a token reached an output');
  sandbox?.cleanup();
});

const oauthCli = (args, options) => cli(sandbox, ['oauth', '--config', configPath, ...args], options);

// Starts `keyhold oauth login NAME [extra]`; resolves once it printed the authorization URL.
const startLogin = (name, extra = []) => startLoginIn(sandbox, configPath, name, extra);

const hmac = (key, message) => createHmac('sha256', key).update(message).digest('hex');

test('login with code + PKCE stores the tokens in the vault, never prints them', async () => {
  const { url, redirect, done } = await startLogin('local');
  const params = new URL(url).searchParams;
  assert.equal(params.get('code_challenge_method'), 'S256');
  assert.match(params.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
  assert.match(redirect, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  const callback = await authorize(url, redirect);
  assert.equal(new URL(callback).searchParams.get('iss'), op.issuer, 'the provider sends iss (RFC 9207)');
  const page = await fetch(callback);
  assert.equal(page.status, 200);
  const result = await done;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /tokens stored in the vault as oauth-token\/local/);

  const list = await cli(sandbox, ['vault', 'list']);
  assert.match(list.stdout, /oauth-token\/local/);
  const status = JSON.parse((await oauthCli(['status', '--json'])).stdout);
  const local = status.find((s) => s.provider === 'local');
  assert.equal(local.state, 'valid');
  assert.equal(local.scopes.split(' ').includes('api:read'), true, JSON.stringify(local));
  assert.ok(local.expires_in > 0 && local.expires_in <= TTL, JSON.stringify(local));
  assert.equal(local.refresh_token, true);
  assert.equal(local.subject, 'alice');
  assert.equal(local.issuer, op.issuer);
  const text = (await oauthCli(['status'])).stdout;
  assert.match(text, /scopes:\s+openid\b.*api:read/);
  assert.match(text, /expires in \(s\):\s+\d+/);
  const audit = JSON.parse((await cli(sandbox, ['vault', 'audit', '--json'])).stdout);
  assert.ok(audit.some((e) => e.action === 'oauth.login' && e.secret === 'oauth-token/local'), 'the login is audited');
});

test('a forged state or a mixed-up issuer in the redirect is refused', async () => {
  for (const [param, value, why] of [
    ['state', 'forged-state', /state does not match/],
    ['iss', 'https://evil.example', /issuer 'https:\/\/evil.example'/],
  ]) {
    const before = latest('AccessToken');
    const { url, redirect, done } = await startLogin('local');
    const callback = new URL(await authorize(url, redirect));
    callback.searchParams.set(param, value);
    const page = await fetch(callback);
    assert.equal(page.status, 400);
    const result = await done;
    assert.equal(result.code, 8, `${param}: ${result.stderr}`);
    assert.match(result.stderr, why);
    assert.ok(latest('AccessToken') === before, `${param}: the code was not exchanged`);
  }
});

// The snoop commands, and its `rev` mode: a child that prints the value reversed, past the
// redactor, which is how this test can see which token the child got.
const REV = ['sh', '-c', `printf '%s\\n' "$MCP_AUTH_TOKEN" | rev`];
const APP = snoopInstance('app', { token: { source: 'oauth:local', env_commands: [...SNOOP_ENV_COMMANDS, REV] } });

test('a plugin granted oauth:local gets the current access token, refreshed before expiry', async () => {
  const host = await serve(sandbox, providers + APP, 'oauth-serve');
  try {
    const sign = async () => structured(await host.call('app_sign', { alias: 'token', message: 'm' }));
    const first = await sign();
    assert.equal(first.sign, KH.OK, JSON.stringify(first));
    const access1 = latest('AccessToken');
    assert.equal(first.mac, hmac(access1, 'm'), 'the plugin holds the latest access token');
    for (const refresh of all('RefreshToken'))
      assert.notEqual(first.mac, hmac(refresh, 'm'), 'the plugin never gets a refresh token');
    const revealed = structured(await host.call('app_reveal', { alias: 'token' }));
    assert.equal(revealed.reveal, KH.OK);
    assert.equal(revealed.length, access1.length);
    // assert.ok with a message: a failure must not print the value it compared.
    assert.ok(revealed.value === '[REDACTED:token]', 'the redactor knows the access token');

    const refreshesBefore = op.grants.refresh_token ?? 0;
    const refreshTokenBefore = latest('RefreshToken');
    await sleep(7000); // past issue + (TTL - MARGIN): the next use refreshes first
    // Ten calls at once: one refresh, and every call gets the new token.
    const burst = await Promise.all(Array.from({ length: 10 }, () => sign()));
    const second = burst[0];
    const access2 = latest('AccessToken');
    assert.ok(access2 !== access1, 'a new access token was issued');
    for (const r of burst) assert.equal(r.mac, hmac(access2, 'm'), 'the next calls see the refreshed token');
    assert.equal(op.grants.refresh_token, refreshesBefore + 1, 'exactly one refresh for ten concurrent calls');
    assert.ok(latest('RefreshToken') !== refreshTokenBefore, 'the refresh token was rotated');
    const third = await sign();
    assert.equal(third.mac, second.mac, 'a fresh token is not refreshed again');
    assert.equal(op.grants.refresh_token, refreshesBefore + 1);
    const again = structured(await host.call('app_reveal', { alias: 'token' }));
    assert.ok(again.value === '[REDACTED:token]', 'the redactor knows the refreshed token');
    // env: a child started with the alias in its environment gets the current token.
    const env = structured(await host.call('app_env', { alias: 'token' }));
    assert.equal(env.spawn, KH.OK, JSON.stringify(env));
    assert.ok(env.stdout.startsWith('got [REDACTED:token]'), 'the redactor knows it in child output');
    const rev = structured(await host.call('app_env', { alias: 'token', mode: 'rev' }));
    assert.equal(rev.spawn, KH.OK, JSON.stringify(rev));
    assert.ok(rev.stdout.trim() === [...access2].reverse().join(''), 'the child got the current token');
  } finally {
    await host.close();
  }
  const status = JSON.parse((await oauthCli(['status', '--json'])).stdout).find((s) => s.provider === 'local');
  assert.notEqual(status.last_refresh, null, 'the refresh was stored');
  const audit = JSON.parse((await cli(sandbox, ['vault', 'audit', '--json'])).stdout);
  assert.ok(audit.some((e) => e.action === 'oauth.refresh' && e.actor === 'host:serve'), 'the refresh is audited');

  // The rotated refresh token the vault kept still works: a new host refreshes with it.
  await sleep(1000);
  const host2 = await serve(sandbox, providers + APP, 'oauth-serve-2');
  try {
    const before = op.grants.refresh_token;
    await sleep(6500);
    const r = structured(await host2.call('app_sign', { alias: 'token', message: 'm' }));
    assert.equal(r.sign, KH.OK, JSON.stringify(r));
    assert.equal(op.grants.refresh_token, before + 1);
    assert.equal(r.mac, hmac(latest('AccessToken'), 'm'));
  } finally {
    await host2.close();
  }
});

test('a refresh token revoked at the provider: the old token until it expires, then a re-login error', async () => {
  const { url, redirect, done } = await startLogin('short');
  await fetch(await authorize(url, redirect));
  assert.equal((await done).code, 0);
  const loginAt = Date.now();
  const access = latest('AccessToken');
  forget('RefreshToken', latest('RefreshToken')); // the provider's administrator revokes it
  const host = await serve(sandbox, providers + snoopInstance('short', { token: 'oauth:short' }), 'oauth-short');
  try {
    const sign = async () => structured(await host.call('short_sign', { alias: 'token', message: 'm' }));
    assert.equal((await sign()).mac, hmac(access, 'm'));
    await sleep(loginAt + 5600 - Date.now()); // inside the margin (8 s lifetime, 3 s margin)
    const kept = await sign(); // the refresh fails
    assert.equal(kept.sign, KH.OK, JSON.stringify(kept));
    assert.equal(kept.mac, hmac(access, 'm'), 'the old token is used while it is valid');
    await sleep(loginAt + 9500 - Date.now()); // past its expiry
    const failed = await sign();
    assert.notEqual(failed.sign, KH.OK, 'an expired token is not handed out');
  } finally {
    await host.close();
  }
  assert.match(captures.at(-1).text, /oauth provider 'short': refresh failed: .*invalid_grant/);
  const audit = JSON.parse((await cli(sandbox, ['vault', 'audit', '--json'])).stdout);
  assert.ok(audit.some((e) => e.action === 'oauth.refresh' && e.outcome === 'error' && e.secret === 'oauth-token/short'));
  const last = audit.filter((e) => e.action === 'handle.sign' && e.outcome === 'error').at(-1);
  assert.match(last.detail, /expired and the refresh failed .*run `keyhold oauth login short`/);
  const status = JSON.parse((await oauthCli(['status', '--json'])).stdout).find((s) => s.provider === 'short');
  assert.ok(status.refresh_failures >= 1, JSON.stringify(status));
  assert.equal(status.state, 'expired');
});

test('vault: mappings cannot name a token record', async () => {
  const host = await serve(sandbox, providers + snoopInstance('bad', { token: 'vault:oauth-token/local' }), 'oauth-bad-mapping');
  const tools = await host.client.listTools();
  assert.equal(tools.tools.some((t) => t.name.startsWith('bad_')), false, 'the instance did not load');
  await host.close();
  assert.match(captures.at(-1).text, /hold OAuth token records; map .{0,2}oauth:local/);
});

test('client credentials with a client secret from the vault', async () => {
  const r = await oauthCli(['client-credentials', 'service']);
  assert.match(r.stdout, /oauth-token\/service/);
  assert.ok(latest('ClientCredentials'), 'the provider issued a client credentials token');
  const status = JSON.parse((await oauthCli(['status', '--json'])).stdout).find((s) => s.provider === 'service');
  assert.equal(status.grant, 'client_credentials');
  assert.equal(status.scopes, 'api:read');
  assert.equal(status.refresh_token, false);
});

test('login --device: the device authorization grant (RFC 8628)', async () => {
  const before = latest('AccessToken');
  const { url, done } = await startLogin('local', ['--device']);
  assert.match(url, /\/device\?user_code=/);
  const page = await authorize(url, undefined);
  assert.match(page, /Sign-in Success|success/i);
  const result = await done;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /tokens stored in the vault as oauth-token\/local/);
  assert.ok(latest('AccessToken') !== before, 'the device grant issued a token');
  const status = JSON.parse((await oauthCli(['status', '--json'])).stdout).find((s) => s.provider === 'local');
  assert.equal(status.grant, 'device_code');
  assert.equal(status.refresh_token, true);
});

test('logout revokes at the provider, then erases the record', async () => {
  const access = latest('AccessToken');
  const refresh = latest('RefreshToken');
  assert.equal(stillStored('RefreshToken', refresh), true);
  const r = await oauthCli(['logout', 'local']);
  assert.match(r.stdout, /tokens revoked at the provider; oauth-token\/local erased/);
  assert.equal(stillStored('RefreshToken', refresh), false, 'the refresh token is revoked');
  assert.equal(stillStored('AccessToken', access), false, 'the access token is revoked');
  const list = await cli(sandbox, ['vault', 'list']);
  assert.doesNotMatch(list.stdout, /oauth-token\/local/);
  const status = JSON.parse((await oauthCli(['status', '--json'])).stdout).find((s) => s.provider === 'local');
  assert.equal(status.state, 'not logged in');
  const grants = await cli(sandbox, ['vault', 'grants']);
  assert.match(grants.stdout, /app\s+oauth-token\/local/, 'the grant stays for the next login');
  // A host started now tells the plugin's caller to log in again.
  const host = await serve(sandbox, providers + APP, 'oauth-after-logout');
  try {
    const res = structured(await host.call('app_sign', { alias: 'token', message: 'm' }));
    assert.notEqual(res.sign, KH.OK);
  } finally {
    await host.close();
  }
  const audit = JSON.parse((await cli(sandbox, ['vault', 'audit', '--json'])).stdout);
  const failed = audit.filter((e) => e.action === 'handle.sign' && e.outcome === 'error').at(-1);
  assert.ok(failed, 'the failed use is audited');
  assert.match(failed.detail, /run `keyhold oauth login local`/);
});

test('every error of keyhold oauth carries its prefix, those of the vault and the config too', async () => {
  const locked = { ...sandbox, env: { ...sandbox.env } };
  delete locked.env.KEYHOLD_KEYFILE; // no credentials: the vault stays locked
  const r = await cli(locked, ['oauth', '--config', configPath, 'status'], { expect: 3 });
  assert.match(r.stderr, /^keyhold oauth: the vault is locked/);
  const missing = await cli(sandbox, ['oauth', '--config', 'no-such.toml', 'status'], { expect: 2 });
  assert.match(missing.stderr, /^keyhold oauth: cannot read config file no-such\.toml/);
  const unknown = await oauthCli(['login', 'nope'], { expect: 4 });
  assert.match(unknown.stderr, /^keyhold oauth: no \[oauth\.nope\]/);
  for (const text of [r.stderr, missing.stderr, unknown.stderr])
    for (const line of text.trim().split('\n')) assert.match(line, /^keyhold oauth: /);
});
