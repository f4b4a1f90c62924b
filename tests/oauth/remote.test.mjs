// Issue 17/18: a remote mounted server (server-everything in its Streamable HTTP mode)
// whose bearer header is built from `oauth:NAME`, behind a loopback proxy that accepts a
// request only when its bearer is an access token the provider (oidc-provider, the real
// authorization server of these tests) still holds: the header is built per request, so a
// token the host refreshed is in the next request without a restart; a 401 makes the
// host refresh once (one refresh for concurrent calls) and send the request once more; a
// server that refuses again gets no third attempt and the tool gets the re-login error,
// audited. No token reaches any output.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { sleep, tomlString } from '../e2e/helpers.mjs';
import { listen, startEverythingHttp, stopChild } from '../mount/lib.mjs';
import { audit, captures, findLeaks, grant, makeVault, serve } from '../secrets/lib.mjs';
import { startLogin } from './login.mjs';
import { authorize, forget, issued, latest, startProvider, stillStored } from './oidc_server.mjs';

const TTL = 40; // access token lifetime at the provider
// keyhold refreshes from 14 s after issue: the 401 tests below act on a token 5.5 s old
// and leave it 8.5 s (slow machines, sanitizer builds) before a refresh would come anyway.
const MARGIN = 26;
let op, sandbox, host, everything, proxy;
let everythingPort, proxyPort;
let loginAt;
const requests = []; // { method, token, ok } as the proxy saw them (token: compared, never printed)
let refuseAll = false;

function startProxy() {
  proxy = http.createServer((req, res) => {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const ok = !refuseAll && stillStored('AccessToken', bearer);
    requests.push({ method: req.method, token: bearer, ok });
    if (!ok) {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end();
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: everythingPort, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.headersSent ? res.end() : res.writeHead(502).end());
    req.pipe(upstream);
  });
  return listen(proxy).then((port) => {
    proxyPort = port;
  });
}

before(async () => {
  op = await startProvider({ accessTokenTtl: TTL });
  everything = await startEverythingHttp();
  everythingPort = everything.port;
  await startProxy();
  sandbox = await makeVault('oauth-remote');
  await grant(sandbox, 'remote', 'oauth-token/remote', 'env');
  const providers =
    `[oauth.remote]\nissuer = ${tomlString(op.issuer)}\nclient_id = "keyhold-native"\n` +
    `scopes = ["openid", "offline_access", "api:read"]\nrefresh_margin = "${MARGIN}s"\nlogin_timeout = "60s"\n\n`;
  const configPath = sandbox.writeConfig(providers, 'oauth.toml');
  const { url, redirect, done } = await startLogin(sandbox, configPath, 'remote');
  await fetch(await authorize(url, redirect));
  assert.equal((await done).code, 0);
  loginAt = Date.now();
  host = await serve(
    sandbox,
    providers +
      `[instances.remote]\nserver.url = ${tomlString(`http://127.0.0.1:${proxyPort}/mcp`)}\n` +
      `server.headers = { Authorization = "Bearer {secret:token}" }\n` +
      `[instances.remote.secrets]\ntoken = "oauth:remote"\n`,
    'oauth-remote',
  );
});

after(async () => {
  await host?.close();
  if (proxy) {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
  }
  await stopChild(everything);
  await op?.close();
  const values = [...issued.values()].flat();
  assert.ok(values.length > 3, 'the provider issued tokens');
  const leaks = captures.flatMap((c) => findLeaks(c.text, values).map((h) => `${c.label}: ${h.form}`));
  assert.deepEqual(leaks, [], 'a token reached an output');
  sandbox?.cleanup();
});

const textOf = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
const echo = (message) => host.call('remote_echo', { message });
const posts = () => requests.filter((r) => r.method === 'POST');

