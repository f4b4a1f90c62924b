// No input from a client may crash or wedge the host (Streamable HTTP), while a valid SDK
// client calls echo_echo throughout and must get every answer: each case of
// hostile_messages.mjs gets an HTTP response with its JSON-RPC error (never a closed
// socket), a failed initialize leaves no session, a flood of sessions from one token
// cannot lock another token out, abandoned sessions expire, duplicate ids in flight are
// refused at once, and HTTP/1.0 clients get responses they can read.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { checkErrorAnswer, hostileCases, hostileNotifications } from '../e2e/hostile_messages.mjs';
import {
  createToken,
  echoConfig,
  httpRequest,
  initializeMessage,
  jsonHeaders,
  LATEST_VERSION,
  makeVaultSandbox,
  rawExchange,
  rawSession,
  sleep,
  startServer,
  startValidClient,
} from './http_helpers.mjs';

let sandbox;
let server;
const tokens = {};
let live; // the valid client

const authOf = (name) => ({ Authorization: `Bearer ${tokens[name]}` });
const sessionHeaders = (name, id, extra = {}) =>
  jsonHeaders({ ...authOf(name), 'Mcp-Session-Id': id, 'MCP-Protocol-Version': LATEST_VERSION, Accept: 'application/json', ...extra });

before(async () => {
  sandbox = await makeVaultSandbox();
  for (const name of ['live', 'hostile', 'flood', 'other']) tokens[name] = await createToken(sandbox, name);
  server = await startServer(
    sandbox,
    echoConfig(
      sandbox,
      'max_sessions_per_token = 8\nabandoned_session_timeout = "3s"\nrate_limit = { rate = 10000, burst = 10000 }',
    ),
  );
  live = await startValidClient(server.url, tokens.live);
});

after(async () => {
  if (live) {
    await live.stop();
    assert.deepEqual(live.state.failures, [], 'the valid client got every answer');
    assert.ok(live.state.calls > 20, `the valid client kept calling (${live.state.calls} calls)`);
  }
  if (server) assert.equal((await server.stop()).code, 0, server.stderr());
  sandbox?.cleanup();
});

async function ping(id) {
  const res = await httpRequest(server.port, {
    headers: sessionHeaders('hostile', id),
    body: { jsonrpc: '2.0', id: 'ping', method: 'ping' },
  });
  assert.equal(res.status, 200, res.body);
  assert.deepEqual(JSON.parse(res.body).result, {});
}

test('every hostile message gets an HTTP response with its error; the session goes on', async () => {
  const id = await rawSession(server.port, tokens.hostile);
  for (const c of hostileCases) {
    const isInitialize = c.text.includes('"initialize"');
    const res = await httpRequest(server.port, {
      headers: isInitialize ? jsonHeaders({ ...authOf('hostile'), Accept: 'application/json' }) : sessionHeaders('hostile', id),
      body: c.text,
    });
    // Messages that are not valid JSON-RPC get 400; valid requests with bad params 200.
    const expected = c.code === -32600 || c.code === -32700 ? 400 : 200;
    assert.equal(res.status, expected, `${c.name}: HTTP ${res.status} ${res.body}`);
    assert.equal(checkErrorAnswer(c, JSON.parse(res.body)), null, c.name);
    if (isInitialize) assert.equal(res.headers['mcp-session-id'], undefined, `${c.name} created a session`);
    await ping(id);
  }
  for (const text of hostileNotifications) {
    const res = await httpRequest(server.port, { headers: sessionHeaders('hostile', id), body: text });
    assert.equal(res.status, 202, `${text}: ${res.status} ${res.body}`);
    await ping(id);
  }
});

test('a failed initialize leaves no session behind (max_sessions = 2)', async () => {
  const own = await startServer(sandbox, echoConfig(sandbox, 'max_sessions = 2\nmax_sessions_per_token = 100'));
  try {
    for (let i = 0; i < 10; ++i) {
      const res = await httpRequest(own.port, {
        headers: jsonHeaders({ ...authOf('hostile'), Accept: 'application/json' }),
        body: { jsonrpc: '2.0', id: i, method: 'initialize', params: { protocolVersion: i } },
      });
      assert.equal(res.status, 200, res.body);
      assert.equal(JSON.parse(res.body).error?.code, -32602, res.body);
      assert.equal(res.headers['mcp-session-id'], undefined);
    }
    // Both slots are still free.
    const first = await rawSession(own.port, tokens.hostile);
    const second = await rawSession(own.port, tokens.hostile);
    assert.notEqual(first, second);
    const third = await httpRequest(own.port, {
      headers: jsonHeaders({ ...authOf('hostile'), Accept: 'application/json' }),
      body: initializeMessage(),
    });
    assert.equal(third.status, 503, 'the cap still holds');
  } finally {
    assert.equal((await own.stop()).code, 0, own.stderr());
  }
});

