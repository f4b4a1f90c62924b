// HTTP-level protocol errors of `keyhold serve --http`, with a valid token so that only the
// protocol is at fault: DNS-rebinding defences (Origin, Host), MCP-Protocol-Version,
// session ids, DELETE, methods and media types.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  createToken,
  echoConfig,
  httpRequest,
  initializeMessage,
  jsonHeaders,
  LATEST_VERSION,
  makeVaultSandbox,
  rawSession,
  startServer,
} from './http_helpers.mjs';

let sandbox;
let server;
let token;
let auth;

before(async () => {
  sandbox = await makeVaultSandbox();
  token = await createToken(sandbox, 'protocol');
  auth = { Authorization: `Bearer ${token}` };
  server = await startServer(sandbox, echoConfig(sandbox));
});

after(async () => {
  if (server) assert.equal((await server.stop()).code, 0);
  sandbox?.cleanup();
});

const sessionHeaders = (id, extra = {}) =>
  jsonHeaders({ ...auth, 'Mcp-Session-Id': id, 'MCP-Protocol-Version': LATEST_VERSION, ...extra });
const listTools = { jsonrpc: '2.0', id: 5, method: 'tools/list' };

test('a foreign Origin -> 403; loopback origins are fine', async () => {
  const bad = await httpRequest(server.port, {
    headers: jsonHeaders({ ...auth, Origin: 'http://evil.example.com' }),
    body: initializeMessage(),
  });
  assert.equal(bad.status, 403);
  assert.match(bad.body, /Origin/);
  const good = await httpRequest(server.port, {
    headers: jsonHeaders({ ...auth, Origin: `http://localhost:${server.port}`, Accept: 'application/json' }),
    body: initializeMessage(),
  });
  assert.equal(good.status, 200);
});

test('a foreign Host (DNS rebinding) -> 4xx', async () => {
  const res = await httpRequest(server.port, {
    headers: jsonHeaders({ ...auth, Host: `evil.example.com:${server.port}` }),
    body: initializeMessage(),
  });
  assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
});

test('an unsupported MCP-Protocol-Version -> 400; absent means 2025-03-26', async () => {
  const id = await rawSession(server.port, token);
  const bad = await httpRequest(server.port, {
    headers: sessionHeaders(id, { 'MCP-Protocol-Version': '1999-01-01' }),
    body: listTools,
  });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /MCP-Protocol-Version/);
  const absent = await httpRequest(server.port, {
    headers: jsonHeaders({ ...auth, 'Mcp-Session-Id': id, Accept: 'application/json' }),
    body: listTools,
  });
  assert.equal(absent.status, 200);
});

test('an unknown session -> 404; no session id after initialize -> 400', async () => {
  const unknown = await httpRequest(server.port, {
    headers: sessionHeaders('0123456789abcdef0123456789abcdef0123456789abcdef'),
    body: listTools,
  });
  assert.equal(unknown.status, 404);
  const missing = await httpRequest(server.port, { headers: jsonHeaders(auth), body: listTools });
  assert.equal(missing.status, 400);
});

test('DELETE ends the session: later requests on it -> 404', async () => {
  const id = await rawSession(server.port, token);
  const del = await httpRequest(server.port, { method: 'DELETE', headers: { ...auth, 'Mcp-Session-Id': id } });
  assert.equal(del.status, 200);
  const after = await httpRequest(server.port, { headers: sessionHeaders(id), body: listTools });
  assert.equal(after.status, 404);
});

test('wrong method, media type, path and Accept are refused with the right status', async () => {
  const put = await httpRequest(server.port, { method: 'PUT', headers: jsonHeaders(auth), body: '{}' });
  assert.equal(put.status, 405);
  const text = await httpRequest(server.port, {
    headers: { ...auth, 'Content-Type': 'text/plain', Accept: 'application/json, text/event-stream' },
    body: 'hello',
  });
  assert.equal(text.status, 415);
  const path = await httpRequest(server.port, { path: '/other', headers: jsonHeaders(auth), body: '{}' });
  assert.equal(path.status, 404);
  const accept = await httpRequest(server.port, {
    headers: { ...auth, 'Content-Type': 'application/json', Accept: 'text/html' },
    body: initializeMessage(),
  });
  assert.equal(accept.status, 406);
  const garbage = await httpRequest(server.port, { headers: jsonHeaders(auth), body: '{not json' });
  assert.equal(garbage.status, 400);
  assert.match(garbage.body, /-32700/);
});
