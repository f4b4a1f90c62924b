// Acceptance 1: the official TypeScript SDK client talks to `keyhold serve` over stdio.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  ErrorCode,
  LATEST_PROTOCOL_VERSION,
  LoggingMessageNotificationSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';

import { instanceToml, keyholdBin, makeSandbox } from './helpers.mjs';
import { RawServer } from './raw_server.mjs';

const PAGE_SIZE = 4;
const EXTRA_TOOLS = 10;
const SECOND_GREETING = 'hi from the second echo';

// Three instances: echo (with extra no-op tools for pagination), a second echo under its
// own prefix, and the C99 fixture. isolation undefined: the default (a sandboxed runner).
function configText(isolation) {
  return (
    instanceToml('echo', 'echo', { options: { extra_tools: EXTRA_TOOLS }, isolation }) +
    instanceToml('echo2', 'echo', { options: { greeting: SECOND_GREETING }, isolation }) +
    instanceToml('cfix', 'c_fixture', { isolation })
  );
}

const expectedTools = () => [
  'echo_echo',
  'echo_add',
  'echo_slow',
  ...Array.from({ length: EXTRA_TOOLS }, (_, i) => `echo_noop_${i}`),
  'echo2_echo',
  'echo2_add',
  'echo2_slow',
  'cfix_params',
];

