// No input from a client may crash or wedge the host (stdio). Every case of
// hostile_messages.mjs gets its JSON-RPC error on one long-lived session, which keeps
// answering ping; the process never dies, and stdout holds nothing but JSON objects.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { instanceToml, makeSandbox } from './helpers.mjs';
import { checkErrorAnswer, hostileCases, hostileNotifications } from './hostile_messages.mjs';
import { RawServer } from './raw_server.mjs';

const LIMIT = 4 * 1024 * 1024; // default max_message_bytes

describe('hostile messages on stdio', () => {
  let sandbox;
  let server;

  before(async () => {
    sandbox = makeSandbox();
    server = await RawServer.start(sandbox, sandbox.writeConfig(instanceToml('echo', 'echo')));
  });

  after(async () => {
    assert.deepEqual(server.badLines, [], 'stdout held only JSON objects');
    server.closeStdin();
    assert.deepEqual(await server.exited, { code: 0, signal: null }, 'the host exits 0 on EOF');
    sandbox?.cleanup();
  });

  async function expectError(c) {
    const from = server.messages.length;
    server.write(c.text + '\n');
    const wantId = typeof c.id === 'bigint' ? Number(c.id) : c.id;
    const answer = await server.waitFor((m) => 'error' in m && m.id === wantId, {
      from,
      what: `error for ${c.name}`,
    });
    assert.equal(checkErrorAnswer(c, answer), null);
    const ping = await server.ping();
    assert.deepEqual(ping.result, {}, `ping after ${c.name}`);
  }

  test('before initialize: each message gets its error and the session goes on', async () => {
    for (const c of hostileCases.filter((x) => x.phase === 'fresh')) await expectError(c);
  });

  test('a failed initialize can be followed by a good one', async () => {
    const init = await server.initialize();
    assert.equal(init.result?.protocolVersion, '2025-11-25', JSON.stringify(init));
  });

  test('after initialize: each message gets its error and the session goes on', async () => {
    for (const c of hostileCases.filter((x) => x.phase === 'ready')) await expectError(c);
  });

  test('malformed notifications get no answer and break nothing', async () => {
    for (const text of hostileNotifications) {
      const from = server.messages.length;
      server.write(text + '\n');
      const ping = await server.ping();
      assert.deepEqual(ping.result, {});
      assert.equal(server.messages.length, from + 1, `an answer to ${text}`);
    }
  });

  test('a result that breaks its outputSchema becomes a tool error (1e308 + 1e308)', async () => {
    const r = await server.request('tools/call', { name: 'echo_add', arguments: { a: 1e308, b: 1e308 } });
    assert.equal(r.result?.isError, true, JSON.stringify(r));
    assert.match(r.result.content[0].text, /outputSchema/);
    assert.ok(!('structuredContent' in r.result), JSON.stringify(r));
    const ok = await server.request('tools/call', { name: 'echo_add', arguments: { a: 1, b: 2 } });
    assert.equal(ok.result?.structuredContent?.sum, 3, JSON.stringify(ok));
  });

  test('a duplicate id in flight is refused at once; the first call still completes', async () => {
    const from = server.messages.length;
    const call = (text) =>
      JSON.stringify({ jsonrpc: '2.0', id: 'dup', method: 'tools/call', params: { name: 'echo_slow', arguments: { steps: 3, delay_ms: 100 } } }) + '\n';
    server.write(call() + call());
    const refused = await server.waitFor((m) => m.id === 'dup' && 'error' in m, { from, what: 'refusal of the duplicate' });
    assert.equal(refused.error.code, -32600);
    assert.match(refused.error.message, /already in flight/);
    const done = await server.waitFor((m) => m.id === 'dup' && 'result' in m, { from, what: 'the first call' });
    assert.equal(done.result.content[0].text, 'completed 3 steps');
    const answers = server.messages.slice(from).filter((m) => m.id === 'dup');
    assert.equal(answers.length, 2, JSON.stringify(answers));
  });

  test('a leading UTF-8 byte order mark is ignored', async () => {
    const from = server.messages.length;
    server.write(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"jsonrpc":"2.0","id":"bom","method":"ping"}\n')]));
    const r = await server.waitFor((m) => m.id === 'bom', { from });
    assert.deepEqual(r.result, {}, JSON.stringify(r));
  });

  test('a message of exactly the limit that ends in CRLF is accepted', async () => {
    const head = '{"jsonrpc":"2.0","id":"crlf","method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"';
    const tail = '"}}}';
    const text = 'q'.repeat(LIMIT - head.length - tail.length);
    const from = server.messages.length;
    server.write(head + text + tail + '\r\n');
    const r = await server.waitFor((m) => m.id === 'crlf', { from, what: 'answer to the 4 MiB CRLF line' });
    assert.equal(r.result?.content?.[0]?.text?.length, text.length, JSON.stringify(r).slice(0, 200));
  });

  test('one byte over the limit with CRLF is refused naming the limit', async () => {
    const head = '{"jsonrpc":"2.0","id":"crlf2","method":"ping","params":{"pad":"';
    const tail = '"}}';
    const text = 'q'.repeat(LIMIT + 1 - head.length - tail.length);
    const from = server.messages.length;
    server.write(head + text + tail + '\r\n');
    const r = await server.waitFor((m) => 'error' in m && m.id === null, { from, what: 'refusal' });
    assert.equal(r.error.code, -32600);
    assert.match(r.error.message, new RegExp(String(LIMIT)));
    assert.deepEqual((await server.ping()).result, {});
  });
});
