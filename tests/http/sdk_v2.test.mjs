// Issue 20, acceptance 2 (part): the official TypeScript SDK v2 client pinned to MCP
// 2026-07-28 and the 1.x client on 2025-11-25 use one `keyhold serve --http` at the same
// time: tools, resources, prompts, progress, and elicitation during a tool call (for v2 a
// multi round-trip call the SDK fulfils itself). Not yet: cancellation, subscriptions.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '../e2e/node_modules/@modelcontextprotocol/client/dist/index.mjs';
import { ElicitRequestSchema } from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';
import { PLUGIN_DIR, tomlString } from '../e2e/helpers.mjs';
import { connectClient, makeVaultSandbox, startServer } from './http_helpers.mjs';

let server;
let v1;
let v2;

before(async () => {
  const sandbox = await makeVaultSandbox('keyhold-sdk-v2-');
  const config = sandbox.writeConfig(
    `[server]\nplugin_dirs = [${tomlString(PLUGIN_DIR)}]\n[http]\nauth = "off"\n` +
      `[instances.conformance]\nplugin = "conformance"\nprefix = ""\n`,
  );
  server = await startServer(sandbox, config);
  ({ client: v1 } = await connectClient(server.url, undefined, {
    clientOptions: { capabilities: { elicitation: {} } },
  }));
  v1.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'One' } }));
  v2 = new ClientV2(
    { name: 'keyhold-test-v2', version: '1.0.0' },
    { capabilities: { elicitation: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  v2.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Two' } }));
  await v2.connect(new TransportV2(new URL(server.url)));
});

after(async () => {
  await v1?.close();
  await v2?.close();
  if (server) assert.equal((await server.stop()).code, 0, server.stderr());
});

// The same exchange through either client; `name` is what its elicitation handler answers.
async function exercise(client, name) {
  const tools = await client.listTools();
  assert.ok(tools.tools.some((t) => t.name === 'test_simple_text'));
  const text = await client.callTool({ name: 'test_simple_text', arguments: {} });
  assert.equal(text.content[0].text, 'This is a simple text response for testing.');
  const progress = [];
  const params = { name: 'test_tool_with_progress', arguments: {} };
  const options = { onprogress: (p) => progress.push(p.progress) };
  // v2 takes the request options second (it dropped 1.x's result schema parameter).
  const withProgress = await (client === v2 ? client.callTool(params, options) : client.callTool(params, undefined, options));
  assert.equal(withProgress.isError, undefined);
  assert.deepEqual(progress, [0, 50, 100], `progress seen by the client answering ${name}`);
  const resource = await client.readResource({ uri: 'test://static-text' });
  assert.equal(resource.contents[0].text, 'This is the content of the static text resource.');
  const prompt = await client.getPrompt({ name: 'test_simple_prompt' });
  assert.equal(prompt.messages[0].content.text, 'This is a simple prompt for testing.');
  const asked = await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} });
  assert.equal(asked.content[0].text, `Hello, ${name}!`);
}

test('the v2 client (2026-07-28) and the 1.x client (2025-11-25) at the same time', async () => {
  await Promise.all([exercise(v1, 'One'), exercise(v2, 'Two'), exercise(v1, 'One'), exercise(v2, 'Two')]);
});