async function rejectsWithCode(promise, code, messagePattern) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof McpError, `expected McpError, got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.code, code, `error code (message: ${err.message})`);
    if (messagePattern) assert.match(err.message, messagePattern);
    return true;
  });
}

// Every test runs against the default (each instance in its runner) and against in-process
// instances, whose calls the stdio reader runs inline (leader/followers, issue 21).
for (const isolation of [undefined, 'in-process'])
describe(`keyhold serve with the official SDK client over stdio (${isolation ?? 'default isolation'})`, () => {
  let sandbox;
  let client;
  let transport;
  let negotiatedVersion;
  let stderrText = '';
  const logs = [];

  before(async () => {
    sandbox = makeSandbox();
    const config = sandbox.writeConfig(configText(isolation));
    transport = new StdioClientTransport({
      command: await keyholdBin(),
      args: ['serve', '--config', config, '--page-size', String(PAGE_SIZE)],
      env: sandbox.env,
      cwd: sandbox.dir,
      stderr: 'pipe',
    });
    transport.stderr.on('data', (c) => (stderrText += c.toString('utf8')));
    // The SDK tells the transport which version the server chose.
    transport.setProtocolVersion = (v) => {
      negotiatedVersion = v;
    };
    client = new Client({ name: 'keyhold-e2e', version: '1.0.0' }, { capabilities: {} });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
    await client.connect(transport);
  });

  after(async () => {
    await client?.close();
    sandbox?.cleanup();
  });

  test('initialize: protocol version, serverInfo, capabilities', () => {
    assert.equal(LATEST_PROTOCOL_VERSION, '2025-11-25');
    assert.equal(negotiatedVersion, '2025-11-25');
    const info = client.getServerVersion();
    assert.equal(info.name, 'keyhold');
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    const caps = client.getServerCapabilities();
    for (const cap of ['tools', 'resources', 'prompts', 'logging', 'completions'])
      assert.ok(caps[cap], `capability ${cap} missing: ${JSON.stringify(caps)}`);
    assert.equal(caps.resources.subscribe, true);
  });

  test('ping', async () => {
    assert.deepEqual(await client.ping(), {});
  });

  test('tools/list pages through every tool exactly once', async () => {
    const expected = expectedTools();
    const names = [];
    const pageSizes = [];
    const cursors = new Set();
    let cursor;
    for (let page = 0; page < 100; ++page) {
      const result = await client.listTools(cursor === undefined ? {} : { cursor });
      pageSizes.push(result.tools.length);
      names.push(...result.tools.map((t) => t.name));
      if (result.nextCursor === undefined) break;
      assert.equal(typeof result.nextCursor, 'string');
      assert.ok(!cursors.has(result.nextCursor), `cursor ${result.nextCursor} repeated`);
      cursors.add(result.nextCursor);
      cursor = result.nextCursor;
    }
    const pages = Math.ceil(expected.length / PAGE_SIZE);
    assert.equal(pageSizes.length, pages, `page sizes ${pageSizes}`);
    for (const size of pageSizes.slice(0, -1)) assert.equal(size, PAGE_SIZE);
    assert.equal(pageSizes.at(-1), expected.length - PAGE_SIZE * (pages - 1));
    assert.equal(new Set(names).size, names.length, `duplicates in ${names}`);
    assert.deepEqual([...names].sort(), [...expected].sort());
  });

  test('tools/list carries the tool metadata', async () => {
    const all = [];
    let cursor;
    do {
      const r = await client.listTools(cursor === undefined ? {} : { cursor });
      all.push(...r.tools);
      cursor = r.nextCursor;
    } while (cursor !== undefined);
    const echo = all.find((t) => t.name === 'echo_echo');
    assert.equal(echo.title, 'Echo');
    assert.equal(echo.description, 'Returns the text it is given');
    assert.deepEqual(echo.inputSchema.required, ['text']);
    assert.equal(echo.inputSchema.properties.text.type, 'string');
    assert.deepEqual(echo.annotations, { readOnlyHint: true, openWorldHint: false });
    const add = all.find((t) => t.name === 'echo_add');
    assert.deepEqual(add.outputSchema.required, ['sum']);
  });

  test('tools/list with a bad cursor -> -32602', async () => {
    await rejectsWithCode(client.listTools({ cursor: 'not-a-cursor' }), ErrorCode.InvalidParams);
  });

  test('tools/call echo_echo returns the text; its info log waits for logging/setLevel', async () => {
    let before = logs.length;
    let result = await client.callTool({ name: 'echo_echo', arguments: { text: 'hi' } });
    assert.deepEqual(result.content, [{ type: 'text', text: 'hi' }]);
    // No level set yet: only warnings and worse reach the client.
    assert.deepEqual(logs.slice(before), [], 'info log before any logging/setLevel');

    await client.setLoggingLevel('debug');
    before = logs.length;
    result = await client.callTool({ name: 'echo_echo', arguments: { text: 'hello' } });
    assert.deepEqual(result.content, [{ type: 'text', text: 'hello' }]);
    assert.ok(!result.isError);
    // The log is written before the result on the same ordered stream.
    const fresh = logs.slice(before);
    assert.deepEqual(fresh, [{ level: 'info', logger: 'echo', data: 'echoing 5 bytes' }]);
  });

  test('tools/call echo_add returns structuredContent', async () => {
    const result = await client.callTool({ name: 'echo_add', arguments: { a: 2, b: 3.5 } });
    assert.ok(!result.isError);
    assert.deepEqual(result.structuredContent, { sum: 5.5 });
    assert.deepEqual(result.content, [{ type: 'text', text: '5.5' }]);
  });

  test('schema-invalid arguments -> isError result naming the field', async () => {
    const wrongType = await client.callTool({ name: 'echo_add', arguments: { a: 'x', b: 1 } });
    assert.equal(wrongType.isError, true);
    assert.equal(wrongType.content[0].type, 'text');
    assert.match(wrongType.content[0].text, /'a'/);
    assert.doesNotMatch(wrongType.content[0].text, /'b'/);

    const missing = await client.callTool({ name: 'echo_echo', arguments: {} });
    assert.equal(missing.isError, true);
    assert.match(missing.content[0].text, /text/);

    const outOfRange = await client.callTool({ name: 'echo_slow', arguments: { steps: 0 } });
    assert.equal(outOfRange.isError, true);
    assert.match(outOfRange.content[0].text, /steps/);
  });

  test('unknown tool -> McpError -32602', async () => {
    await rejectsWithCode(
      client.callTool({ name: 'echo_nope', arguments: {} }),
      ErrorCode.InvalidParams,
      /echo_nope/,
    );
    // Unprefixed name of a prefixed tool is not reachable either.
    await rejectsWithCode(client.callTool({ name: 'echo', arguments: { text: 'x' } }), ErrorCode.InvalidParams);
  });

  test('echo_slow reports increasing progress', async () => {
    const progress = [];
    const result = await client.callTool(
      { name: 'echo_slow', arguments: { steps: 5, delay_ms: 30 } },
      undefined,
      { onprogress: (p) => progress.push(p) },
    );
    assert.deepEqual(result.content, [{ type: 'text', text: 'completed 5 steps' }]);
    // The SDK dispatches notifications on a microtask but responses synchronously, so a
    // progress notification that arrives in the same read as the result is dropped by the
    // client: expect a non-empty prefix of 1..5 here (malformed_input.test.mjs checks the
    // exact raw sequence).
    const values = progress.map((p) => p.progress);
    assert.ok(values.length >= 1, 'no progress received');
    assert.deepEqual(values, [1, 2, 3, 4, 5].slice(0, values.length));
    for (const p of progress) assert.equal(p.total, 5);
    assert.equal(progress[0].message, 'step 1 of 5');
  });

  test('cancel echo_slow mid-call with an AbortSignal; the server keeps answering', async () => {
    const controller = new AbortController();
    let firstProgress;
    const started = new Promise((resolve) => (firstProgress = resolve));
    const call = client.callTool(
      // Would take 100 s if the cancellation were ignored.
      { name: 'echo_slow', arguments: { steps: 1000, delay_ms: 100 } },
      undefined,
      { signal: controller.signal, onprogress: (p) => firstProgress(p), timeout: 600_000 },
    );
    const p = await started;
    assert.equal(p.progress, 1);
    controller.abort('test cancels');
    await assert.rejects(call);
    assert.deepEqual(await client.ping(), {});
    const r = await client.callTool({ name: 'echo_echo', arguments: { text: 'still here' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'still here' }]);
  });

  test('a slow call does not block ping or other calls', async () => {
    const controller = new AbortController();
    let firstProgress;
    const started = new Promise((resolve) => (firstProgress = resolve));
    const slow = client.callTool(
      { name: 'echo_slow', arguments: { steps: 1000, delay_ms: 100 } },
      undefined,
      { signal: controller.signal, onprogress: () => firstProgress(), timeout: 600_000 },
    );
    await started;
    // Answered while the slow call is still running (it needs 100 s to finish).
    assert.deepEqual(await client.ping(), {});
    const r = await client.callTool({ name: 'echo_add', arguments: { a: 1, b: 1 } });
    assert.deepEqual(r.structuredContent, { sum: 2 });
    controller.abort();
    await assert.rejects(slow);
  });

  test('more slow calls than run inline at once all run side by side', async () => {
    // Six calls of 5 steps x 60 ms: each reports its first step before any finishes, so
    // none waited for another (the stdio reader runs at most 4 inline; the rest go to the
    // worker pool).
    const firstSteps = [];
    let finished = 0;
    const calls = Array.from({ length: 6 }, (_, i) =>
      client
        .callTool({ name: 'echo_slow', arguments: { steps: 5, delay_ms: 60 } }, undefined, {
          onprogress: (p) => {
            if (p.progress === 1) firstSteps.push({ i, finishedBefore: finished });
          },
        })
        .then((r) => {
          ++finished;
          return r;
        }),
    );
    const results = await Promise.all(calls);
    for (const r of results) assert.deepEqual(r.content, [{ type: 'text', text: 'completed 5 steps' }]);
    assert.equal(firstSteps.length, 6, JSON.stringify(firstSteps));
    for (const s of firstSteps) assert.equal(s.finishedBefore, 0, JSON.stringify(firstSteps));
  });

  test('resources/list and resources/read', async () => {
    const { resources } = await client.listResources();
    const uris = resources.map((r) => r.uri).sort();
    assert.deepEqual(uris, ['echo://echo/greeting', 'echo://echo2/greeting']);
    const greeting = resources.find((r) => r.uri === 'echo://echo/greeting');
    assert.equal(greeting.mimeType, 'text/plain');

    const read = await client.readResource({ uri: 'echo://echo/greeting' });
    assert.deepEqual(read.contents, [
      { uri: 'echo://echo/greeting', mimeType: 'text/plain', text: 'hello from keyhold' },
    ]);
  });

  test('resources/templates/list, subscribe and unsubscribe', async () => {
    const { resourceTemplates } = await client.listResourceTemplates();
    assert.deepEqual(resourceTemplates, []);
    assert.deepEqual(await client.subscribeResource({ uri: 'echo://echo/greeting' }), {});
    assert.deepEqual(await client.unsubscribeResource({ uri: 'echo://echo/greeting' }), {});
  });

  test('resources/read of an unknown uri -> -32002', async () => {
    await rejectsWithCode(client.readResource({ uri: 'echo://nobody/greeting' }), -32002);
  });

  test('prompts/list and prompts/get', async () => {
    const { prompts } = await client.listPrompts();
    assert.deepEqual(prompts.map((p) => p.name).sort(), ['echo2_greet', 'echo_greet']);
    const greet = prompts.find((p) => p.name === 'echo_greet');
    assert.deepEqual(greet.arguments, [{ name: 'name', description: 'Who to greet', required: true }]);

    const got = await client.getPrompt({ name: 'echo_greet', arguments: { name: 'Ada' } });
    assert.equal(got.description, 'Greet Ada');
    assert.deepEqual(got.messages, [
      { role: 'user', content: { type: 'text', text: 'Please greet Ada warmly.' } },
    ]);
  });

  test('prompts/get of an unknown prompt -> -32602', async () => {
    await rejectsWithCode(client.getPrompt({ name: 'echo_nope', arguments: {} }), ErrorCode.InvalidParams);
  });

  test('completion/complete on the prompt argument', async () => {
    const a = await client.complete({
      ref: { type: 'ref/prompt', name: 'echo_greet' },
      argument: { name: 'name', value: 'A' },
    });
    assert.deepEqual(a.completion.values, ['Ada', 'Alan']);
    assert.equal(a.completion.total, 2);
    assert.equal(a.completion.hasMore, false);
    const g = await client.complete({
      ref: { type: 'ref/prompt', name: 'echo2_greet' },
      argument: { name: 'name', value: 'Gr' },
    });
    assert.deepEqual(g.completion.values, ['Grace']);
  });

  test('two echo instances side by side, each with its own prefix and state', async () => {
    const r = await client.callTool({ name: 'echo2_echo', arguments: { text: 'two' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'two' }]);
    const read = await client.readResource({ uri: 'echo://echo2/greeting' });
    assert.equal(read.contents[0].text, SECOND_GREETING);
    const got = await client.getPrompt({ name: 'echo2_greet', arguments: { name: 'Linus' } });
    assert.equal(got.description, 'Greet Linus');
  });

  test('the C99 plugin tool sees its unprefixed name and the arguments', async () => {
    const args = { x: 1, s: 'quote " and \\ and é', list: [true, null] };
    const r = await client.callTool({ name: 'cfix_params', arguments: args });
    assert.ok(!r.isError);
    assert.equal(r.content.length, 1);
    assert.equal(r.content[0].type, 'text');
    assert.deepEqual(JSON.parse(r.content[0].text), { name: 'params', arguments: args });
  });

  test('a plugin result nested 100,000 deep is refused as invalid and the host keeps serving', async () => {
    await rejectsWithCode(
      client.callTool({ name: 'cfix_params', arguments: { nest_result: true } }),
      ErrorCode.InternalError,
      /returned an invalid result \(not a JSON object, or nested deeper than 128 levels\)/,
    );
    const r = await client.callTool({ name: 'cfix_params', arguments: { after: 1 } });
    assert.deepEqual(JSON.parse(r.content[0].text), { name: 'params', arguments: { after: 1 } });
  });

  // Last: it changes the session's log level.
  test('logging/setLevel filters lower-level logs', async () => {
    await client.setLoggingLevel('warning');
    let before = logs.length;
    await client.callTool({ name: 'echo_echo', arguments: { text: 'quiet' } });
    assert.deepEqual(logs.slice(before), [], 'info log after setLevel warning');

    await client.setLoggingLevel('info');
    before = logs.length;
    await client.callTool({ name: 'echo_echo', arguments: { text: 'loud' } });
    assert.deepEqual(logs.slice(before), [{ level: 'info', logger: 'echo', data: 'echoing 4 bytes' }]);

    await rejectsWithCode(client.setLoggingLevel('chatty'), ErrorCode.InvalidParams);
  });

  test('nothing unexpected on stderr', () => {
    assert.doesNotMatch(stderrText, /skipped|error/i, stderrText);
  });
});

describe('version negotiation through the SDK', () => {
  test('a client that only speaks 2025-06-18 gets 2025-06-18', async () => {
    const sandbox = makeSandbox();
    const config = sandbox.writeConfig(instanceToml('echo', 'echo'));
    const transport = new StdioClientTransport({
      command: await keyholdBin(),
      args: ['serve', '--config', config],
      env: sandbox.env,
      stderr: 'pipe',
    });
    let negotiated;
    transport.setProtocolVersion = (v) => (negotiated = v);
    // Rewrite the outgoing initialize to ask for the older version.
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
      if (message.method === 'initialize')
        message = { ...message, params: { ...message.params, protocolVersion: '2025-06-18' } };
      return send(message, options);
    };
    const client = new Client({ name: 'old-client', version: '0.0.1' });
    try {
      await client.connect(transport);
      assert.equal(negotiated, '2025-06-18');
      const r = await client.callTool({ name: 'echo_echo', arguments: { text: 'v' } });
      assert.equal(r.content[0].text, 'v');
    } finally {
      await client.close();
      sandbox.cleanup();
    }
  });
});

describe('end of input while an in-process call runs inline', () => {
  test('keyhold cancels the call and exits 0', async () => {
    const sandbox = makeSandbox();
    const config = sandbox.writeConfig(instanceToml('echo', 'echo', { isolation: 'in-process' }));
    const server = await RawServer.start(sandbox, config);
    try {
      await server.initialize();
      // 1000 steps of 100 ms: 100 s unless the cancellation at end of input reaches it.
      server.send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'echo_slow', arguments: { steps: 1000, delay_ms: 100 }, _meta: { progressToken: 'p' } },
      });
      await server.waitFor((m) => m.method === 'notifications/progress', { what: 'first progress' });
      server.closeStdin();
      assert.deepEqual(await server.exited, { code: 0, signal: null }, server.stderr);
      assert.ok(!server.messages.some((m) => m.id === 2), 'a cancelled call gets no response');
    } finally {
      server.kill();
      sandbox.cleanup();
    }
  });
});
