// Issue 18, acceptance 5: a remote MCP server protected by the TypeScript SDK's own auth
// (requireBearerAuth + protected resource metadata, protected_mcp_server.mjs) with
// oidc-provider as its authorization server. The server accepts only tokens whose audience
// is its own URL, as the MCP authorization spec requires of it.
// - `keyhold oauth discover URL` finds the metadata (the 401 challenge's resource_metadata,
//   else the well-known URL), then the authorization server, and prints the [oauth.NAME]
//   table with the resource (RFC 8707); with it and a configured client_id, login and the
//   mount by server.url with an `oauth:NAME` bearer work: the server's tool sees the user.
// - `--register` has the authorization server issue keyhold a client id (RFC 7591);
//   `--client-metadata-url` uses a Client ID Metadata Document's URL where the server
//   announces them (logging in with one is not tested: oidc-provider fetches the document
//   only from a public https address, which this machine has none of).
// - Without `resource` the token is not for the server, which refuses it.
// - A server that wants more scope (403 insufficient_scope): keyhold cannot step up the
//   grant without the user, so the error names the scope and the login to run (audited).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertLogMatches, sleep, tomlString } from '../e2e/helpers.mjs';
import { captures, cli, findLeaks, grant, makeVault, serve } from '../secrets/lib.mjs';
import { startLogin } from './login.mjs';
import { all, authorize, forget, issued, latest, startProvider } from './oidc_server.mjs';
import { startProtectedMcpServer } from './protected_mcp_server.mjs';

let op, server, hidden, wide, sandbox;

before(async () => {
  op = await startProvider({ accessTokenTtl: 600 }); // no refresh in this test (the default margin is 60 s)
  server = await startProtectedMcpServer(op);
  hidden = await startProtectedMcpServer(op, { challengeOnly: true });
  wide = await startProtectedMcpServer(op, { requiredScopes: ['api:read', 'api:write'] });
  sandbox = await makeVault('oauth-discover');
});

after(async () => {
  await server?.close();
  await hidden?.close();
  await wide?.close();
  await op?.close();
  // Client ids are public; every other value the provider issued (tokens, codes, the
  // registration access token) must never reach an output.
  const values = [...issued.entries()].filter(([model]) => model !== 'Client').flatMap(([, v]) => v).concat([op.serviceSecret]);
  const leaks = captures.flatMap((c) => findLeaks(c.text, values).map((h) => `${c.label}: ${h.form}`));
  assert.deepEqual(leaks, [], 'a token reached an output');
  sandbox?.cleanup();
});

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Logs in with the provider table, serves the remote instance and returns its host.
async function loginAndServe(providers, name, url, instanceKeys = '') {
  const configPath = sandbox.writeConfig(providers, `${name}.toml`);
  const { url: authUrl, redirect, done } = await startLogin(sandbox, configPath, name);
  await fetch(await authorize(authUrl, redirect));
  assert.equal((await done).code, 0);
  await grant(sandbox, `remote-${name}`, `oauth-token/${name}`, 'env');
  return serve(
    sandbox,
    providers +
      `[instances.remote-${name}]\nserver.url = ${tomlString(url)}\n` +
      `server.headers = { Authorization = "Bearer {secret:token}" }\n${instanceKeys}` +
      `[instances.remote-${name}.secrets]\ntoken = "oauth:${name}"\n`,
    `oauth-discover-${name}`,
  );
}

