// Pipelined calls to a mounted stdio server (issue 17's throughput path): requests that
// arrive in one burst are started without a waiting thread each, queued to the server's
// stdin and written together, and finished by whoever reads the server's answers. This
// drives keyhold with raw JSON-RPC, so that a whole burst is at hand in one read, and
// checks what a waiting thread used to guarantee: every answer reaches its own request; a
// cancellation reaches the server; call_timeout ends a call the server never answers; a
// server that dies mid-burst fails every call in flight, and the next call starts it again;
// a server that stops reading its stdin never stops keyhold reading the client.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { makeSandbox, tomlString } from '../e2e/helpers.mjs';
import { RawServer } from '../e2e/raw_server.mjs';
import { NODE_BIN } from './lib.mjs';

const HOSTILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hostile_server.mjs');
let sandbox, server;

before(async () => {
  sandbox = makeSandbox('keyhold-mount-pipelined-');
  const config = sandbox.writeConfig(
    `[instances.srv]\n` +
      `server.command = [${tomlString(NODE_BIN)}, ${tomlString(HOSTILE)}]\n` +
      `[instances.srv.sandbox]\ncall_timeout = "3s"\n` +
      `[instances.slow]\n` +
      `server.command = [${tomlString(NODE_BIN)}, ${tomlString(HOSTILE)}]\n`,
  );
  server = await RawServer.start(sandbox, config);
  await server.initialize();
});

after(async () => {
  server?.closeStdin();
  await server?.exited;
  sandbox?.cleanup();
});

let nextId = 100_000; // apart from RawServer.request's ids (1000 up)
const call = (name, args = {}, instance = 'srv') => ({
  jsonrpc: '2.0',
  id: nextId++,
  method: 'tools/call',
  params: { name: `${instance}_${name}`, arguments: args },
});
// Writes every message in one write, so that keyhold reads them as one burst.
const burst = (messages) => server.write(messages.map((m) => JSON.stringify(m) + '\n').join(''));
const answerTo = (id, timeoutMs = 30_000) =>
  server.waitFor((m) => m.id === id && ('result' in m || 'error' in m), { timeoutMs, what: `the answer to ${id}` });
const textOf = (answer) => {
  assert.ok(answer.result?.content, `not a result with content: ${JSON.stringify(answer).slice(0, 400)}`);
  return answer.result.content.map((c) => c.text).join('');
};

test('a burst of 300 calls: every answer reaches its own request', async () => {
  const calls = Array.from({ length: 300 }, (_, i) => call('echo', { text: `call ${i} ${'x'.repeat(i % 7)}` }));
  burst(calls);
  const answers = await Promise.all(calls.map((c) => answerTo(c.id)));
  answers.forEach((a, i) => assert.equal(textOf(a), calls[i].params.arguments.text));
  // They reached the server in a few writes, not one per call (the burst's SendBatch).
  const chunks = async () => Number(textOf(await server.request('tools/call', { name: 'srv_chunks', arguments: {} })));
  const before = await chunks();
  const batch = Array.from({ length: 300 }, (_, i) => call('echo', { text: `batched ${i}` }));
  burst(batch);
  for (const c of batch) assert.equal(textOf(await answerTo(c.id)), c.params.arguments.text);
  const reads = (await chunks()) - before - 1; // less the read of the second chunks call
  assert.ok(reads <= 4, `the server read a burst of 300 calls in ${reads} pieces`);
  // Twice more: the second burst finds the first one's state (queue, turn) cleaned up.
  for (let round = 0; round < 2; round++) {
    const more = Array.from({ length: 100 }, (_, i) => call('echo', { text: `round ${round} call ${i}` }));
    burst(more);
    for (const c of more) assert.equal(textOf(await answerTo(c.id)), c.params.arguments.text);
  }
});

test('cancelled calls in a burst reach the server as notifications/cancelled; the others go on', async () => {
  const before = JSON.parse(textOf(await server.request('tools/call', { name: 'srv_cancelled', arguments: {} })));
  const hangs = [call('hang'), call('hang'), call('hang')];
  const echo = call('echo', { text: 'beside the hanging ones' });
  burst([...hangs, echo]);
  assert.equal(textOf(await answerTo(echo.id)), 'beside the hanging ones');
  server.write(
    hangs
      .slice(0, 2)
      .map((h) => JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: h.id } }) + '\n')
      .join(''),
  );
  // The server hears of both (under keyhold's own request ids), within keyhold's 20 ms tick.
  let seen = [];
  for (let i = 0; i < 50 && seen.length < before.length + 2; i++) {
    await new Promise((r) => setTimeout(r, 100));
    seen = JSON.parse(textOf(await server.request('tools/call', { name: 'srv_cancelled', arguments: {} })));
  }
  assert.equal(seen.length, before.length + 2, `the server saw cancellations ${JSON.stringify(seen)}`);
  // The third, never cancelled, ends at call_timeout (3 s) with a clear error, and the
  // server is told that too.
  const timedOut = await answerTo(hangs[2].id, 20_000);
  assert.equal(timedOut.result?.isError, true, JSON.stringify(timedOut));
  assert.match(timedOut.result.content[0].text, /did not answer tools\/call within 3 s/);
  const after = JSON.parse(textOf(await server.request('tools/call', { name: 'srv_cancelled', arguments: {} })));
  assert.equal(after.length, before.length + 3);
});

test('a server that dies mid-burst fails every call in flight; the next call starts it again', async () => {
  const hangs = Array.from({ length: 20 }, () => call('hang'));
  const exit = call('exit');
  burst([...hangs, exit]);
  for (const c of [...hangs, exit]) {
    const answer = await answerTo(c.id);
    assert.equal(answer.result?.isError, true, JSON.stringify(answer));
    assert.match(answer.result.content[0].text, /stopped: .*started again on the next call/);
  }
  const again = call('echo', { text: 'a new server' });
  burst([again]);
  assert.equal(textOf(await answerTo(again.id)), 'a new server');
  // And a burst to the new server.
  const calls = Array.from({ length: 50 }, (_, i) => call('echo', { text: `after ${i}` }));
  burst(calls);
  for (const c of calls) assert.equal(textOf(await answerTo(c.id)), c.params.arguments.text);
});

test('a server that stops reading: 1.5 MiB of calls queue up, keyhold still reads the client', async () => {
  const stall = call('stall', { ms: 2500 }, 'slow');
  burst([stall]);
  assert.equal(textOf(await answerTo(stall.id)), 'stalled');
  // Past the pipe (64 KiB), Node's own buffer and keyhold's queue (1 MiB): the last calls
  // wait for a worker's write, never on the thread that reads the client.
  const calls = Array.from({ length: 500 }, (_, i) => call('echo', { text: `${i} ${'y'.repeat(3000)}` }, 'slow'));
  const ping = { jsonrpc: '2.0', id: nextId++, method: 'ping' };
  burst([...calls, ping]);
  const from = server.messages.length;
  await answerTo(ping.id);
  const early = server.messages.slice(from).filter((m) => calls.some((c) => c.id === m.id));
  assert.equal(early.length, 0, 'a call was answered while the server did not read: the stall did not hold');
  for (const c of calls) assert.equal(textOf(await answerTo(c.id)), c.params.arguments.text);
});
