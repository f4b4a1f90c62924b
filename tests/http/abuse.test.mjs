// Abuse while a valid client keeps working: a burst of 2,000 connections, a 100 MB body,
// a client trickling one byte a second, malformed HTTP, and connections beyond
// max_connections. The valid SDK client calls echo_echo throughout and must get every
// answer, each one right.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';

import {
  createToken,
  echoConfig,
  httpRequest,
  initializeMessage,
  jsonHeaders,
  makeVaultSandbox,
  rawExchange,
  sleep,
  startServer,
  startValidClient,
} from './http_helpers.mjs';

let sandbox;
let server;
let token;
let valid; // { client, stop(), results }

before(async () => {
  sandbox = await makeVaultSandbox();
  token = await createToken(sandbox, 'valid', ['--tools', 'echo_*']);
  server = await startServer(
    sandbox,
    echoConfig(sandbox, 'read_timeout = "2s"\nmax_connections = 256\nrate_limit = { rate = 1000, burst = 1000 }'),
  );
  valid = await startValidClient(server.url, token);
});

after(async () => {
  if (valid) {
    await valid.stop();
    assert.deepEqual(valid.state.failures, [], 'the valid client got every answer');
    assert.ok(valid.state.calls > 20, `the valid client kept calling (${valid.state.calls} calls)`);
  }
  if (server) assert.equal((await server.stop()).code, 0, server.stderr());
  sandbox?.cleanup();
});

test('a burst of 2,000 connections is absorbed', async () => {
  const before = valid.state.calls;
  const batch = 50;
  let answered401 = 0;
  let closedQuietly = 0;
  for (let start = 0; start < 2000; start += batch) {
    const jobs = [];
    for (let i = start; i < start + batch; i++) {
      if (i % 2 === 0) {
        // connect and hang up at once
        jobs.push(
          new Promise((resolve) => {
            const s = net.connect(server.port, '127.0.0.1', () => s.end());
            s.on('error', () => {});
            s.on('close', () => {
              closedQuietly += 1;
              resolve();
            });
          }),
        );
      } else {
        // a request without a token
        jobs.push(
          httpRequest(server.port, { headers: jsonHeaders(), body: initializeMessage() }).then((r) => {
            if (r.status === 401) answered401 += 1;
          }),
        );
      }
    }
    await Promise.all(jobs);
  }
  assert.equal(closedQuietly, 1000);
  assert.equal(answered401, 1000, 'every tokenless request got its 401');
  assert.ok(valid.state.calls > before, 'the valid client made progress during the burst');
});

test('a 100 MB body is refused with 413 without being read', async () => {
  const head =
    `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAuthorization: Bearer ${token}\r\n` +
    'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n' +
    `Content-Length: ${100 * 1024 * 1024}\r\n\r\n`;
  const { text, closedAfterMs } = await rawExchange(server.port, head + '{"jsonrpc":"2.0",' + 'x'.repeat(64 * 1024));
  assert.match(text, /^HTTP\/1\.1 413 /);
  assert.ok(closedAfterMs < 5000, `closed after ${closedAfterMs} ms`);
});

test('a client sending one byte a second is cut off by the read timeout', async () => {
  const request =
    `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Type: application/json\r\n` +
    'Content-Length: 2\r\n\r\n{}';
  const started = Date.now();
  const socket = net.connect(server.port, '127.0.0.1');
  socket.on('error', () => {});
  let sent = 0;
  const closed = new Promise((resolve) => socket.on('close', resolve));
  const timer = setInterval(() => {
    if (sent < request.length && !socket.destroyed) socket.write(request[sent++]);
  }, 1000);
  await closed;
  clearInterval(timer);
  const elapsed = Date.now() - started;
  assert.ok(sent < 6, `closed after ${sent} bytes`);
  assert.ok(elapsed >= 1500 && elapsed < 6000, `closed after ${elapsed} ms (read_timeout 2s)`);
});

test('malformed HTTP gets 400 and a closed connection', async () => {
  for (const garbage of [
    'HELLO\r\n\r\n',
    'POST /mcp HTTP/1.1\r\nContent-Length: nope\r\n\r\n',
    'POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n',
    '\x00\x01\x02\x03\xff\xfe\r\n\r\n',
  ]) {
    const { text } = await rawExchange(server.port, garbage, { timeoutMs: 10_000 });
    assert.match(text, /^HTTP\/1\.1 400 /, JSON.stringify(garbage));
  }
  // A header block over the limit: 431.
  const huge = `GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`;
  const { text } = await rawExchange(server.port, huge, { timeoutMs: 10_000 });
  assert.match(text, /^HTTP\/1\.1 431 /);
});

test('connections beyond max_connections are refused politely (503, Retry-After)', async () => {
  const sb = await makeVaultSandbox();
  try {
    const capped = await startServer(sb, echoConfig(sb, 'max_connections = 4\nread_timeout = "20s"'));
    const idle = [];
    try {
      for (let i = 0; i < 4; i++) {
        const s = net.connect(capped.port, '127.0.0.1');
        s.on('error', () => {});
        await new Promise((r) => s.on('connect', r));
        idle.push(s);
      }
      await sleep(300); // let the server accept them
      const { text } = await rawExchange(capped.port, undefined, { timeoutMs: 10_000 });
      assert.match(text, /^HTTP\/1\.1 503 /);
      assert.match(text, /\r\nRetry-After: 1\r\n/);
      for (const s of idle) s.destroy();
      await sleep(300);
      const res = await httpRequest(capped.port, { headers: jsonHeaders(), body: initializeMessage() });
      assert.equal(res.status, 401, 'served again once connections closed');
    } finally {
      for (const s of idle) s.destroy();
      await capped.stop();
    }
  } finally {
    sb.cleanup();
  }
});
