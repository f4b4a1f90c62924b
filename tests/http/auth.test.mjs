// Client authentication of `keyhold serve --http`: tokens from `keyhold token`, 401 with
// WWW-Authenticate for a missing, bad, expired or revoked token (revocation without a
// restart), tool allowlists, sessions bound to their token, the per-token rate limit (429
// with Retry-After), audit entries without token text, and the default config requiring a
// token. Canary: no token text ever appears in a log, an error or the audit trail.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  assertNoSecret,
  connectClient,
  createToken,
  echoConfig,
  httpRequest,
  initializeMessage,
  jsonHeaders,
  keyhold,
  LATEST_VERSION,
  makeVaultSandbox,
  rawSession,
  sleep,
  startServer,
} from './http_helpers.mjs';

// Well-formed (kh_ + 43 base64url) but never issued: the "bad token" canary.
const BAD_TOKEN = 'kh_CANARYbadTokenCANARYbadTokenCANARYbadToken0';
const secrets = [BAD_TOKEN];
const outputs = []; // every stdout/stderr text the tests saw, checked for leaks at the end

let sandbox;
let server;
let tokens = {};

async function cli(args) {
  const result = await keyhold(sandbox, args);
  outputs.push(`keyhold ${args.join(' ')}`, result.stderr);
  if (args[1] !== 'create') outputs.push(result.stdout);
  return result;
}

before(async () => {
  sandbox = await makeVaultSandbox();
  tokens.full = await createToken(sandbox, 'full');
  tokens.other = await createToken(sandbox, 'other');
  tokens.limited = await createToken(sandbox, 'limited', ['--tools', 'echo_echo,echo_a*']);
  tokens.expiring = await createToken(sandbox, 'expiring', ['--expires', '1s']);
  tokens.revoked = await createToken(sandbox, 'to-revoke');
  secrets.push(...Object.values(tokens));
  server = await startServer(sandbox, echoConfig(sandbox));
});

after(async () => {
  if (server) {
    const result = await server.stop();
    assert.equal(result.code, 0);
    outputs.push(server.stderr());
  }
  for (const text of outputs) assertNoSecret(assert, text, secrets, 'command output or log');
  sandbox?.cleanup();
});

const post = (headers, body = initializeMessage()) =>
  httpRequest(server.port, { headers: jsonHeaders(headers), body });

function assert401(res, what) {
  assert.equal(res.status, 401, what);
  assert.match(res.headers['www-authenticate'] ?? '', /^Bearer /, `${what}: WWW-Authenticate`);
  outputs.push(res.body);
}

