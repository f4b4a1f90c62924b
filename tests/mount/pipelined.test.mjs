// Pipelined calls to a mounted stdio server (issue 17's throughput path): requests that
// arrive in one burst are started without a waiting thread each, queued to the server's
// stdin and written together, and finished by whoever reads the server's answers. This
// drives keyhold with raw JSON-RPC, so that a whole burst is at hand in one read, and
// checks what a waiting thread used to guarantee: every answer reaches its own request; a
// cancellation reaches the server; call_timeout ends a call the server never answers; a
// server that dies mid-burst fails every call in flight, and the next call starts it again.
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
      `[instances.srv.sandbox]\ncall_timeout = "3s"\n`,
  );
  server = await RawServer.start(sandbox, config);
  await server.initialize();
});

after(async () => {
  server?.closeStdin();
  await server?.exited;
  sandbox?.cleanup();
});

let nextId = 1;
const call = (name, args = {}) => ({
  jsonrpc: '2.0',
  id: nextId++,
  method: 'tools/call',
  params: { name: `srv_${name}`, arguments: args },
});
// Writes every message in one write, so that keyhold reads them as one burst.
const burst = (messages) => server.write(messages.map((m) => JSON.stringify(m) + '\n').join(''));
const answerTo = (id, timeoutMs = 30_000) =>
  server.waitFor((m) => m.id === id && ('result' in m || 'error' in m), { timeoutMs, what: `the answer to ${id}` });
const textOf = (answer) => {
  assert.ok(answer.result, `an error instead of a result: ${JSON.stringify(answer)}`);
  return answer.result.content.map((c) => c.text).join('');
};

test('a burst of 300 calls: every answer reaches its own request', async () => {
  const calls = Array.from({ length: 300 }, (_, i) => call('echo', { text: `call ${i} ${'x'.repeat(i % 7)}` }));
  burst(calls);
  const answers = await Promise.all(calls.map((c) => answerTo(c.id)));
  answers.forEach((a, i) => assert.equal(textOf(a), calls[i].params.arguments.text));
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
