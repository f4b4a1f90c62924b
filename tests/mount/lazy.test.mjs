// Issue 17, lifecycle: server.lazy = true. keyhold starts the server at serve start only to
// read its catalog, stops it, and starts it again at the first call: the client sees the
// tools at once, no server process runs until a call needs it, then exactly one does.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';

import { assertLogMatches, connectSdk, sleep, tomlString } from '../e2e/helpers.mjs';
import { makeVault } from '../secrets/lib.mjs';
import { EVERYTHING_JS, NODE_BIN, pidsWithEnv, closeAndSweep } from './lib.mjs';

let sandbox, session, client;
const marker = randomBytes(8).toString('hex');

before(async () => {
  sandbox = await makeVault('mount-lazy');
  const config = sandbox.writeConfig(
    `[instances.everything]\n` +
      `server.command = [${tomlString(NODE_BIN)}, ${tomlString(EVERYTHING_JS)}, "stdio"]\n` +
      `server.env = { KEYHOLD_MOUNT_TEST = ${tomlString(marker)} }\n` +
      `server.lazy = true\n`,
  );
  session = await connectSdk(sandbox, config);
  client = session.client;
});

after(async () => {
  await closeAndSweep(client, session);
  await sleep(300);
  assert.deepEqual(pidsWithEnv('KEYHOLD_MOUNT_TEST', marker), [], 'a mounted server outlived keyhold');
  sandbox?.cleanup();
});

const textOf = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

test('the tools are listed while no server process runs', async () => {
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'everything_echo'), tools.map((t) => t.name).join(', '));
  assert.deepEqual(pidsWithEnv('KEYHOLD_MOUNT_TEST', marker), [], 'the lazy server still runs after its catalog was read');
  await assertLogMatches(session.stderr, /instance 'everything': catalog read; its server is stopped until the first call \(server\.lazy\)/);
  assert.doesNotMatch(session.stderr(), /its server stopped/, 'parking a lazy server is not a crash');
});

test('the first call starts the server, and it keeps running for the next calls', async () => {
  const first = await client.callTool({ name: 'everything_echo', arguments: { message: 'first use' } });
  assert.notEqual(first.isError, true, textOf(first));
  assert.match(textOf(first), /first use/);
  const pids = pidsWithEnv('KEYHOLD_MOUNT_TEST', marker);
  assert.equal(pids.length, 1, `expected one server process, found ${pids.join(', ')}`);
  const second = await client.callTool({ name: 'everything_echo', arguments: { message: 'second' } });
  assert.match(textOf(second), /second/);
  assert.deepEqual(pidsWithEnv('KEYHOLD_MOUNT_TEST', marker), pids);
  await assertLogMatches(session.stderr, /instance 'everything': first call: starting its server \(server\.lazy\)/);
});
