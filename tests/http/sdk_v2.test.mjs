// Issue 20, acceptance 2 (part): the official TypeScript SDK v2 client pinned to MCP
// 2026-07-28 and the 1.x client on 2025-11-25 use one `keyhold serve --http` at the same
// time: tools, resources, prompts, progress, and elicitation during a tool call (for v2 a
// multi round-trip call the SDK fulfils itself), cancellation, and subscriptions: list
// changes and resource updates reach the 1.x client unsolicited (resources/subscribe) and
// the v2 client on the subscriptions/listen stream its listen() opens.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '../e2e/node_modules/@modelcontextprotocol/client/dist/index.mjs';
import {
  ElicitRequestSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';
import { PLUGIN_DIR, sleep, tomlString } from '../e2e/helpers.mjs';
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

// Waits until `predicate()` holds, polling.
async function until(predicate, what, ms = 10_000) {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(25)) if (predicate()) return;
  assert.fail(`${what}: not within ${ms} ms`);
}

test('cancellation from either client reaches the plugin', async () => {
  const cancel = async (client, tag) => {
    const abort = new AbortController();
    const params = { name: 'test_wait_for_cancel', arguments: { tag } };
    const options = { signal: abort.signal };
    const call = client === v2 ? client.callTool(params, options) : client.callTool(params, undefined, options);
    await sleep(300);
    abort.abort();
    await assert.rejects(call);
  };
  await Promise.all([cancel(v1, 'by-v1'), cancel(v2, 'by-v2')]);
  // The fixture logs the cancellation it saw (the host writes plugin logs to its stderr).
  await until(() => server.stderr().includes('test_wait_for_cancel by-v1: cancelled'), 'v1 cancellation at the plugin');
  await until(() => server.stderr().includes('test_wait_for_cancel by-v2: cancelled'), 'v2 cancellation at the plugin');
});

test('subscriptions: the 1.x client unsolicited, the v2 client on its listen stream', async () => {
  const WATCHED = 'test://watched-resource';
  const seen = { v1Tools: 0, v1Updates: 0, v2Tools: 0, v2Updates: 0, v2Prompts: 0 };
  v1.setNotificationHandler(ToolListChangedNotificationSchema, () => void seen.v1Tools++);
  v1.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void (n.params.uri === WATCHED && seen.v1Updates++));
  v2.setNotificationHandler('notifications/tools/list_changed', () => void seen.v2Tools++);
  v2.setNotificationHandler('notifications/prompts/list_changed', () => void seen.v2Prompts++);
  v2.setNotificationHandler('notifications/resources/updated', (n) => void (n.params.uri === WATCHED && seen.v2Updates++));

  const subscription = await v2.listen({ toolsListChanged: true, resourceSubscriptions: [WATCHED] });
  assert.deepEqual(subscription.honoredFilter, { toolsListChanged: true, resourceSubscriptions: [WATCHED] });
  await v1.subscribeResource({ uri: WATCHED });
  try {
    // A change announced during the 1.x client's tool call reaches both clients.
    await v1.callTool({ name: 'test_change_list', arguments: { list: 'tools' } });
    await until(() => seen.v1Tools > 0 && seen.v2Tools > 0, `tools/list_changed at both (${JSON.stringify(seen)})`);
    // The fixture changes the watched resource every 3 s while someone watches.
    await until(() => seen.v1Updates > 0 && seen.v2Updates > 0, `resources/updated at both (${JSON.stringify(seen)})`);
    // The v2 client did not ask for prompt changes: none reach it.
    await v2.callTool({ name: 'test_change_list', arguments: { list: 'prompts' } });
    await sleep(300);
    assert.equal(seen.v2Prompts, 0, 'a notification type the listen did not ask for');
  } finally {
    await v1.unsubscribeResource({ uri: WATCHED });
    await subscription.close();
  }
  assert.equal(await subscription.closed, 'local');
});
