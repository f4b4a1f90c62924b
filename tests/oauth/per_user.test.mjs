// Issue 18, acceptance 6: a per_user OAuth provider in `keyhold serve --http` with two
// client tokens. Each authenticated client gets its own upstream identity: its first call
// is answered -32042 (URLElicitationRequiredError) with the provider's authorization URL,
// a headless user agent logs in there (as alice for client A, as bob for client B), the
// provider redirects to keyhold's own /oauth/callback, keyhold stores the client's record
// and sends notifications/elicitation/complete to that client, and the retried call works
// with that client's token. Every use is checked: the snoop fixture's HMAC with the token
// is matched against every access token the provider issued, and the account it was issued
// to must be the caller's. Each client's token is refreshed on its own (one refresh per
// client for concurrent calls). Forged and replayed states are refused; a client without
// URL elicitation is told the CLI login (`keyhold oauth login NAME --client CLIENT`),
// which then works, as do `oauth status` and `oauth logout --client`; stdio has no client
// and gets a clear error. Every output is swept for every token, code and client token.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';

import { sleep, tomlString } from '../e2e/helpers.mjs';
import {
  ElicitationCompleteNotificationSchema,
  ErrorCode,
} from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';
import { Client, createToken, StreamableHTTPClientTransport, startServer } from '../http/http_helpers.mjs';
import {
  audit,
  capture,
  captures,
  cli,
  findLeaks,
  grant,
  KH,
  makeVault,
  serve,
  SNOOP_ENV_COMMANDS,
  snoopInstance,
  structured,
} from '../secrets/lib.mjs';
import { startLogin } from './login.mjs';
import { accountOf, all, authorize, issued, latest, startProvider, stillStored } from './oidc_server.mjs';

let op;
let sandbox;
let host;
const clientTokens = {}; // keyhold client token name -> token text
const clients = [];

// A child that prints the token reversed, past the redactor: the test sees whose it is.
const REV = ['sh', '-c', `printf '%s\\n' "$MCP_AUTH_TOKEN" | rev`];
const TTL = 40; // the provider's access token lifetime
const MARGIN = 30; // keyhold refreshes a token once it is TTL - MARGIN seconds old
const hmac = (key, message) => createHmac('sha256', key).update(message).digest('hex');

// The config: the per_user provider and a snoop instance mapping `oauth:users`.
const config = () =>
  `[oauth.users]\nissuer = ${tomlString(op.issuer)}\nclient_id = "keyhold-users"\n` +
  `scopes = ["openid", "offline_access", "api:read"]\nper_user = true\nlogin_timeout = "60s"\n` +
  `refresh_margin = "${MARGIN}s"\n\n` +
  snoopInstance('app', { token: { source: 'oauth:users', env_commands: [SNOOP_ENV_COMMANDS[0], REV] } });

before(async () => {
  op = await startProvider({ accessTokenTtl: TTL });
  sandbox = await makeVault('per-user');
  await grant(sandbox, 'app', 'oauth-token/users', 'reveal,sign,env');
  for (const name of ['client-a', 'client-b', 'client-c']) clientTokens[name] = await createToken(sandbox, name);
  const configPath = sandbox.writeConfig(`[server]\nlog_level = "debug"\n\n${config()}`, 'per-user.toml');
  host = await startServer(sandbox, configPath);
  host.configPath = configPath;
});

after(async () => {
  for (const c of clients) await c.close();
  if (host) {
    await host.stop();
    capture('serve --http stderr', host.stderr());
  }
  await op?.close();
  const values = [...issued.values()].flat().concat(Object.values(clientTokens));
  assert.ok(values.length > 5, 'the provider issued tokens');
  const leaks = captures.flatMap((c) => findLeaks(c.text, values).map((h) => `${c.label}: ${h.form}`));
  assert.deepEqual(leaks, [], 'a token reached an output');
  sandbox?.cleanup();
});

// An SDK client with client token `name`; with urlMode it declares URL-mode elicitation.
// Records every message it receives and the elicitation ids completed for it.
async function connect(name, { urlMode = true } = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(host.url), {
    requestInit: { headers: { Authorization: `Bearer ${clientTokens[name]}` } },
  });
  const client = new Client(
    { name, version: '1.0.0' },
    { capabilities: urlMode ? { elicitation: { url: {} } } : {} },
  );
  const completed = [];
  client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
    completed.push(n.params.elicitationId);
  });
  await client.connect(transport);
  const messages = [];
  const original = transport.onmessage;
  transport.onmessage = (message, extra) => {
    messages.push(message);
    original?.(message, extra);
  };
  const c = {
    name,
    client,
    completed,
    messages,
    sign: () => client.callTool({ name: 'app_sign', arguments: { alias: 'token', message: 'm' } }),
    async close() {
      capture(`${name}: every message received`, messages.map((m) => JSON.stringify(m)).join('\n'));
      await client.close();
    },
  };
  clients.push(c);
  return c;
}