test('the bearer is built per request: a refreshed token is in the next request, no restart', async () => {
  const first = await echo('one');
  assert.notEqual(first.isError, true, textOf(first));
  const tokenA = latest('AccessToken');
  assert.ok(posts().at(-1).token === tokenA, 'the request carried the access token from the vault');
  assert.equal(requests.filter((r) => !r.ok).length, 0, 'the proxy refused a request');
  const refreshes = op.grants.refresh_token ?? 0;
  await sleep(loginAt + (TTL - MARGIN) * 1000 + 500 - Date.now()); // inside the margin
  const second = await echo('two');
  assert.notEqual(second.isError, true, textOf(second));
  assert.equal(op.grants.refresh_token, refreshes + 1, 'the host refreshed once');
  const tokenB = latest('AccessToken');
  assert.ok(tokenB !== tokenA, 'a new access token was issued');
  assert.ok(posts().at(-1).token === tokenB, 'the next request carried the refreshed token');
  assert.equal(requests.filter((r) => !r.ok).length, 0);
});

test('a 401 for a revoked access token: one refresh for five concurrent calls, each sent once more', async () => {
  await sleep(5500); // older than the 5 s below which a 401 causes no refresh; not yet in the margin
  const revoked = latest('AccessToken');
  forget('AccessToken', revoked); // the provider's administrator revokes it
  const refreshes = op.grants.refresh_token;
  const postsBefore = posts().length;
  const results = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((m) => echo(`concurrent ${m}`)));
  for (const r of results) assert.notEqual(r.isError, true, textOf(r));
  assert.equal(op.grants.refresh_token, refreshes + 1, 'exactly one refresh for five refused calls');
  const fresh = posts().slice(postsBefore);
  const refused = fresh.filter((r) => !r.ok);
  assert.ok(refused.length >= 1 && refused.length <= 5, `${refused.length} refused`);
  assert.ok(refused.every((r) => r.token === revoked), 'only the revoked token was refused');
  assert.equal(fresh.length, 5 + refused.length, 'each refused call was sent once more, and only once');
  assert.ok(fresh.filter((r) => r.ok).every((r) => r.token === latest('AccessToken')));
});

test('a server that refuses again: one retry at most, never a refresh loop, and the re-login error', async () => {
  refuseAll = true;
  try {
    // The token is a second old: a 401 does not refresh it, and nothing is sent again.
    let postsBefore = posts().length;
    let refreshes = op.grants.refresh_token;
    const young = await echo('refused young');
    assert.equal(young.isError, true);
    assert.match(
      textOf(young),
      /HTTP 401 from http:\/\/127\.0\.0\.1:\d+: header Authorization: the server refused the access token of oauth provider 'remote': it was issued \d+ s ago, so keyhold does not refresh it again .*`keyhold oauth login remote`/,
    );
    assert.equal(posts().length, postsBefore + 1, 'no second attempt');
    assert.equal(op.grants.refresh_token, refreshes);

    await sleep(5500);
    postsBefore = posts().length;
    refreshes = op.grants.refresh_token;
    const old = await echo('refused twice');
    assert.equal(old.isError, true);
    assert.match(
      textOf(old),
      /HTTP 401 from http:\/\/127\.0\.0\.1:\d+: header Authorization: the server refused the access token of oauth provider 'remote' again after it was refreshed: run `keyhold oauth login remote`/,
    );
    assert.equal(posts().length, postsBefore + 2, 'one attempt and one retry, no more');
    assert.equal(op.grants.refresh_token, refreshes + 1, 'one refresh');
  } finally {
    refuseAll = false;
  }
  const back = await echo('accepted again');
  assert.notEqual(back.isError, true, textOf(back));
  // Audit entries are written in the background: wait for the last refusal's.
  let refusals = [];
  for (let i = 0; i < 30 && !refusals.some((e) => /again after a refresh/.test(e.detail)); i++) {
    if (i > 0) await sleep(200);
    refusals = (await audit(sandbox)).filter((e) => e.action === 'handle.header' && e.outcome === 'refused');
  }
  assert.ok(refusals.length >= 4, `${refusals.length} refusals audited`);
  assert.ok(refusals.some((e) => /again after a refresh/.test(e.detail)), 'the second refusal is audited');
  assert.ok(refusals.every((e) => e.secret === 'oauth:remote' || /oauth/.test(e.secret)), JSON.stringify(refusals[0]));
});
