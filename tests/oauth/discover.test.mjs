// Issue 18, acceptance 5 (the part without client registration): a remote MCP server
// protected by the TypeScript SDK's own auth (requireBearerAuth + protected resource
// metadata, protected_mcp_server.mjs) with oidc-provider as its authorization server.
// `keyhold oauth discover URL` finds the authorization server through RFC 9728 and prints
// the [oauth.NAME] table; with a configured client_id, `keyhold oauth login` and the mount
// by server.url with an `oauth:NAME` bearer work: the server's tool sees the user's token.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { sleep, tomlString } from '../e2e/helpers.mjs';
import { captures, cli, findLeaks, grant, makeVault, serve } from '../secrets/lib.mjs';
import { startLogin } from './login.mjs';
import { authorize, forget, issued, latest, startProvider } from './oidc_server.mjs';
import { startProtectedMcpServer } from './protected_mcp_server.mjs';

let op, server, sandbox;

before(async () => {
  op = await startProvider({ accessTokenTtl: 600 }); // no refresh in this test (the default margin is 60 s)
  server = await startProtectedMcpServer(op);
  sandbox = await makeVault('oauth-discover');
});

after(async () => {
  await server?.close();
  await op?.close();
  const values = [...issued.values()].flat().concat([op.serviceSecret]);
  const leaks = captures.flatMap((c) => findLeaks(c.text, values).map((h) => `${c.label}: ${h.form}`));
  assert.deepEqual(leaks, [], 'a token reached an output');
  sandbox?.cleanup();
});

test('discover, log in with a configured client_id, and call the protected server through keyhold', async () => {
  const unauthenticated = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(unauthenticated.status, 401);
  assert.match(unauthenticated.headers.get('www-authenticate'), /resource_metadata="[^"]+oauth-protected-resource\/mcp"/);

  const found = await cli(sandbox, ['oauth', 'discover', server.url, '--name', 'mcp']);
  assert.match(found.stdout, /protected resource metadata: http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp/);
  assert.match(found.stdout, new RegExp(`authorization server: +${op.issuer.replaceAll('.', '\\.')}`));
  const table = found.stdout.slice(found.stdout.indexOf('[oauth.mcp]'));
  assert.match(table, new RegExp(`^\\[oauth\\.mcp\\]\\nissuer = "${op.issuer.replaceAll('.', '\\.')}"\\nclient_id = "\\.\\.\\."\\nscopes = \\["api:read"\\]\\n$`));
  // A URL that publishes no metadata: a clear error, exit 4.
  const none = await cli(sandbox, ['oauth', 'discover', server.url.replace('/mcp', '/other')], { expect: 4 });
  assert.match(none.stderr, /^keyhold oauth: .*oauth-protected-resource\/other answered HTTP 404: the server publishes no protected resource metadata/);

  // The administrator pastes the table with the client id the authorization server issued.
  const providers = table.replace('client_id = "..."', 'client_id = "keyhold-native"') + 'login_timeout = "60s"\n\n';
  const configPath = sandbox.writeConfig(providers, 'oauth.toml');
  const { url, redirect, done } = await startLogin(sandbox, configPath, 'mcp');
  await fetch(await authorize(url, redirect));
  assert.equal((await done).code, 0);
  const loginAt = Date.now();

  await grant(sandbox, 'remote', 'oauth-token/mcp', 'env');
  const host = await serve(
    sandbox,
    providers +
      `[instances.remote]\nserver.url = ${tomlString(server.url)}\n` +
      `server.headers = { Authorization = "Bearer {secret:token}" }\n` +
      `[instances.remote.secrets]\ntoken = "oauth:mcp"\n`,
    'oauth-discover',
  );
  try {
    const result = await host.call('remote_whoami', {});
    assert.notEqual(result.isError, true, JSON.stringify(result));
    assert.equal(result.content[0].text, 'subject: alice');
    assert.ok(server.tokens.length > 0 && server.tokens.every((t) => t === latest('AccessToken')), 'the server saw the token keyhold holds');

    // The SDK's middleware refuses a token revoked at the provider (401 with its challenge):
    // keyhold refreshes once and sends the call again.
    await sleep(loginAt + 5500 - Date.now()); // a token younger than 5 s is not refreshed on a 401
    forget('AccessToken', latest('AccessToken'));
    const refreshes = op.grants.refresh_token ?? 0;
    const again = await host.call('remote_whoami', {});
    assert.notEqual(again.isError, true, JSON.stringify(again));
    assert.equal(again.content[0].text, 'subject: alice');
    assert.equal(op.grants.refresh_token, refreshes + 1, 'one refresh after the 401');
    assert.ok(server.tokens.at(-1) === latest('AccessToken'), 'the retry carried the refreshed token');
  } finally {
    await host.close();
  }
});