test('token create / list / revoke: exit codes, and the token is never listed', async () => {
  const dup = await cli(['token', 'create', 'full']);
  assert.equal(dup.code, 6, 'an active token of that name exists');
  assert.match(dup.stderr, /revoke it first/);
  const badName = await cli(['token', 'create', 'bad name!']);
  assert.equal(badName.code, 2);
  const badExpiry = await cli(['token', 'create', 'x', '--expires', 'soon']);
  assert.equal(badExpiry.code, 2);
  const unknown = await cli(['token', 'revoke', 'nobody']);
  assert.equal(unknown.code, 4);

  const list = await cli(['token', 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout);
  const limited = rows.find((r) => r.name === 'limited');
  assert.deepEqual(limited.tools, ['echo_echo', 'echo_a*']);
  assert.equal(limited.state, 'active');
  assert.equal(limited.expires_at, null);
  assert.ok(rows.find((r) => r.name === 'expiring').expires_at);
  for (const row of rows) assert.deepEqual(Object.keys(row).sort(), ['created_at', 'expires_at', 'name', 'revoked_at', 'state', 'tools']);
  const table = await cli(['token', 'list']);
  assert.equal(table.code, 0);
  assert.match(table.stdout, /^limited\s+active\s/m);

  const vaultList = await cli(['vault', 'list']);
  assert.equal(vaultList.code, 0, vaultList.stderr);
  const help = await cli(['token', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Exit codes/);
});

test('a valid token is accepted', async () => {
  const res = await post({ Authorization: `Bearer ${tokens.full}`, Accept: 'application/json' });
  assert.equal(res.status, 200, res.body);
  assert.ok(res.headers['mcp-session-id']);
});

test('no token, a bad token, a malformed header -> 401 with WWW-Authenticate', async () => {
  assert401(await post({}), 'no Authorization header');
  assert401(await post({ Authorization: `Bearer ${BAD_TOKEN}` }), 'unknown token');
  assert401(await post({ Authorization: 'Bearer kh_short' }), 'malformed token');
  assert401(await post({ Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }), 'Basic auth');
  // Every method and even an unknown session id: authentication comes first.
  assert401(await httpRequest(server.port, { method: 'GET', headers: { Accept: 'text/event-stream' } }), 'GET');
  assert401(await httpRequest(server.port, { method: 'DELETE', headers: { 'Mcp-Session-Id': 'x' } }), 'DELETE');
});

test('an expired token -> 401', async () => {
  await sleep(2100); // created with --expires 1s
  assert401(await post({ Authorization: `Bearer ${tokens.expiring}` }), 'expired token');
  const list = JSON.parse((await cli(['token', 'list', '--json'])).stdout);
  assert.equal(list.find((r) => r.name === 'expiring').state, 'expired');
});

test('revoking a token takes effect on the running server, also inside a live session', async () => {
  const { client } = await connectClient(server.url, tokens.revoked);
  await client.callTool({ name: 'echo_echo', arguments: { text: 'before revoke' } });
  const revoke = await cli(['token', 'revoke', 'to-revoke']);
  assert.equal(revoke.code, 0, revoke.stderr);
  await assert.rejects(
    client.callTool({ name: 'echo_echo', arguments: { text: 'after revoke' } }),
    (e) => /401|Unauthorized/i.test(String(e?.message ?? e)),
  );
  await client.close().catch(() => {});
  assert401(await post({ Authorization: `Bearer ${tokens.revoked}` }), 'revoked token');
  const again = await cli(['token', 'revoke', 'to-revoke']);
  assert.equal(again.code, 0, 'revoking twice is fine');
});

test('a token allowlist hides tools from tools/list and refuses calls to them', async () => {
  const { client } = await connectClient(server.url, tokens.limited);
  try {
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(names, ['echo_add', 'echo_echo']);
    const ok = await client.callTool({ name: 'echo_echo', arguments: { text: 'allowed' } });
    assert.deepEqual(ok.content, [{ type: 'text', text: 'allowed' }]);
    await assert.rejects(
      client.callTool({ name: 'echo_slow', arguments: { steps: 1 } }),
      (e) => e.code === -32602 && /unknown tool/i.test(e.message),
    );
  } finally {
    await client.close();
  }
  // The unrestricted token still sees everything.
  const { client: full } = await connectClient(server.url, tokens.full);
  try {
    const names = (await full.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('echo_slow'));
  } finally {
    await full.close();
  }
});

test('a session belongs to its token: another valid token gets 404 on it', async () => {
  const sessionId = await rawSession(server.port, tokens.full);
  const asOther = await httpRequest(server.port, {
    headers: jsonHeaders({
      Authorization: `Bearer ${tokens.other}`,
      'Mcp-Session-Id': sessionId,
      'MCP-Protocol-Version': LATEST_VERSION,
      Accept: 'application/json',
    }),
    body: { jsonrpc: '2.0', id: 2, method: 'tools/list' },
  });
  assert.equal(asOther.status, 404);
  const deleteAsOther = await httpRequest(server.port, {
    method: 'DELETE',
    headers: { Authorization: `Bearer ${tokens.other}`, 'Mcp-Session-Id': sessionId },
  });
  assert.equal(deleteAsOther.status, 404);
  const asOwner = await httpRequest(server.port, {
    headers: jsonHeaders({
      Authorization: `Bearer ${tokens.full}`,
      'Mcp-Session-Id': sessionId,
      'MCP-Protocol-Version': LATEST_VERSION,
      Accept: 'application/json',
    }),
    body: { jsonrpc: '2.0', id: 3, method: 'tools/list' },
  });
  assert.equal(asOwner.status, 200, 'the owner still uses it');
});

test('authentication failures are audited with the token name, never the token', async () => {
  // The audit queue writes in the background: poll a little.
  let entries = [];
  for (let i = 0; i < 50; i++) {
    const audit = await cli(['vault', 'audit', '--json']);
    assert.equal(audit.code, 0, audit.stderr);
    assertNoSecret(assert, audit.stdout, secrets, 'the audit log');
    entries = JSON.parse(audit.stdout).filter((e) => e.action === 'http.auth');
    if (entries.some((e) => e.detail.startsWith('revoked token'))) break;
    await sleep(100);
  }
  assert.ok(entries.every((e) => e.actor === 'http' && e.outcome === 'denied'));
  const details = entries.map((e) => e.detail);
  assert.ok(details.some((d) => d.startsWith('no bearer token from 127.0.0.1')), 'no token');
  assert.ok(details.some((d) => d.startsWith('unknown bearer token')), 'bad token');
  assert.ok(details.some((d) => d.startsWith('malformed bearer token')), 'malformed token');
  assert.ok(details.some((d) => d.startsWith('Authorization header is not a Bearer token')), 'Basic');
  const expired = entries.find((e) => e.detail.startsWith("expired token 'expiring'"));
  assert.ok(expired, 'expired token audited by name');
  assert.equal(expired.secret, 'keyhold/http-tokens/expiring');
  assert.ok(entries.some((e) => e.detail.startsWith("revoked token 'to-revoke'")), 'revoked, by name');
  const verify = await cli(['vault', 'audit', '--verify']);
  assert.equal(verify.code, 0, 'the audit chain stays intact');
});

test('per-token rate limit -> 429 with Retry-After; other tokens unaffected', async () => {
  const sb = await makeVaultSandbox();
  try {
    const fast = await createToken(sb, 'fast');
    const calm = await createToken(sb, 'calm');
    secrets.push(fast, calm);
    const limited = await startServer(sb, echoConfig(sb, 'rate_limit = { rate = 1, burst = 3 }'));
    try {
      const send = (t) =>
        httpRequest(limited.port, {
          headers: jsonHeaders({ Authorization: `Bearer ${t}`, Accept: 'application/json' }),
          body: { jsonrpc: '2.0', method: 'notifications/initialized' },
        });
      const statuses = [];
      let retryAfter;
      for (let i = 0; i < 6; i++) {
        const res = await send(fast);
        statuses.push(res.status);
        if (res.status === 429) retryAfter = res.headers['retry-after'];
      }
      assert.deepEqual(statuses.slice(0, 3), [400, 400, 400], 'the burst passes (400: no session)');
      assert.ok(statuses.slice(3).includes(429), `then 429: ${statuses}`);
      assert.ok(Number(retryAfter) >= 1, 'Retry-After in whole seconds');
      assert.equal((await send(calm)).status, 400, 'another token has its own bucket');
      await sleep(Number(retryAfter) * 1000 + 100);
      assert.equal((await send(fast)).status, 400, 'allowed again after Retry-After');
    } finally {
      await limited.stop();
      outputs.push(limited.stderr());
    }
  } finally {
    sb.cleanup();
  }
});

test('a default config (no [http] section) requires a token: initialize without one -> 401', async () => {
  const sb = await makeVaultSandbox();
  try {
    // No --config: keyhold writes and uses the default config, whose auth is on.
    const { spawn } = await import('node:child_process');
    const { keyholdBin } = await import('../e2e/helpers.mjs');
    const child = spawn(await keyholdBin(), ['serve', '--http', '127.0.0.1:0'], {
      env: sb.env,
      cwd: sb.dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    let port;
    for (let i = 0; i < 300 && !port; i++) {
      port = /127\.0\.0\.1:(\d+)\/mcp/.exec(stderr)?.[1];
      if (!port) await sleep(50);
    }
    try {
      assert.ok(port, stderr);
      const res = await httpRequest(Number(port), {
        headers: jsonHeaders({ Accept: 'application/json' }),
        body: initializeMessage(),
      });
      assert.equal(res.status, 401);
      assert.match(res.headers['www-authenticate'], /^Bearer realm="keyhold"/);
      assert.doesNotMatch(stderr, /authentication is OFF/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    }
  } finally {
    sb.cleanup();
  }
});

test('serve --http with auth on and no vault credentials fails at startup, saying how', async () => {
  const sb = await makeVaultSandbox();
  try {
    const env = { ...sb.env };
    delete env.KEYHOLD_KEYFILE;
    const result = await keyhold(sb, ['serve', '--config', echoConfig(sb), '--http', '127.0.0.1:0'], { env });
    assert.equal(result.code, 3);
    assert.match(result.stderr, /vault is locked/);
    assert.match(result.stderr, /KEYHOLD_KEYFILE=PATH/);
    assert.match(result.stderr, /KEYHOLD_PASSPHRASE_FILE=PATH/);
    const missing = await keyhold(
      sb,
      ['serve', '--config', echoConfig(sb), '--http', '127.0.0.1:0'],
      { env: { ...sb.env, KEYHOLD_VAULT: `${sb.dir}/no-such-vault.db` } },
    );
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /no vault at/);
    assert.match(missing.stderr, /keyhold vault init/);
  } finally {
    sb.cleanup();
  }
});