// The provider account whose access token made mac (HMAC-SHA256 of "m").
function accountOfMac(mac) {
  const token = all('AccessToken').find((t) => hmac(t, 'm') === mac);
  assert.ok(token, 'the mac was made with an access token the provider issued');
  for (const refresh of all('RefreshToken')) assert.notEqual(mac, hmac(refresh, 'm'), 'never a refresh token');
  return accountOf('AccessToken', token);
}

// Calls app_sign as c and asserts it used the token of provider account `account`.
async function signAs(c, account) {
  const result = structured(await c.sign());
  assert.equal(result.sign, KH.OK, `${c.name}: ${JSON.stringify(result)}`);
  assert.equal(accountOfMac(result.mac), account, `${c.name}'s call used ${account}'s token`);
}

// Starts a child with the token in its environment as c (the env operation) and asserts
// it got the current token of provider account `account`, redacted in its output.
async function envAs(c, account) {
  const call = (mode) => c.client.callTool({ name: 'app_env', arguments: { alias: 'token', mode } });
  const rev = structured(await call('rev'));
  assert.equal(rev.spawn, KH.OK, `${c.name}: ${JSON.stringify(rev)}`);
  const token = [...rev.stdout.trim()].reverse().join('');
  assert.equal(accountOf('AccessToken', token), account, `${c.name}'s child got ${account}'s token`);
  const echo = structured(await call('echo'));
  assert.ok(echo.stdout.startsWith('got [REDACTED:token]'), `${c.name}: ${echo.stdout}`);
}

