// A mounted server that writes garbage never takes the host down: malformed JSON, invalid
// UTF-8, unknown ids, deep nesting and batches are ignored; a line over max_message_bytes
// ends that server (a clear error for the call), and the next call starts a new one.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { connectSdk, makeSandbox, tomlString } from '../e2e/helpers.mjs';
import { NODE_BIN } from './lib.mjs';

const HOSTILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hostile_server.mjs');
let sandbox, client, session;

before(async () => {
  sandbox = makeSandbox('keyhold-mount-hostile-');
  const config = sandbox.writeConfig(
    `[server]\nmax_message_bytes = 1048576\n` +
      `[instances.hostile]\n` +
      `server.command = [${tomlString(NODE_BIN)}, ${tomlString(HOSTILE)}]\n`,
  );
  session = await connectSdk(sandbox, config);
  client = session.client;
});

after(async () => {
  await client?.close();
  await session?.stderrEnded;
  sandbox?.cleanup();
});

const textOf = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

test('garbage between the messages is ignored and the real answer arrives', async () => {
  const result = await client.callTool({ name: 'hostile_garbage', arguments: {} });
  assert.equal(textOf(result), 'survived the garbage');
  assert.match(session.stderr(), /not a JSON-RPC message/);
});

test('a line over max_message_bytes ends the server with a clear error; the next call works', async () => {
  const result = await client.callTool({ name: 'hostile_huge', arguments: {} });
  assert.equal(result.isError, true);
  assert.match(textOf(result), /over max_message_bytes \(1048576 bytes\)/);
  const ok = await client.callTool({ name: 'hostile_ok', arguments: {} });
  assert.equal(textOf(ok), 'ok');
  const again = await client.callTool({ name: 'hostile_garbage', arguments: {} });
  assert.equal(textOf(again), 'survived the garbage');
});
