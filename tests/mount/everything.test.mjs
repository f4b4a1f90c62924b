// Issue 17, acceptance 1: @modelcontextprotocol/server-everything (npm) mounted over stdio
// as the instance "everything", driven through `keyhold serve` by the official SDK client:
// its tools, resources, templates and prompts reachable with the prefix, progress and
// cancellation propagated, its sampling and elicitation requests answered by the SDK
// client, and the secret injected into its environment seen only as a redaction marker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CallToolResultSchema,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ResourceListChangedNotificationSchema,
} from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';

import { connectSdk, sleep, tomlString } from '../e2e/helpers.mjs';
import { capture } from '../secrets/lib.mjs';
import { EVERYTHING_JS, NODE_BIN, closeAndSweep, vaultWithCanary } from './lib.mjs';

let sandbox, client, session, canary;
const samplingRequests = [];
const elicitationRequests = [];

before(async () => {
  ({ sandbox, canary } = await vaultWithCanary('mount-everything', 'mount', 'everything', 'team/everything-key'));
  const config = sandbox.writeConfig(
    `[instances.everything]\n` +
      `server.command = [${tomlString(NODE_BIN)}, ${tomlString(EVERYTHING_JS)}, "stdio"]\n` +
      `server.env = { LOG_LEVEL = "info" }\n` +
      `[instances.everything.secrets]\n` +
      `API_KEY = "vault:team/everything-key"\n`,
  );
  session = await connectSdk(sandbox, config, [], {
    capabilities: { sampling: {}, elicitation: {} },
  });
  client = session.client;
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    samplingRequests.push(request.params);
    return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled-by-the-sdk-client' } };
  });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    elicitationRequests.push(request.params);
    return { action: 'accept', content: { name: 'Ada from the SDK client' } };
  });
});

after(async () => {
  await closeAndSweep(client, session);
  sandbox?.cleanup();
});

const textOf = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

test('every tool of the server is listed with the instance prefix and can be called', async () => {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const name of ['echo', 'get-env', 'get-sum', 'trigger-long-running-operation', 'trigger-sampling-request',
    'trigger-elicitation-request'])
    assert.ok(names.includes(`everything_${name}`), `everything_${name} missing from ${names.join(', ')}`);
  assert.ok(names.every((n) => n.startsWith('everything_')), names.join(', '));
  const echo = await client.callTool({ name: 'everything_echo', arguments: { message: 'through keyhold' } });
  capture('echo', JSON.stringify(echo));
  assert.equal(echo.isError, undefined);
  assert.match(textOf(echo), /through keyhold/);
  const sum = await client.callTool({ name: 'everything_get-sum', arguments: { a: 2, b: 40 } });
  assert.match(textOf(sum), /42/);
  // Arguments are checked against the server's inputSchema before the server sees them.
  const bad = await client.callTool({ name: 'everything_get-sum', arguments: { a: 'two', b: 40 } });
  assert.equal(bad.isError, true);
  assert.match(textOf(bad), /invalid arguments/);
});

test('resources, resource templates and prompts are reachable', async () => {
  const { resources } = await client.listResources();
  assert.ok(resources.length > 0, 'no resources');
  const read = await client.readResource({ uri: resources[0].uri });
  assert.equal(read.contents[0].uri, resources[0].uri);
  const { resourceTemplates } = await client.listResourceTemplates();
  assert.ok(resourceTemplates.length > 0, 'no resource templates');
  const text = resourceTemplates.find((t) => /text/i.test(t.uriTemplate)) ?? resourceTemplates[0];
  const uri = text.uriTemplate.replace(/\{[^}]*\}/g, '1');
  const templated = await client.readResource({ uri });
  assert.equal(templated.contents[0].uri, uri);
  const { prompts } = await client.listPrompts();
  const names = prompts.map((p) => p.name);
  assert.ok(names.includes('everything_simple-prompt'), names.join(', '));
  const prompt = await client.getPrompt({ name: 'everything_simple-prompt' });
  assert.ok(prompt.messages.length > 0);
  const args = await client.getPrompt({ name: 'everything_args-prompt', arguments: { city: 'Lyon' } });
  assert.match(JSON.stringify(args.messages), /Lyon/);
});

test("the long-running tool's progress reaches the client", async () => {
  const progress = [];
  const result = await client.callTool(
    { name: 'everything_trigger-long-running-operation', arguments: { duration: 1, steps: 3 } },
    CallToolResultSchema,
    { onprogress: (p) => progress.push(p) },
  );
  assert.match(textOf(result), /Long running operation completed/);
  // The server sends its last progress notification and its result back to back; even when
  // the SDK client talks to it directly (no keyhold between), the last one often arrives
  // after the result and is dropped by the client. The first two always arrive, in order.
  assert.deepEqual(progress.slice(0, 2).map((p) => [p.progress, p.total]), [[1, 3], [2, 3]]);
  assert.ok(progress.length <= 3);
});

