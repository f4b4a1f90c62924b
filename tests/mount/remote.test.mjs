// Issue 17, acceptance 2: server-everything in its Streamable HTTP mode mounted by
// server.url, behind a loopback proxy written here that refuses any request whose
// Authorization header is not exactly the bearer canary from the vault. Through keyhold,
// with the official SDK client: the tools are listed with the prefix and a call works, the
// transport speaks the protocol's headers (session, version, the GET stream, DELETE at the
// end), a value the server sends back is redacted, the server going down is a clear error
// and the next call after it is back works (a new session), and without the grant the
// instance does not start and says why. The canary never appears in keyhold's output. A
// sampling request of the server reaches the client of its own call even while another
// call is in flight: Streamable HTTP carries it on that call's answer stream.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { CreateMessageRequestSchema } from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';

import { connectSdk, sleep, tomlString } from '../e2e/helpers.mjs';
import { assertNoLeak, audit, capture, cli, grant, newCanary, setSecret } from '../secrets/lib.mjs';
import { listen, startEverythingHttp, stopChild, closeAndSweep, vaultWithCanary } from './lib.mjs';

let sandbox, canary, config, session, client;
let everything; // the server-everything child
let everythingPort, proxyPort;
let proxy;
const everythingLog = { text: '' };

// What the proxy saw: every request, and the refused ones.
const seen = [];
let refused = 0;
let refuseAll = false; // the proxy refuses every request (the 401 test), counted apart
let refusedAll = 0;
const LEAK_WORD = 'please-leak-the-token';
const samplingRequests = [];

// A new port each time: the proxy forwards to whichever everythingPort is current.
async function startEverything() {
  everything = await startEverythingHttp(undefined, everythingLog);
  everythingPort = everything.port;
}

async function stopEverything() {
  const child = everything;
  everything = undefined;
  await stopChild(child);
}

// The loopback proxy: checks the bearer, counts, forwards (streams included), and swaps
// LEAK_WORD for the canary in what the server answers, so the redactor must catch it.
function startProxy() {
  proxy = http.createServer((req, res) => {
    const entry = {
      method: req.method,
      authorized: req.headers.authorization === `Bearer ${canary}`,
      session: req.headers['mcp-session-id'] ?? null,
      version: req.headers['mcp-protocol-version'] ?? null,
      accept: req.headers.accept ?? '',
    };
    seen.push(entry);
    if (refuseAll) {
      refusedAll += 1;
      res
        .writeHead(401, {
          'content-type': 'text/plain',
          'www-authenticate': `Bearer error="invalid_token", scope="mcp:tools", resource_metadata="http://127.0.0.1:${proxyPort}/.well-known/oauth-protected-resource/mcp"`,
        })
        .end('no');
      return;
    }
    if (!entry.authorized) {
      refused += 1;
      res.writeHead(401, { 'content-type': 'text/plain' }).end('wrong or missing bearer token');
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: everythingPort, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.on('data', (chunk) => res.write(chunk.toString('utf8').replaceAll(LEAK_WORD, canary)));
        answer.on('end', () => res.end());
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('upstream down');
    });
    req.pipe(upstream);
  });
  // A free port the first time; the same one after a stop (the config names it).
  return listen(proxy, proxyPort ?? 0).then((port) => {
    proxyPort = port;
  });
}

async function stopProxy() {
  const p = proxy;
  proxy = undefined;
  await new Promise((resolve) => {
    p.close(resolve);
    p.closeAllConnections();
  });
}

before(async () => {
  ({ sandbox, canary } = await vaultWithCanary('mount-remote', 'remote', 'remote', 'team/remote-token'));
  await startEverything();
  await startProxy();
  config = sandbox.writeConfig(
    `[instances.remote]\n` +
      `server.url = ${tomlString(`http://127.0.0.1:${proxyPort}/mcp`)}\n` +
      `server.headers = { Authorization = "Bearer {secret:api-token}" }\n` +
      `[instances.remote.secrets]\n` +
      `api-token = "vault:team/remote-token"\n`,
  );
  session = await connectSdk(sandbox, config, [], { capabilities: { sampling: {} } });
  client = session.client;
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    samplingRequests.push(request.params);
    return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled-by-the-sdk-client' } };
  });
});

after(async () => {
  await closeAndSweep(client, session);
  if (proxy) await stopProxy();
  await stopEverything();
  sandbox?.cleanup();
});

