// A mounted server that writes garbage never takes the host down: malformed JSON, invalid
// UTF-8, unknown ids, deep nesting and batches are ignored; a line over max_message_bytes
// ends that server (a clear error for the call), and the next call starts a new one.
import assert from 'node:assert/strict';
import { accessSync, constants, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { assertLogMatches, connectSdk, makeSandbox, tomlString } from '../e2e/helpers.mjs';
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
  await assertLogMatches(session.stderr, /not a JSON-RPC message/);
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

// Where the host surely can make pids cgroups (root with the v1 pids hierarchy, as on the
// test machines), the mounted server's tree must live in one.
function hostMakesCgroups() {
  if (process.getuid() !== 0) return false;
  try {
    accessSync('/sys/fs/cgroup/pids', constants.W_OK);
    return readFileSync('/proc/self/cgroup', 'utf8').includes(':pids:');
  } catch {
    return false;
  }
}

function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test("a detached (setsid) process of the server ends with the server (its pids cgroup)", async (t) => {
  const pid = Number(textOf(await client.callTool({ name: 'hostile_daemon', arguments: {} })));
  assert.ok(pid > 0 && alive(pid), `daemon ${pid}`);
  const group = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  if (!/keyhold-\d+-hostile-/.test(group)) {
    assert.equal(hostMakesCgroups(), false, `the daemon is in no keyhold cgroup:\n${group}`);
    process.kill(pid, 'SIGKILL');
    t.skip('no writable pids cgroup on this machine');
    return;
  }
  // The server ends (a line over max_message_bytes); the daemon must end with it.
  const result = await client.callTool({ name: 'hostile_huge', arguments: {} });
  assert.equal(result.isError, true);
  for (let i = 0; i < 100 && alive(pid); ++i) await new Promise((r) => setTimeout(r, 20));
  assert.equal(alive(pid), false, `the detached process ${pid} survived its server`);
});
