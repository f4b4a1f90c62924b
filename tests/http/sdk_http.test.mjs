// The official TypeScript SDK client (StreamableHTTPClientTransport) against `keyhold serve
// --http` with a bearer token: initialize, list, call, progress, resuming a call whose SSE
// connection dropped, and DELETE ending the session.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';

import {
  assertNoSecret,
  connectClient,
  createToken,
  echoConfig,
  httpRequest,
  jsonHeaders,
  LATEST_VERSION,
  makeVaultSandbox,
  rawSession,
  sleep,
  startServer,
} from './http_helpers.mjs';

let sandbox;
let server;
let token;

before(async () => {
  sandbox = await makeVaultSandbox();
  token = await createToken(sandbox, 'sdk-client');
  server = await startServer(sandbox, echoConfig(sandbox));
});

after(async () => {
  const result = await server?.stop();
  if (server) {
    assert.equal(result.code, 0, 'keyhold exits 0 on SIGTERM');
    assertNoSecret(assert, server.stderr(), [token], 'the server log');
  }
  sandbox?.cleanup();
});

test('SDK client initializes, lists and calls the echo tools with a token', async () => {
  const { client, transport } = await connectClient(server.url, token);
  try {
    assert.ok(transport.sessionId, 'the server assigned a session id');
    assert.equal(client.getServerVersion()?.name, 'keyhold');
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    for (const name of ['echo_add', 'echo_echo', 'echo_slow']) assert.ok(names.includes(name), name);

    const echoed = await client.callTool({ name: 'echo_echo', arguments: { text: 'hello over http' } });
    assert.deepEqual(echoed.content, [{ type: 'text', text: 'hello over http' }]);
    const sum = await client.callTool({ name: 'echo_add', arguments: { a: 2, b: 40 } });
    assert.deepEqual(sum.structuredContent, { sum: 42 });
    assert.equal(await client.ping().then(() => 'pong'), 'pong');
  } finally {
    await client.close();
  }
});

test('progress notifications of a call arrive on its stream, in order', async () => {
  const { client } = await connectClient(server.url, token);
  try {
    const progress = [];
    const result = await client.callTool(
      { name: 'echo_slow', arguments: { steps: 5, delay_ms: 20 } },
      undefined,
      { onprogress: (p) => progress.push(p) },
    );
    assert.deepEqual(result.content, [{ type: 'text', text: 'completed 5 steps' }]);
    assert.deepEqual(progress.map((p) => p.progress), [1, 2, 3, 4, 5]);
    assert.ok(progress.every((p) => p.total === 5));
  } finally {
    await client.close();
  }
});