test('1,000 sessions from one token leave another token able to initialize', async () => {
  let made = 0;
  for (let batch = 0; batch < 50; ++batch) {
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        httpRequest(server.port, {
          headers: jsonHeaders({ ...authOf('flood'), Accept: 'application/json' }),
          body: initializeMessage(),
        }),
      ),
    );
    for (const r of results) {
      assert.ok(r.status === 200 || r.status === 503, `flood initialize: ${r.status} ${r.body}`);
      if (r.status === 200) made += 1;
    }
  }
  assert.ok(made > 0);
  const other = await rawSession(server.port, tokens.other);
  assert.match(other, /^[0-9a-f]{48}$/);
  const res = await httpRequest(server.port, {
    headers: sessionHeaders('other', other),
    body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo_echo', arguments: { text: 'still here' } } },
  });
  assert.equal(JSON.parse(res.body).result?.content?.[0]?.text, 'still here');
});

test('an abandoned session expires after abandoned_session_timeout', async () => {
  const id = await rawSession(server.port, tokens.hostile);
  await ping(id);
  await sleep(5000);
  const res = await httpRequest(server.port, {
    headers: sessionHeaders('hostile', id),
    body: { jsonrpc: '2.0', id: 'late', method: 'ping' },
  });
  assert.equal(res.status, 404, res.body);
});

test('a duplicate request id in flight is refused at once (409); the first call completes', async () => {
  const id = await rawSession(server.port, tokens.hostile);
  const call = { jsonrpc: '2.0', id: 'dup', method: 'tools/call', params: { name: 'echo_slow', arguments: { steps: 5, delay_ms: 200 } } };
  const first = httpRequest(server.port, { headers: sessionHeaders('hostile', id), body: call });
  await sleep(300);
  const started = Date.now();
  const second = await httpRequest(server.port, { headers: sessionHeaders('hostile', id), body: call });
  assert.equal(second.status, 409, second.body);
  assert.equal(JSON.parse(second.body).error?.code, -32600);
  assert.equal(JSON.parse(second.body).id, 'dup');
  assert.ok(Date.now() - started < 500, 'refused without waiting for the first');
  const done = await first;
  assert.equal(JSON.parse(done.body).result?.content?.[0]?.text, 'completed 5 steps');
  // The id is free again once answered.
  const again = await httpRequest(server.port, {
    headers: sessionHeaders('hostile', id),
    body: { ...call, params: { name: 'echo_slow', arguments: { steps: 1, delay_ms: 1 } } },
  });
  assert.equal(JSON.parse(again.body).result?.content?.[0]?.text, 'completed 1 steps');
});

test('HTTP/1.0: JSON answers have a length, SSE answers end with the connection', async () => {
  const auth = `Authorization: Bearer ${tokens.hostile}\r\n`;
  const body = JSON.stringify(initializeMessage());
  const init = await rawExchange(
    server.port,
    `POST /mcp HTTP/1.0\r\nHost: 127.0.0.1\r\n${auth}Content-Type: application/json\r\n` +
      `Accept: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  assert.match(init.text, /^HTTP\/1\.0 200/);
  assert.doesNotMatch(init.text, /Transfer-Encoding: chunked/i);
  const session = /mcp-session-id: ([0-9a-f]+)/i.exec(init.text)[1];
  const call = JSON.stringify({ jsonrpc: '2.0', id: 'h10', method: 'tools/call', params: { name: 'echo_slow', arguments: { steps: 2, delay_ms: 10 }, _meta: { progressToken: 'h10' } } });
  const sse = await rawExchange(
    server.port,
    `POST /mcp HTTP/1.0\r\nHost: 127.0.0.1\r\n${auth}Content-Type: application/json\r\n` +
      `Accept: application/json, text/event-stream\r\nMcp-Session-Id: ${session}\r\n` +
      `MCP-Protocol-Version: ${LATEST_VERSION}\r\nContent-Length: ${Buffer.byteLength(call)}\r\n\r\n${call}`,
  );
  assert.match(sse.text, /^HTTP\/1\.0 200/);
  assert.doesNotMatch(sse.text, /Transfer-Encoding: chunked/i);
  const events = sse.text
    .split('\r\n\r\n')
    .slice(1)
    .join('\r\n\r\n')
    .split('\n')
    .filter((l) => l.startsWith('data: {'))
    .map((l) => JSON.parse(l.slice(6)));
  assert.ok(events.some((m) => m.method === 'notifications/progress'), sse.text);
  assert.equal(events.at(-1).result?.content?.[0]?.text, 'completed 2 steps', sse.text);
});

test('a leading UTF-8 BOM is ignored over HTTP too', async () => {
  const id = await rawSession(server.port, tokens.hostile);
  const res = await httpRequest(server.port, {
    headers: sessionHeaders('hostile', id),
    body: '\ufeff' + JSON.stringify({ jsonrpc: '2.0', id: 'bom', method: 'ping' }),
  });
  assert.equal(res.status, 200, res.body);
  assert.deepEqual(JSON.parse(res.body).result, {});
});

test('a 4 MiB message that ends in CRLF is accepted over HTTP', async () => {
  const id = await rawSession(server.port, tokens.hostile);
  const limit = 4 * 1024 * 1024;
  const head = '{"jsonrpc":"2.0","id":"crlf","method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"';
  const tail = '"}}}';
  const text = 'q'.repeat(limit - head.length - tail.length);
  const res = await httpRequest(server.port, { headers: sessionHeaders('hostile', id), body: head + text + tail + '\r\n' });
  assert.equal(res.status, 200, res.body.slice(0, 200));
  assert.equal(JSON.parse(res.body).result?.content?.[0]?.text?.length, text.length);
});
