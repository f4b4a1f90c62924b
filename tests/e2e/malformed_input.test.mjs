// Acceptance 5: raw bytes on stdin (no SDK). Each malformed input gets the right JSON-RPC
// error, the connection keeps working, nothing but JSON objects appear on stdout, and the
// process exits 0 on stdin EOF and on SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

import { instanceToml, keyholdBin, makeSandbox } from './helpers.mjs';
import { RawServer } from './raw_server.mjs';

const LIMIT = 4 * 1024 * 1024; // default max_message_bytes

function assertError(msg, code, id) {
  assert.equal(msg.jsonrpc, '2.0', JSON.stringify(msg));
  assert.equal(msg.id, id, JSON.stringify(msg));
  assert.equal(msg.error?.code, code, JSON.stringify(msg));
  assert.equal(typeof msg.error.message, 'string');
  assert.ok(!('result' in msg), JSON.stringify(msg));
}

async function assertPingWorks(server) {
  const r = await server.ping();
  assert.deepEqual(r.result, {}, JSON.stringify(r));
}

describe('malformed input on an initialized session', () => {
  let sandbox;
  let server;

  before(async () => {
    sandbox = makeSandbox();
    server = await RawServer.start(sandbox, sandbox.writeConfig(instanceToml('echo', 'echo')));
    const init = await server.initialize();
    assert.equal(init.result.protocolVersion, '2025-11-25');
  });

  after(async () => {
    server?.kill();
    await server?.exited;
    sandbox?.cleanup();
  });

  afterEach(async () => {
    await assertPingWorks(server);
  });

  test('non-JSON -> -32700 with id null', async () => {
    assertError(await server.sendBad('this is not json\n'), -32700, null);
  });

  test('truncated JSON -> -32700 with id null', async () => {
    assertError(await server.sendBad('{"jsonrpc":"2.0","id":1,"method":"pi\n'), -32700, null);
  });

  test('invalid UTF-8 -> -32700', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"jsonrpc":"2.0","id":"utf8","method":"ping","params":{"x":"'),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('"}}\n'),
    ]);
    assertError(await server.sendBad(bytes), -32700, null);
  });

  test('a 5 MiB line -> -32600 naming the limit', async () => {
    const pad = 'x'.repeat(5 * 1024 * 1024);
    const line = `{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"${pad}"}}}\n`;
    const from = server.messages.length;
    server.write(line);
    const reply = await server.waitFor((m) => 'error' in m, { from, what: 'error for the 5 MiB line' });
    assert.equal(reply.error.code, -32600, JSON.stringify(reply));
    assert.ok(reply.id === null || reply.id === 'big', `id ${reply.id}`);
    assert.match(reply.error.message, new RegExp(`${LIMIT}|4 ?MiB`), reply.error.message);
    // The oversized message must not have been executed.
    assert.ok(!server.messages.slice(from).some((m) => m.id === 'big' && 'result' in m));
  });

  test('a message just under the limit is accepted', async () => {
    const text = 'y'.repeat(LIMIT - 200);
    const r = await server.request('tools/call', { name: 'echo_echo', arguments: { text } });
    assert.equal(r.result?.content?.[0]?.text?.length, text.length);
  });

  test('nesting deeper than 64 -> -32600', async () => {
    for (const arrays of [63, 100, 100_000]) {
      const nested = '['.repeat(arrays) + ']'.repeat(arrays);
      const reply = await server.sendBad(
        `{"jsonrpc":"2.0","id":"deep","method":"ping","params":{"a":${nested}}}\n`,
      );
      assertError(reply, -32600, null);
      assert.match(reply.error.message, /64/);
      await assertPingWorks(server);
    }
  });

  test('nesting of exactly 64 levels is accepted', async () => {
    // The message object itself is level 1, params level 2: 62 more arrays make 64.
    const nested = '['.repeat(62) + ']'.repeat(62);
    const from = server.messages.length;
    server.write(`{"jsonrpc":"2.0","id":"deep64","method":"ping","params":{"a":${nested}}}\n`);
    const r = await server.waitFor((m) => m.id === 'deep64', { from });
    assert.deepEqual(r.result, {}, JSON.stringify(r));
  });

  test('a request without method -> -32600', async () => {
    assertError(await server.sendBad('{"jsonrpc":"2.0","id":7}\n', 7), -32600, 7);
  });

  test('method of the wrong type -> -32600', async () => {
    assertError(await server.sendBad('{"jsonrpc":"2.0","id":8,"method":7}\n', 8), -32600, 8);
  });

  test('params of the wrong type (array) -> -32600', async () => {
    assertError(
      await server.sendBad('{"jsonrpc":"2.0","id":9,"method":"tools/list","params":[]}\n', 9),
      -32600,
      9,
    );
  });

  test('wrong jsonrpc version -> -32600', async () => {
    assertError(await server.sendBad('{"jsonrpc":"1.0","id":10,"method":"ping"}\n', 10), -32600, 10);
  });

  test('id of the wrong type (object) -> -32600 with id null', async () => {
    assertError(await server.sendBad('{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}\n'), -32600, null);
  });

  test('a JSON value that is not an object -> -32600', async () => {
    assertError(await server.sendBad('42\n'), -32600, null);
  });

  test('batch array -> -32600', async () => {
    const batch = JSON.stringify([
      { jsonrpc: '2.0', id: 'b1', method: 'ping' },
      { jsonrpc: '2.0', id: 'b2', method: 'ping' },
    ]);
    const from = server.messages.length;
    assertError(await server.sendBad(batch + '\n'), -32600, null);
    // Batches are not executed.
    await assertPingWorks(server);
    assert.ok(!server.messages.slice(from).some((m) => m.id === 'b1' || m.id === 'b2'));
  });

  test('unknown method -> -32601', async () => {
    const r = await server.request('no/such/method', {}, 11);
    assertError(r, -32601, 11);
  });

  test('unknown notification -> no answer at all', async () => {
    const from = server.messages.length;
    server.send({ jsonrpc: '2.0', method: 'notifications/whatever', params: {} });
    await assertPingWorks(server);
    assert.equal(server.messages.length, from + 1, JSON.stringify(server.messages.slice(from)));
  });

  test('progress notifications arrive in order before the result', async () => {
    const from = server.messages.length;
    server.send({
      jsonrpc: '2.0',
      id: 'slow5',
      method: 'tools/call',
      params: { name: 'echo_slow', arguments: { steps: 5, delay_ms: 1 }, _meta: { progressToken: 'tok5' } },
    });
    const result = await server.waitFor((m) => m.id === 'slow5', { from });
    const progress = server.messages
      .slice(from, server.messages.indexOf(result))
      .filter((m) => m.method === 'notifications/progress' && m.params.progressToken === 'tok5');
    assert.deepEqual(
      progress.map((m) => [m.params.progress, m.params.total]),
      [1, 2, 3, 4, 5].map((i) => [i, 5]),
    );
    assert.equal(result.result.content[0].text, 'completed 5 steps');
  });

  test('notifications/cancelled stops a slow call and no response is sent for it', async () => {
    const from = server.messages.length;
    server.send({
      jsonrpc: '2.0',
      id: 'victim',
      method: 'tools/call',
      params: { name: 'echo_slow', arguments: { steps: 1000, delay_ms: 100 }, _meta: { progressToken: 'vt' } },
    });
    await server.waitFor((m) => m.method === 'notifications/progress' && m.params.progressToken === 'vt', { from });
    server.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'victim', reason: 'test' } });
    // Another call runs to completion after the cancellation.
    const r = await server.request('tools/call', { name: 'echo_slow', arguments: { steps: 3, delay_ms: 50 } });
    assert.equal(r.result.content[0].text, 'completed 3 steps');
    const progressAfter = (n) =>
      server.messages.filter((m) => m.method === 'notifications/progress' && m.params.progressToken === 'vt').length;
    const count = progressAfter();
    await assertPingWorks(server);
    const again = await server.request('tools/call', { name: 'echo_slow', arguments: { steps: 3, delay_ms: 50 } });
    assert.equal(again.result.content[0].text, 'completed 3 steps');
    // The cancelled call made no progress while the two 150 ms calls ran.
    assert.equal(progressAfter(), count);
    assert.ok(!server.messages.some((m) => m.id === 'victim'), 'a response was sent for the cancelled request');
  });

  test('pipelined concurrent calls: every answer arrives whole, never interleaved', async () => {
    const from = server.messages.length;
    const ids = [];
    let batch = '';
    for (let i = 0; i < 40; ++i) {
      const id = `cc${i}`;
      ids.push(id);
      const call =
        i % 4 === 0
          ? { name: 'echo_slow', arguments: { steps: 4, delay_ms: 1 }, _meta: { progressToken: id } }
          : { name: 'echo_echo', arguments: { text: `${i}:` + 'z'.repeat(64 * 1024) } };
      batch += JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: call }) + '\n';
    }
    server.write(batch); // all at once: the calls overlap on the worker pool
    for (const id of ids) await server.waitFor((m) => m.id === id, { from, what: id });
    for (const [i, id] of ids.entries()) {
      const r = server.messages.slice(from).find((m) => m.id === id);
      if (i % 4 === 0) assert.equal(r.result.content[0].text, 'completed 4 steps');
      else assert.equal(r.result.content[0].text, `${i}:` + 'z'.repeat(64 * 1024));
    }
    assert.deepEqual(server.badLines, []);
  });

  test('answers read in one burst are not held back behind a long call in it', async () => {
    // The reader holds the answers to a burst until it has handled what it read; a call that
    // runs long loses the turn, and what was held leaves then, not when the long call ends.
    const from = server.messages.length;
    const line = (id, name, args) =>
      JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }) + '\n';
    const t0 = Date.now();
    server.write(
      line('burst-a', 'echo_echo', { text: 'a' }) +
        line('burst-slow', 'echo_slow', { steps: 1, delay_ms: 3000 }) +
        line('burst-b', 'echo_echo', { text: 'b' }),
    );
    await server.waitFor((m) => m.id === 'burst-a', { from });
    await server.waitFor((m) => m.id === 'burst-b', { from });
    const quick = Date.now() - t0;
    const slow = await server.waitFor((m) => m.id === 'burst-slow', { from });
    assert.equal(slow.result.content[0].text, 'completed 1 steps');
    assert.ok(quick < 2000, `the short answers took ${quick} ms, behind the 3 s call`);
    assert.ok(Date.now() - t0 >= 3000);
  });

  test('stdout held nothing but JSON objects', () => {
    assert.deepEqual(server.badLines, []);
    assert.equal(server.rawStdout.at(-1), 0x0a, 'stdout ends with a newline');
    for (const m of server.messages) assert.equal(m.jsonrpc, '2.0', JSON.stringify(m));
  });
});