const textOf = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

test('the remote tools are listed with the prefix and a call works, with the bearer from the vault', async () => {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  assert.ok(names.includes('remote_echo'), `no remote_echo in ${names.join(', ')}`);
  assert.ok(names.every((n) => n.startsWith('remote_')), names.join(', '));
  assert.ok(names.length >= 5, names.join(', '));
  const result = await client.callTool({ name: 'remote_echo', arguments: { message: 'over http' } });
  assert.notEqual(result.isError, true, textOf(result));
  assert.match(textOf(result), /over http/);
  const sum = await client.callTool({ name: 'remote_get-sum', arguments: { a: 2, b: 40 } });
  assert.match(textOf(sum), /42/);
  assert.equal(refused, 0, 'the proxy refused a request of keyhold');
  assert.ok(seen.length >= 4, `only ${seen.length} requests reached the proxy`);
});

test("a sampling request is linked to its own call by its answer stream, even with another call in flight", async () => {
  // Over stdio keyhold refuses this (it cannot tell the calls apart: everything.test.mjs);
  // over Streamable HTTP the request comes on the POST stream of the call that caused it.
  const before = samplingRequests.length;
  const long = client.callTool({ name: 'remote_trigger-long-running-operation', arguments: { duration: 3, steps: 3 } });
  await sleep(300);
  const sampled = await client.callTool({
    name: 'remote_trigger-sampling-request',
    arguments: { prompt: 'say hello over http', maxTokens: 20 },
  });
  assert.equal(samplingRequests.length, before + 1, textOf(sampled));
  assert.match(JSON.stringify(samplingRequests.at(-1).messages), /say hello over http/);
  assert.match(textOf(sampled), /sampled-by-the-sdk-client/);
  assert.match(textOf(await long), /Long running operation completed/);
});

test('the transport speaks Streamable HTTP: session, protocol version, accept, the GET stream', async () => {
  const posts = seen.filter((r) => r.method === 'POST');
  assert.equal(posts[0].session, null, 'initialize must go without a session');
  assert.match(posts[0].accept, /application\/json/);
  assert.match(posts[0].accept, /text\/event-stream/);
  const later = posts.slice(1);
  assert.ok(later.length > 0);
  for (const r of later) {
    assert.match(r.session ?? '', /^[\x21-\x7e]+$/, 'a later POST without the session id');
    assert.equal(r.version, '2025-11-25');
  }
  // The server offers its own stream: keyhold opens it.
  for (let i = 0; i < 50 && !seen.some((r) => r.method === 'GET'); i++) await sleep(100);
  const get = seen.find((r) => r.method === 'GET');
  assert.ok(get, 'no GET stream was opened');
  assert.match(get.accept, /text\/event-stream/);
});

test('what the server sends back with the token in it reaches the client redacted', async () => {
  const result = await client.callTool({ name: 'remote_echo', arguments: { message: LEAK_WORD } });
  const text = textOf(result);
  assert.match(text, /\[REDACTED:api-token\]/);
  assertNoLeak(text, 'the echo result');
});

test('a rotated vault secret is in the next request without a restart, and the redactor knows it', async () => {
  const rotated = newCanary('remote-rotated');
  await setSecret(sandbox, 'team/remote-token', rotated);
  canary = rotated; // from now on the proxy wants the new value
  const postsBefore = seen.filter((r) => r.method === 'POST').length;
  const result = await client.callTool({ name: 'remote_echo', arguments: { message: 'after rotation' } });
  assert.notEqual(result.isError, true, textOf(result));
  assert.equal(refused, 0, 'a request after the rotation carried the old value');
  assert.ok(seen.filter((r) => r.method === 'POST').length > postsBefore);
  const echoed = await client.callTool({ name: 'remote_echo', arguments: { message: LEAK_WORD } });
  assert.match(textOf(echoed), /\[REDACTED:api-token\]/);
  assertNoLeak(textOf(echoed), 'the echo result after the rotation');
});

