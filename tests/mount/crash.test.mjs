// Issue 17, acceptance 4 (crash and revoke): a mounted server killed in the middle of a
// call gives that call a clear error, is started again and serves the next call; after
// `keyhold vault revoke` of its grant, the next start gets no value and keyhold says which
// variable was left out (by name, never the value).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';

import { CallToolResultSchema } from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';

import { assertLogMatches, connectSdk, sleep, tomlString } from '../e2e/helpers.mjs';
import { cli } from '../secrets/lib.mjs';
import { EVERYTHING_JS, NODE_BIN, pidsWithEnv, closeAndSweep, vaultWithCanary } from './lib.mjs';

let sandbox, client, session, canary;
const marker = randomBytes(8).toString('hex');

before(async () => {
  ({ sandbox, canary } = await vaultWithCanary('mount-crash', 'crash', 'everything', 'team/everything-key'));
  const config = sandbox.writeConfig(
    `[instances.everything]\n` +
      `server.command = [${tomlString(NODE_BIN)}, ${tomlString(EVERYTHING_JS)}, "stdio"]\n` +
      `server.env = { KEYHOLD_MOUNT_TEST = ${tomlString(marker)} }\n` +
      `[instances.everything.secrets]\n` +
      `API_KEY = "vault:team/everything-key"\n`,
  );
  session = await connectSdk(sandbox, config);
  client = session.client;
});

after(async () => {
  await closeAndSweep(client, session);
  // Shutdown leaves no server behind.
  await sleep(500);
  assert.deepEqual(pidsWithEnv('KEYHOLD_MOUNT_TEST', marker), [], 'a mounted server outlived keyhold');
  sandbox?.cleanup();
});

const textOf = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

function serverPid() {
  const pids = pidsWithEnv('KEYHOLD_MOUNT_TEST', marker);
  assert.equal(pids.length, 1, `expected one server process, found ${pids.join(', ')}`);
  return pids[0];
}

// The server's environment as get-env prints it (redacted).
async function getEnv() {
  const result = await client.callTool({ name: 'everything_get-env', arguments: {} });
  return textOf(result);
}
const MARKER = /\[REDACTED:(API_KEY|rule:[a-z0-9-]+)\]/;

test('a server killed mid-call: a clear error, then a new server serves the next call', async () => {
  const first = serverPid();
  let killed = false;
  const result = await client.callTool(
    { name: 'everything_trigger-long-running-operation', arguments: { duration: 10, steps: 10 } },
    CallToolResultSchema,
    {
      onprogress: () => {
        if (!killed) process.kill(first, 'SIGKILL');
        killed = true;
      },
    },
  );
  assert.equal(result.isError, true);
  assert.match(textOf(result), /mounted server of instance 'everything' stopped: killed by signal 9/);
  assert.match(textOf(result), /started again on the next call/);
  const echo = await client.callTool({ name: 'everything_echo', arguments: { message: 'after the crash' } });
  assert.match(textOf(echo), /after the crash/);
  assert.notEqual(serverPid(), first);
  assert.match(await getEnv(), MARKER);
  await assertLogMatches(session.stderr, /instance 'everything': its server stopped: killed by signal 9/);
});

test('after a revoke, the next start of the server gets no value and keyhold says so', async () => {
  await cli(sandbox, ['vault', 'revoke', 'everything', 'team/everything-key']);
  process.kill(serverPid(), 'SIGKILL');
  await sleep(300);
  const env = await getEnv(); // started again (after the backoff)
  assert.doesNotMatch(env, MARKER);
  assert.doesNotMatch(env, /API_KEY/);
  assert.match(env, new RegExp(`"KEYHOLD_MOUNT_TEST": "${marker}"`));
  await assertLogMatches(session.stderr, /secret alias 'API_KEY' is not granted for env; its server starts without the variable API_KEY/);
});