describe('lifecycle', () => {
  const cleanups = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  async function start() {
    const sandbox = makeSandbox();
    const server = await RawServer.start(sandbox, sandbox.writeConfig(instanceToml('echo', 'echo')));
    cleanups.push(async () => {
      server.kill();
      await server.exited;
      sandbox.cleanup();
    });
    return server;
  }

  test('a request before initialize -> error; ping is allowed', async () => {
    const server = await start();
    const early = await server.request('tools/list', {}, 'early');
    assert.equal(early.id, 'early');
    assert.ok(early.error, JSON.stringify(early));
    assert.ok(!('result' in early));
    assert.equal(typeof early.error.code, 'number');
    await assertPingWorks(server);
    const init = await server.initialize();
    assert.equal(init.result.protocolVersion, '2025-11-25');
    const list = await server.request('tools/list', {});
    assert.ok(list.result.tools.some((t) => t.name === 'echo_echo'));
    // A second initialize is refused; the session stays usable.
    const again = await server.request('initialize', {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'raw-e2e', version: '1.0.0' },
    });
    assertError(again, -32600, again.id);
    await assertPingWorks(server);
  });

  test('version negotiation: older supported versions are echoed, unknown gets the latest', async () => {
    for (const [asked, expected] of [
      ['2025-11-25', '2025-11-25'],
      ['2025-06-18', '2025-06-18'],
      ['2025-03-26', '2025-03-26'],
      ['1999-01-01', '2025-11-25'],
    ]) {
      const server = await start();
      const init = await server.initialize(asked);
      assert.equal(init.result?.protocolVersion, expected, `asked ${asked}: ${JSON.stringify(init)}`);
      assert.equal(init.result.serverInfo.name, 'keyhold');
      server.closeStdin();
      assert.deepEqual(await server.exited, { code: 0, signal: null });
    }
  });

  test('stdin EOF -> exit 0', async () => {
    const server = await start();
    await server.initialize();
    await assertPingWorks(server);
    server.closeStdin();
    assert.deepEqual(await server.exited, { code: 0, signal: null });
    assert.deepEqual(server.badLines, []);
  });

  test('SIGTERM -> exit 0', async () => {
    const server = await start();
    await server.initialize();
    await assertPingWorks(server);
    server.child.kill('SIGTERM');
    assert.deepEqual(await server.exited, { code: 0, signal: null });
  });

  test('stdin EOF with a call in flight cancels it and exits 0', async () => {
    const server = await start();
    await server.initialize();
    const from = server.messages.length;
    // Would run for 1000 s if not cancelled; the test timeout catches that.
    server.send({
      jsonrpc: '2.0',
      id: 'inflight',
      method: 'tools/call',
      params: { name: 'echo_slow', arguments: { steps: 1000, delay_ms: 1000 }, _meta: { progressToken: 'p' } },
    });
    await server.waitFor((m) => m.method === 'notifications/progress', { from });
    server.closeStdin();
    assert.deepEqual(await server.exited, { code: 0, signal: null });
    assert.deepEqual(server.badLines, []);
  });

  test('SIGTERM with a call in flight cancels it and exits 0', async () => {
    const server = await start();
    await server.initialize();
    const from = server.messages.length;
    server.send({
      jsonrpc: '2.0',
      id: 'inflight',
      method: 'tools/call',
      params: { name: 'echo_slow', arguments: { steps: 1000, delay_ms: 1000 }, _meta: { progressToken: 'p' } },
    });
    await server.waitFor((m) => m.method === 'notifications/progress', { from });
    server.child.kill('SIGTERM');
    assert.deepEqual(await server.exited, { code: 0, signal: null });
  });
});