// The first call of a client without tokens: -32042 with one URL elicitation.
async function elicitationOf(c) {
  const error = await c.sign().then(
    (r) => assert.fail(`${c.name}: expected -32042, got ${JSON.stringify(r)}`),
    (e) => e,
  );
  assert.equal(error.code, ErrorCode.UrlElicitationRequired, `${c.name}: ${error.message}`);
  const elicitations = error.elicitations ?? error.data?.elicitations;
  assert.equal(elicitations?.length, 1, JSON.stringify(error.data));
  const [e] = elicitations;
  assert.equal(e.mode, 'url');
  assert.match(e.elicitationId, /^[A-Za-z0-9_-]{20,}$/);
  assert.match(e.message, /users/);
  const url = new URL(e.url);
  assert.equal(url.origin, op.issuer);
  const params = url.searchParams;
  assert.equal(params.get('client_id'), 'keyhold-users');
  assert.equal(params.get('response_type'), 'code');
  assert.equal(params.get('code_challenge_method'), 'S256');
  assert.match(params.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
  assert.match(params.get('state'), /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(params.get('scope').split(' '), ['openid', 'offline_access', 'api:read']);
  assert.equal(params.get('redirect_uri'), `http://127.0.0.1:${host.port}/oauth/callback`);
  return e;
}

// Waits until c was told elicitationId completed.
async function completion(c, elicitationId) {
  for (let i = 0; i < 100 && !c.completed.includes(elicitationId); i++) await sleep(50);
  assert.ok(c.completed.includes(elicitationId), `${c.name} received elicitation/complete`);
}

// Sends the browser to keyhold's callback URL; returns { status, text }.
async function land(callback) {
  const res = await fetch(callback, { redirect: 'manual' });
  const text = await res.text();
  capture(`callback page ${res.status}`, text);
  return { status: res.status, text };
}

let a;
let b;

test("client A's first call asks for a URL elicitation; after alice signs in, the retry uses alice's token", async () => {
  a = await connect('client-a');
  const e = await elicitationOf(a);
  const redirect = `http://127.0.0.1:${host.port}/oauth/callback`;
  const callback = await authorize(e.url, redirect, { login: 'alice' });
  assert.equal(new URL(callback).searchParams.get('iss'), op.issuer);

  // A forged state is refused and uses nothing up.
  const forged = new URL(callback);
  forged.searchParams.set('state', 'A'.repeat(43));
  const refused = await land(forged);
  assert.equal(refused.status, 400);
  assert.match(refused.text, /state is unknown, expired or already used/);
  const noState = new URL(callback);
  noState.searchParams.delete('state');
  assert.equal((await land(noState)).status, 400);

  const tokensBefore = all('AccessToken').length;
  const page = await land(callback);
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /stored your authorization for &#39;users&#39;/);
  assert.equal(all('AccessToken').length, tokensBefore + 1, 'the code was exchanged once');
  await completion(a, e.elicitationId);

  // The same redirect again (a replay) is refused; no code is exchanged.
  const replay = await land(callback);
  assert.equal(replay.status, 400);
  assert.match(replay.text, /already used/);
  assert.equal(all('AccessToken').length, tokensBefore + 1, 'a replay exchanges nothing');

  await signAs(a, 'alice');
  await signAs(a, 'alice');
});

test("client B gets its own URL, signs in as bob, and never gets alice's token (nor A bob's), also in a child's environment", async () => {
  b = await connect('client-b');
  const e = await elicitationOf(b);
  const callback = await authorize(e.url, `http://127.0.0.1:${host.port}/oauth/callback`, { login: 'bob' });
  const page = await land(callback);
  assert.equal(page.status, 200, page.text);
  await completion(b, e.elicitationId);
  assert.ok(!a.completed.includes(e.elicitationId), "B's completion is not sent to A");
  // Interleaved and concurrent: every use is the caller's own.
  await Promise.all([
    ...Array.from({ length: 5 }, () => signAs(a, 'alice')),
    ...Array.from({ length: 5 }, () => signAs(b, 'bob')),
  ]);
  await envAs(a, 'alice');
  await envAs(b, 'bob');
  const entries = await audit(sandbox);
  for (const client of ['client-a', 'client-b'])
    assert.ok(
      entries.some((x) => x.action === 'oauth.login' && x.secret === `oauth-token/users/${client}`),
      `the login of ${client} is audited`,
    );
  const list = await cli(sandbox, ['vault', 'list']);
  assert.match(list.stdout, /oauth-token\/users\/client-a/);
  assert.match(list.stdout, /oauth-token\/users\/client-b/);
  assert.doesNotMatch(list.stdout, /oauth-token\/users\s/, 'no shared record was written');
});

test("each client's token is refreshed on its own: one refresh per client for concurrent calls", async () => {
  await sleep((TTL - MARGIN + 1) * 1000); // both clients' tokens are due now
  const refreshes = () => op.grants.refresh_token ?? 0;
  const before = refreshes();
  await Promise.all([
    ...Array.from({ length: 5 }, () => signAs(a, 'alice')),
    ...Array.from({ length: 5 }, () => signAs(b, 'bob')),
  ]);
  assert.equal(refreshes() - before, 2, 'one refresh per client');
  await Promise.all([signAs(a, 'alice'), signAs(b, 'bob')]);
  assert.equal(refreshes() - before, 2, 'the refreshed tokens are used, not refreshed again');
  const entries = await audit(sandbox);
  for (const client of ['client-a', 'client-b'])
    assert.ok(
      entries.some((x) => x.action === 'oauth.refresh' && x.secret === `oauth-token/users/${client}`),
      `the refresh of ${client}'s record is audited`,
    );
});

test("a third client's authorization stores its own record; the others keep theirs", async () => {
  const pending = await connect('client-c');
  const e = await elicitationOf(pending);
  const callback = await authorize(e.url, `http://127.0.0.1:${host.port}/oauth/callback`, { login: 'carol' });
  assert.equal((await land(callback)).status, 200);
  await completion(pending, e.elicitationId);
  await signAs(pending, 'carol');
  await signAs(a, 'alice');
  await signAs(b, 'bob');
});

test('a client without URL elicitation is told the CLI login, which then works', async () => {
  // client-c's record exists now; log in a fourth client without URL elicitation.
  clientTokens['client-d'] = await createToken(sandbox, 'client-d');
  const d = await connect('client-d', { urlMode: false });
  const result = await d.sign();
  assert.equal(result.isError, true, JSON.stringify(result));
  assert.match(result.content[0].text, /keyhold oauth login users --client client-d/);
  assert.ok(!d.messages.some((m) => m.error?.code === ErrorCode.UrlElicitationRequired));

  const { url, redirect, done } = await startLogin(sandbox, host.configPath, 'users', ['--client', 'client-d']);
  const callback = await authorize(url, redirect, { login: 'dave' });
  assert.equal((await fetch(callback)).status, 200);
  const login = await done;
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /stored in the vault as oauth-token\/users\/client-d/);
  await signAs(d, 'dave');

  // The CLI requires --client for a per_user provider.
  const missing = await cli(sandbox, ['oauth', '--config', host.configPath, 'login', 'users', '--no-browser'], { expect: 2 });
  assert.match(missing.stderr, /is per_user: name the client/);

  // status shows each client's record (never a token); logout --client signs one client out.
  const status = JSON.parse((await cli(sandbox, ['oauth', '--config', host.configPath, 'status', '--json'])).stdout);
  const subjects = Object.fromEntries(status.filter((e) => e.provider === 'users').map((e) => [e.client, e.subject]));
  assert.deepEqual(subjects, { 'client-a': 'alice', 'client-b': 'bob', 'client-c': 'carol', 'client-d': 'dave' });
  assert.ok(status.every((e) => e.provider !== 'users' || e.state === 'valid'), JSON.stringify(status));
  const daveToken = all('AccessToken').find((t) => accountOf('AccessToken', t) === 'dave');
  await cli(sandbox, ['oauth', '--config', host.configPath, 'logout', 'users', '--client', 'client-d']);
  assert.ok(!stillStored('AccessToken', daveToken), "dave's token is revoked at the provider");
  const after = await d.sign();
  assert.equal(after.isError, true, JSON.stringify(after));
  assert.match(after.content[0].text, /keyhold oauth login users --client client-d/);
  await signAs(a, 'alice');
});

test('without an authenticated client (stdio) a per_user provider is a clear error', async () => {
  const before = latest('AccessToken');
  const stdio = await serve(sandbox, config(), 'stdio');
  try {
    const result = await stdio.call('app_sign', { alias: 'token', message: 'm' });
    assert.equal(result.isError, true, JSON.stringify(result));
    assert.match(result.content[0].text, /oauth provider 'users' is per_user: .*this session has none/);
  } finally {
    await stdio.close();
  }
  assert.equal(latest('AccessToken'), before);
});