test('discover, log in with a configured client_id, and call the protected server through keyhold', async () => {
  const unauthenticated = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(unauthenticated.status, 401);
  assert.match(unauthenticated.headers.get('www-authenticate'), /resource_metadata="[^"]+oauth-protected-resource\/mcp"/);

  const found = await cli(sandbox, ['oauth', 'discover', server.url, '--name', 'mcp']);
  assert.match(found.stdout, /protected resource metadata: http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp/);
  assert.match(found.stdout, new RegExp(`authorization server: +${escape(op.issuer)}`));
  assert.match(found.stdout, /registration endpoint: +http:\/\/127\.0\.0\.1:\d+\/reg \(--register uses it\)/);
  const table = found.stdout.slice(found.stdout.indexOf('[oauth.mcp]'));
  assert.equal(table, `[oauth.mcp]\nissuer = "${op.issuer}"\nclient_id = "..."\nscopes = ["api:read"]\nresource = "${server.url}"\n`);
  // A URL that publishes no metadata: every place tried, a clear error, exit 4.
  const none = await cli(sandbox, ['oauth', 'discover', server.url.replace('/mcp', '/other')], { expect: 4 });
  assert.match(none.stderr, /^keyhold oauth: .*oauth-protected-resource\/other answered HTTP 404; .*\/\.well-known\/oauth-protected-resource answered HTTP 404: the server publishes no protected resource metadata/);

  // The administrator pastes the table with the client id the authorization server issued.
  const providers = table.replace('client_id = "..."', 'client_id = "keyhold-native"') + 'login_timeout = "60s"\n\n';
  const loginAt = Date.now();
  const host = await loginAndServe(providers, 'mcp', server.url);
  try {
    const result = await host.call('remote-mcp_whoami', {});
    assert.notEqual(result.isError, true, JSON.stringify(result));
    assert.equal(result.content[0].text, 'subject: alice');
    assert.ok(server.tokens.length > 0 && server.tokens.every((t) => t === latest('AccessToken')), 'the server saw the token keyhold holds');

    // The SDK's middleware refuses a token revoked at the provider (401 with its challenge):
    // keyhold refreshes once (asking for the same resource) and sends the call again.
    await sleep(loginAt + 5500 - Date.now()); // a token younger than 5 s is not refreshed on a 401
    forget('AccessToken', latest('AccessToken'));
    const refreshes = op.grants.refresh_token ?? 0;
    const again = await host.call('remote-mcp_whoami', {});
    assert.notEqual(again.isError, true, JSON.stringify(again));
    assert.equal(again.content[0].text, 'subject: alice');
    assert.equal(op.grants.refresh_token, refreshes + 1, 'one refresh after the 401');
    assert.ok(server.tokens.at(-1) === latest('AccessToken'), 'the retry carried the refreshed token');
    assert.equal(server.refusedAudience, 0, 'every token keyhold sent was for this server');
  } finally {
    await host.close();
  }
  // Every header built for a tool call is audited with the client's request id (the SDK
  // numbers its requests); the handshake's own requests have none.
  const audit = JSON.parse((await cli(sandbox, ['vault', 'audit', '--json'])).stdout);
  const headers = (Array.isArray(audit) ? audit : audit.entries).filter((e) => e.action === 'handle.header' && e.instance === 'remote-mcp');
  const forCalls = headers.filter((e) => /^\d+$/.test(e.request_id ?? ''));
  assert.ok(forCalls.length >= 3, `header uses of the calls carry request ids: ${JSON.stringify(headers.map((e) => [e.outcome, e.request_id]))}`);
  assert.ok(forCalls.some((e) => e.outcome === 'refused'), 'the 401 of a call is audited with its request id');
});

test('discover follows the challenge to its metadata; --register has a client id issued (RFC 7591)', async () => {
  const registeredBefore = all('Client').length;
  const found = await cli(sandbox, ['oauth', 'discover', hidden.url, '--name', 'reg', '--register']);
  // Only the challenge names where the metadata is (the well-known URL answers 404).
  assert.equal((await fetch(new URL('/.well-known/oauth-protected-resource/mcp', hidden.url))).status, 404);
  assert.match(found.stdout, /protected resource metadata: http:\/\/127\.0\.0\.1:\d+\/meta\/protected-resource\n/);
  assert.match(found.stdout, /registration endpoint: +\S+ \(keyhold registered\)/);
  assert.equal(all('Client').length, registeredBefore + 1, 'one client registered');
  const clientId = all('Client').at(-1);
  const table = found.stdout.slice(found.stdout.indexOf('[oauth.reg]'));
  // A public client: no secret issued, none stored.
  assert.equal(table, `[oauth.reg]\nissuer = "${op.issuer}"\nclient_id = "${clientId}"\nscopes = ["api:read"]\nresource = "${hidden.url}"\n`);
  const list = await cli(sandbox, ['vault', 'list']);
  assert.doesNotMatch(list.stdout, /oauth-client\/reg/);
  // --register without --name: refused before anything is registered.
  const unnamed = await cli(sandbox, ['oauth', 'discover', hidden.url, '--register'], { expect: 2 });
  assert.match(unnamed.stderr, /^keyhold oauth: --register needs --name NAME/);
  assert.equal(all('Client').length, registeredBefore + 1);

  const host = await loginAndServe(table + 'login_timeout = "60s"\n\n', 'reg', hidden.url);
  try {
    const result = await host.call('remote-reg_whoami', {});
    assert.notEqual(result.isError, true, JSON.stringify(result));
    assert.equal(result.content[0].text, 'subject: alice');
    assert.equal(hidden.refusedAudience, 0);
  } finally {
    await host.close();
  }
});