test('a cancelled call ends at once and the next call works', async () => {
  const controller = new AbortController();
  const progress = [];
  const started = Date.now();
  const call = client.callTool(
    { name: 'everything_trigger-long-running-operation', arguments: { duration: 20, steps: 20 } },
    CallToolResultSchema,
    {
      signal: controller.signal,
      onprogress: (p) => {
        progress.push(p);
        controller.abort('the test cancels');
      },
    },
  );
  await assert.rejects(call, /abort|cancel/i);
  assert.ok(Date.now() - started < 10_000, 'the cancellation took too long');
  assert.equal(progress.length, 1);
  await sleep(2500);
  assert.equal(progress.length, 1, 'progress of a cancelled call still arrived');
  const echo = await client.callTool({ name: 'everything_echo', arguments: { message: 'after cancel' } });
  assert.match(textOf(echo), /after cancel/);
});

test("the server's sampling request reaches the SDK client and the answer comes back", async () => {
  const result = await client.callTool({
    name: 'everything_trigger-sampling-request',
    arguments: { prompt: 'say hello', maxTokens: 20 },
  });
  assert.equal(samplingRequests.length, 1);
  assert.match(JSON.stringify(samplingRequests[0].messages), /say hello/);
  assert.match(textOf(result), /sampled-by-the-sdk-client/);
});

test('a sampling request while several calls are in flight is refused, not guessed', async () => {
  // stdio does not say which call the server's request belongs to; with two calls in
  // flight (they could come from two clients of an HTTP host) keyhold must not pick one.
  const before = samplingRequests.length;
  const long = client.callTool({
    name: 'everything_trigger-long-running-operation',
    arguments: { duration: 3, steps: 3 },
  });
  await sleep(300);
  const sampled = await client.callTool({
    name: 'everything_trigger-sampling-request',
    arguments: { prompt: 'say hello again', maxTokens: 20 },
  });
  assert.equal(samplingRequests.length, before, 'the request reached a client');
  assert.doesNotMatch(textOf(sampled), /sampled-by-the-sdk-client/);
  assert.match(textOf(await long), /Long running operation completed/);
});

test("the server's elicitation request reaches the SDK client and the answer comes back", async () => {
  const result = await client.callTool({ name: 'everything_trigger-elicitation-request', arguments: {} });
  assert.equal(elicitationRequests.length, 1);
  assert.ok(elicitationRequests[0].requestedSchema?.properties?.name, 'no requested schema');
  assert.match(textOf(result), /Ada from the SDK client/);
});

test('the injected secret is in the server environment and reaches the client only as a marker', async () => {
  const result = await client.callTool({ name: 'everything_get-env', arguments: {} });
  const text = textOf(result);
  capture('get-env', JSON.stringify(result));
  // The value is replaced by a marker: of the secret itself, or of the credential rule that
  // matches `"API_KEY": "<value>"` as a whole.
  assert.match(text, /\[REDACTED:(API_KEY|rule:[a-z0-9-]+)\]/);
  assert.match(text, /"LOG_LEVEL": "info"/);
  assert.ok(!text.includes(canary), 'the canary reached the client');
  // The host's own environment does not reach the server.
  assert.ok(!text.includes('KEYHOLD_KEYFILE') && !text.includes('KEYHOLD_VAULT'), text);
});

test('a resource the server adds is announced to the client (list_changed) and readable', async () => {
  let announce;
  const announced = new Promise((resolve) => (announce = resolve));
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => announce());
  const data = 'data:text/plain;base64,' + Buffer.from('hello through the mount').toString('base64');
  const result = await client.callTool({
    name: 'everything_gzip-file-as-resource',
    arguments: { name: 'hello.txt.gz', data, outputType: 'resourceLink' },
  });
  const link = result.content.find((c) => c.type === 'resource_link');
  assert.ok(link, JSON.stringify(result));
  await Promise.race([announced, sleep(10_000).then(() => assert.fail('no resources/list_changed'))]);
  const { resources } = await client.listResources();
  assert.ok(resources.some((r) => r.uri === link.uri), `${link.uri} not listed`);
  const read = await client.readResource({ uri: link.uri });
  assert.equal(read.contents[0].uri, link.uri);
  assert.ok(read.contents[0].blob.length > 0);
});