describe('a client that writes everything before it reads', () => {
  // Calls on stdin from a file; stdout is a pipe nobody reads until keyhold has read all of
  // stdin or made no progress for 5 s, so the answers fill it. keyhold must go on reading stdin meanwhile (answers queue in memory, up to 8 MiB): a
  // client that reads only after writing would otherwise wait for keyhold forever.
  async function burst(requests, check) {
    const sandbox = makeSandbox();
    try {
      const lines = [
        { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'burst', version: '1' } } },
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        ...requests,
      ];
      const input = path.join(sandbox.dir, 'burst.jsonl');
      writeFileSync(input, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      const child = spawn(await keyholdBin(), ['serve', '--config', sandbox.writeConfig(instanceToml('echo', 'echo'))], {
        env: sandbox.env,
        cwd: sandbox.dir,
        stdio: [openSync(input, 'r'), 'pipe', 'ignore'],
      });
      const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
      child.stdout.pause(); // Node still buffers up to its high-water mark, then stops reading
      // Wait while keyhold makes progress (a sanitizer build is slow): stuck is no progress
      // on stdin for 5 s with input left.
      const size = statSync(input).size;
      const readSoFar = () => Number(/pos:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/fdinfo/0`, 'utf8'))[1]);
      let pos = readSoFar();
      for (let still = 0; pos < size && still < 5000; ) {
        await new Promise((r) => setTimeout(r, 250));
        const now = readSoFar();
        still = now === pos ? still + 250 : 0;
        pos = now;
      }
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk.toString('utf8')));
      child.stdout.resume();
      assert.equal(pos, size, `keyhold read ${pos} of ${size} bytes, then waited for the client`);
      assert.equal(await exited, 0);
      // End of input cancels the calls still queued (no answer for those); every answer
      // that came is whole and right.
      const answers = out.trim().split('\n').map((l) => JSON.parse(l)).filter((m) => typeof m.id === 'string');
      assert.ok(answers.length > 0);
      for (const m of answers) check(m);
    } finally {
      sandbox.cleanup();
    }
  }

  test('tools/call: 4000 calls (1.5 MB), answered by calls run inline', async () => {
    const text = (id) => `${id}:` + 'p'.repeat(250);
    const requests = [];
    for (let i = 0; i < 4000; ++i)
      requests.push({ jsonrpc: '2.0', id: `w${i}`, method: 'tools/call', params: { name: 'echo_echo', arguments: { text: text(`w${i}`) } } });
    await burst(requests, (m) => assert.equal(m.result?.content?.[0]?.text, text(m.id), m.id));
  });

  test('tools/list: 2000 requests answered by the reading thread itself (5 MB of answers)', async () => {
    const requests = [];
    for (let i = 0; i < 2000; ++i) requests.push({ jsonrpc: '2.0', id: `l${i}`, method: 'tools/list' });
    await burst(requests, (m) => assert.ok(Array.isArray(m.result?.tools) && m.result.tools.length > 0, m.id));
  });
});