test('a value the server refuses (401): no second attempt, a clear error naming the secret, audited', async () => {
  refuseAll = true;
  try {
    const before = refusedAll;
    const result = await client.callTool({ name: 'remote_echo', arguments: { message: 'refused' } });
    assert.equal(result.isError, true);
    assert.match(
      textOf(result),
      /HTTP 401 from http:\/\/127\.0\.0\.1:\d+: header Authorization: the server refused the value of secret alias 'api-token' \(vault:team\/remote-token\): replace it with `keyhold vault set team\/remote-token`/,
    );
    assert.match(
      textOf(result),
      /the server's challenge: Bearer error=invalid_token scope="mcp:tools" resource_metadata=http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp \(its OAuth protected resource metadata, RFC 9728/,
    );
    assert.equal(refusedAll, before + 1, 'a plain secret is not sent again');
  } finally {
    refuseAll = false;
  }
  // Audit entries are written in the background: wait for the refusal's.
  let events = [];
  for (let i = 0; i < 30 && !events.some((e) => e.action === 'handle.header' && e.outcome === 'refused'); i++) {
    if (i > 0) await sleep(200);
    events = await audit(sandbox);
  }
  const refusal = events.filter((e) => e.action === 'handle.header' && e.outcome === 'refused').at(-1);
  assert.ok(refusal, 'the refusal is audited');
  assert.match(refusal.detail, /alias=api-token HTTP 401 from http:\/\/127\.0\.0\.1:\d+/);
  const uses = events.filter((e) => e.action === 'handle.header' && e.outcome === 'ok');
  assert.ok(uses.length >= 8, `every request's header is a use, audited (${uses.length})`);
});

test('the server going down is a clear error; the next call after it is back works', async () => {
  const postsBefore = seen.filter((r) => r.method === 'POST').length;
  await stopEverything();
  await stopProxy();
  const down = await client.callTool({ name: 'remote_echo', arguments: { message: 'while down' } });
  assert.equal(down.isError, true);
  assert.match(
    textOf(down),
    new RegExp(
      `mounted server of instance 'remote' stopped: cannot reach http://127\\.0\\.0\\.1:${proxyPort}: .*; keyhold connects again on the next call`,
    ),
  );
  const again = await client.callTool({ name: 'remote_echo', arguments: { message: 'still down' } });
  assert.equal(again.isError, true);
  assert.match(textOf(again), /could not reach its server: .*the next call tries again/);
  await startEverything(); // a new process: it knows no session of before
  await startProxy();
  const back = await client.callTool({ name: 'remote_echo', arguments: { message: 'back again' } });
  assert.notEqual(back.isError, true, textOf(back));
  assert.match(textOf(back), /back again/);
  const fresh = seen.filter((r) => r.method === 'POST').slice(postsBefore);
  assert.ok(fresh.some((r) => r.session === null), 'no new initialize after the server came back');
  assert.equal(refused, 0);
});

test('without the grant the instance does not start, and keyhold says which alias lacks it', async () => {
  await cli(sandbox, ['vault', 'revoke', 'remote', 'team/remote-token']);
  try {
    const countBefore = seen.length;
    const second = await connectSdk(sandbox, config);
    try {
      const { tools } = await second.client.listTools();
      assert.deepEqual(tools.filter((t) => t.name.startsWith('remote_')), []);
    } finally {
      await second.client.close();
      await second.stderrEnded;
    }
    const stderr = second.stderr();
    capture('second keyhold serve stderr', stderr);
    assert.match(
      stderr,
      /instance 'remote' \(server\.url http:\/\/127\.0\.0\.1:\d+\/mcp\) skipped: .*header Authorization: secret alias 'api-token' is not granted for env \(grant it with `keyhold vault grant remote SECRET --ops env`\)/,
    );
    assert.equal(seen.length, countBefore, 'keyhold sent a request without its header');
  } finally {
    await grant(sandbox, 'remote', 'team/remote-token', 'env');
  }
});

test('shutdown deletes the session on the server', async () => {
  const third = await connectSdk(sandbox, config);
  const { tools } = await third.client.listTools();
  assert.ok(tools.some((t) => t.name === 'remote_echo'));
  const before = seen.filter((r) => r.method === 'DELETE').length;
  await third.client.close();
  await third.stderrEnded;
  capture('third keyhold serve stderr', third.stderr());
  const deletes = seen.filter((r) => r.method === 'DELETE');
  assert.equal(deletes.length, before + 1, 'no DELETE of the session at shutdown');
  assert.ok(deletes.at(-1).session, 'the DELETE named no session');
  assert.ok(deletes.at(-1).authorized);
});
