// Issue 17, acceptance 3: @modelcontextprotocol/server-filesystem (npm) mounted with a
// sandbox `read` list narrower than the root the server itself is given: a file inside the
// list is read, a file outside it fails, even though the server would allow it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connectSdk, makeSandbox, tomlString } from '../e2e/helpers.mjs';
import { FILESYSTEM_JS, NODE_BIN } from './lib.mjs';

let sandbox, client, session, inside, outside;

before(async () => {
  sandbox = makeSandbox('keyhold-mount-fs-');
  inside = sandbox.file('root/allowed/notes.txt', 'readable through the sandbox\n');
  outside = sandbox.file('root/private/secret.txt', 'the sandbox keeps this away\n');
  const root = `${sandbox.dir}/root`;
  const config = sandbox.writeConfig(
    `[instances.fs]\n` +
      // The server is told it may serve all of root ...
      `server.command = [${tomlString(NODE_BIN)}, ${tomlString(FILESYSTEM_JS)}, ${tomlString(root)}]\n` +
      // ... the sandbox lets it read only root/allowed.
      `[instances.fs.sandbox]\n` +
      `read = [${tomlString(`${root}/allowed`)}]\n`,
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

test('the server serves its root as far as the sandbox read list allows, no further', async () => {
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'fs_read_text_file'), tools.map((t) => t.name).join(', '));
  const allowed = await client.callTool({ name: 'fs_list_allowed_directories', arguments: {} });
  assert.match(textOf(allowed), /root/); // the server believes it may serve all of root
  const ok = await client.callTool({ name: 'fs_read_text_file', arguments: { path: inside } });
  assert.equal(ok.isError, undefined, textOf(ok));
  assert.match(textOf(ok), /readable through the sandbox/);
  const refused = await client.callTool({ name: 'fs_read_text_file', arguments: { path: outside } });
  assert.equal(refused.isError, true, textOf(refused));
  assert.match(textOf(refused), /EACCES|permission denied/i);
  assert.ok(!textOf(refused).includes('the sandbox keeps this away'));
});