// A TCP proxy between client and server that cuts, once, the connection carrying the
// echo_slow call after two progress events went through it: a real dropped connection,
// seen by both sides as a closed socket.
function startCuttingProxy(upstreamPort) {
  const state = { cuts: 0, connections: 0 };
  const proxy = net.createServer((downstream) => {
    state.connections += 1;
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    let armed = false;
    let progressSeen = 0;
    const cut = () => {
      state.cuts += 1;
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('data', (chunk) => {
      if (state.cuts === 0 && chunk.toString('latin1').includes('"name":"echo_slow"')) armed = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (armed) {
        progressSeen += chunk.toString('latin1').split('notifications/progress').length - 1;
        if (progressSeen >= 2 && state.cuts === 0) {
          downstream.write(chunk, cut);
          return;
        }
      }
      downstream.write(chunk);
    });
    downstream.on('end', () => upstream.end());
    upstream.on('end', () => downstream.end());
    downstream.on('error', () => upstream.destroy());
    upstream.on('error', () => downstream.destroy());
  });
  return new Promise((resolve) =>
    proxy.listen(0, '127.0.0.1', () => resolve({ port: proxy.address().port, state, close: () => proxy.close() })),
  );
}

test('a call resumes with Last-Event-ID after its SSE connection drops mid-stream', async () => {
  const proxy = await startCuttingProxy(server.port);
  const errors = [];
  const { client, transport } = await connectClient(`http://127.0.0.1:${proxy.port}/mcp`, token, {
    transportOptions: {
      reconnectionOptions: {
        initialReconnectionDelay: 100,
        maxReconnectionDelay: 1000,
        reconnectionDelayGrowFactor: 1.5,
        maxRetries: 5,
      },
    },
  });
  transport.onerror = (e) => errors.push(e.message);
  const tokens = [];
  try {
    const progress = [];
    const result = await client.callTool(
      { name: 'echo_slow', arguments: { steps: 8, delay_ms: 150 } },
      undefined,
      {
        onprogress: (p) => progress.push(p.progress),
        onresumptiontoken: (t) => tokens.push(t),
        timeout: 60_000,
      },
    );
    assert.equal(proxy.state.cuts, 1, 'the proxy cut the call connection once');
    assert.ok(
      errors.some((m) => m.includes('SSE stream disconnected')),
      'the SDK saw the connection drop',
    );
    assert.deepEqual(result.content, [{ type: 'text', text: 'completed 8 steps' }]);
    // Every progress event exactly once, in order: nothing lost, nothing sent twice.
    assert.deepEqual(progress, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(tokens.length >= 3, 'the SDK tracked SSE event ids for resumption');
    assert.equal(new Set(tokens).size, tokens.length, 'event ids are unique');
  } finally {
    await client.close();
    proxy.close();
  }
});

test('DELETE ends the session; the id is unknown afterwards (404)', async () => {
  const { client, transport } = await connectClient(server.url, token);
  const sessionId = transport.sessionId;
  await client.listTools();
  await transport.terminateSession();
  await client.close();
  const after = await httpRequest(server.port, {
    headers: jsonHeaders({
      Authorization: `Bearer ${token}`,
      'Mcp-Session-Id': sessionId,
      'MCP-Protocol-Version': LATEST_VERSION,
    }),
    body: { jsonrpc: '2.0', id: 7, method: 'tools/list' },
  });
  assert.equal(after.status, 404);
  const again = await httpRequest(server.port, {
    method: 'DELETE',
    headers: { Authorization: `Bearer ${token}`, 'Mcp-Session-Id': sessionId },
  });
  assert.equal(again.status, 404);
});

// Opens a POST whose answer comes as SSE, reads its first event's id, and leaves.
function postAndLeave(port, headers, message) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/mcp', headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => {
        text += c.toString('utf8');
        const m = /^id: (\S+)$/m.exec(text);
        if (m) {
          req.destroy();
          resolve(m[1]);
        }
      });
      res.on('error', () => {});
    });
    req.on('error', (e) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    req.end(JSON.stringify(message));
  });
}

// A GET resuming after event `last`; what arrives within a second.
function resume(port, headers, last) {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'GET', path: '/mcp', agent: false, headers: { ...headers, 'Last-Event-ID': last } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c.toString('utf8')));
        res.on('error', () => {});
        setTimeout(() => {
          req.destroy();
          resolve(text);
        }, 1000);
      },
    );
    req.on('error', () => {});
    req.end();
  });
}

test('answers nobody collected are kept for resumption, the newest 16 per session', async () => {
  const session = await rawSession(server.port, token);
  const headers = jsonHeaders({
    Authorization: `Bearer ${token}`,
    'Mcp-Session-Id': session,
    'MCP-Protocol-Version': LATEST_VERSION,
  });
  const ids = [];
  for (let i = 0; i < 24; i++)
    ids.push(
      await postAndLeave(server.port, headers, {
        jsonrpc: '2.0',
        id: `left-${i}`,
        method: 'tools/call',
        // Answered after the client left (a quick answer would leave with the priming event).
        params: { name: 'echo_slow', arguments: { steps: 1, delay_ms: 200 } },
      }),
    );
  await sleep(1500);
  const newest = await resume(server.port, headers, ids[23]);
  assert.match(newest, /completed 1 steps/, `the newest answer is there to resume: ${newest}`);
  const oldest = await resume(server.port, headers, ids[0]);
  assert.doesNotMatch(oldest, /completed 1 steps/, 'the oldest was dropped');
});