test('a Client ID Metadata Document: discover prints its URL as client_id where the server accepts one', async () => {
  const cimdOp = await startProvider({ accessTokenTtl: 600, clientIdMetadataDocument: true });
  const cimdServer = await startProtectedMcpServer(cimdOp);
  const url = 'https://example.com/keyhold/client.json';
  try {
    const found = await cli(sandbox, ['oauth', 'discover', cimdServer.url, '--name', 'cimd', '--client-metadata-url', url]);
    assert.match(found.stdout, /client id metadata documents: accepted \(keyhold's client id is the document's URL\)/);
    const table = found.stdout.slice(found.stdout.indexOf('[oauth.cimd]'));
    assert.equal(table, `[oauth.cimd]\nissuer = "${cimdOp.issuer}"\nclient_id = "${url}"\nscopes = ["api:read"]\nresource = "${cimdServer.url}"\n`);
    // Without the option: the hint names the command that prints the document.
    const plain = await cli(sandbox, ['oauth', 'discover', cimdServer.url]);
    assert.match(plain.stdout, /client id metadata documents: accepted \(publish `keyhold oauth client-metadata /);
    const document = JSON.parse((await cli(sandbox, ['oauth', 'client-metadata', url])).stdout);
    assert.equal(document.client_id, url);
    assert.deepEqual(document.redirect_uris, ['http://127.0.0.1/callback']);
    // An authorization server that does not announce them: refused, no table printed.
    const refused = await cli(sandbox, ['oauth', 'discover', server.url, '--client-metadata-url', url], { expect: null });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /does not announce Client ID Metadata Documents/);
    assert.doesNotMatch(refused.stdout, /\[oauth\./);
    // A URL that cannot be a client id: refused before anything is fetched.
    const bad = await cli(sandbox, ['oauth', 'discover', cimdServer.url, '--client-metadata-url', 'http://example.com/c.json'], { expect: null });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /must be an https:\/\/ URL/);
  } finally {
    await cimdServer.close();
    await cimdOp.close();
  }
});

test('without resource the token is not for the server: refused, and the log says so', async () => {
  const refused = server.refusedAudience;
  const providers = `[oauth.noaud]\nissuer = "${op.issuer}"\nclient_id = "keyhold-native"\nscopes = ["api:read"]\nlogin_timeout = "60s"\n\n`;
  const host = await loginAndServe(providers, 'noaud', server.url);
  try {
    // The server refused the token at the handshake: the instance serves nothing.
    assert.ok(server.refusedAudience > refused, 'the server refused the token for its audience');
    const { tools } = await host.client.listTools();
    assert.ok(!tools.some((t) => t.name.startsWith('remote-noaud_')), JSON.stringify(tools.map((t) => t.name)));
    await assertLogMatches(host.stderr, /remote-noaud.*HTTP 401 from http:\/\/127\.0\.0\.1:\d+/);
  } finally {
    await host.close();
  }
});

test('403 insufficient_scope: the error names the scope to add and the login to run, audited', async () => {
  const providers = `[oauth.wide]\nissuer = "${op.issuer}"\nclient_id = "keyhold-native"\nscopes = ["api:read"]\nresource = "${wide.url}"\nlogin_timeout = "60s"\n\n`;
  const host = await loginAndServe(providers, 'wide', wide.url);
  try {
    const { tools } = await host.client.listTools();
    assert.ok(!tools.some((t) => t.name.startsWith('remote-wide_')));
    assert.match(
      host.stderr(),
      /HTTP 403 from http:\/\/127\.0\.0\.1:\d+: header Authorization: the access token of oauth provider 'wide' lacks the scope "api:read api:write" the server asks for: add what is missing to scopes in \[oauth\.wide\] and run `keyhold oauth login wide`/,
    );
  } finally {
    await host.close();
  }
  const audit = JSON.parse((await cli(sandbox, ['vault', 'audit', '--json'])).stdout);
  const entries = (Array.isArray(audit) ? audit : audit.entries).filter(
    (e) => e.action === 'handle.header' && e.outcome === 'refused' && /HTTP 403 insufficient_scope/.test(e.detail ?? ''),
  );
  assert.ok(entries.length >= 1, 'the refusal is audited');
  assert.match(entries[0].detail, /alias=token HTTP 403 insufficient_scope from http:\/\/127\.0\.0\.1:\d+; scope=api:read api:write/);
});
