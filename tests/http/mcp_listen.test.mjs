// MCP 2026-07-28 subscriptions/listen on the raw protocol, over Streamable HTTP and stdio:
// the acknowledgement comes first and states the honored filter, every notification on a
// stream carries its subscription id, nothing arrives the filter did not ask for, closing
// the stream (HTTP) or notifications/cancelled (stdio) ends it, the server's shutdown ends
// it with the empty result, malformed filters are -32602, and the number of open streams
// is bounded per client (HTTP) and per connection (stdio).
// The conformance fixture changes test://watched-resource every 3 s while someone watches,
// and test_change_list announces a list change.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { PLUGIN_DIR, sleep, tomlString } from '../e2e/helpers.mjs';
import { RawServer } from '../e2e/raw_server.mjs';
import { makeVaultSandbox, startServer } from './http_helpers.mjs';

const VERSION = '2026-07-28';
const SUB = 'io.modelcontextprotocol/subscriptionId';
const WATCHED = 'test://watched-resource';
const META = {
  'io.modelcontextprotocol/protocolVersion': VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 'listen-test', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const LISTEN_BOUND = 16; // HttpOptions::max_listens_per_client and SessionOptions::max_listens

let sandbox;
let configPath;
let server;

before(async () => {
  sandbox = await makeVaultSandbox('keyhold-listen-');
  configPath = sandbox.writeConfig(
    `[server]\nplugin_dirs = [${tomlString(PLUGIN_DIR)}]\n[http]\nauth = "off"\n` +
      `[instances.conformance]\nplugin = "conformance"\nprefix = ""\n`,
  );
  server = await startServer(sandbox, configPath);
});

after(async () => {
  if (server) assert.equal((await server.stop()).code, 0, server.stderr());
});

const headersFor = (method, name, accept = 'application/json, text/event-stream') => ({
  'Content-Type': 'application/json',
  Accept: accept,
  'MCP-Protocol-Version': VERSION,
  'Mcp-Method': method,
  ...(name === undefined ? {} : { 'Mcp-Name': name }),
});

// Opens a listen stream over HTTP. Returns { status, headers, messages, waitFor, close,
// ended } where messages fills as events arrive; or, when the answer is not a stream,
// { status, body }.
async function listen(url, id, notifications, { accept, params } = {}) {
  const abort = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    headers: headersFor('subscriptions/listen', undefined, accept),
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'subscriptions/listen',
      params: params ?? { _meta: META, notifications },
    }),
    signal: abort.signal,
  });
  if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream'))
    return { status: response.status, headers: response.headers, body: JSON.parse(await response.text()) };
  const messages = [];
  const decoder = new TextDecoder();
  let buffer = '';
  const ended = (async () => {
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end; (end = buffer.indexOf('\n\n')) >= 0; buffer = buffer.slice(end + 2)) {
          for (const line of buffer.slice(0, end).split('\n'))
            if (line.startsWith('data: ')) messages.push(JSON.parse(line.slice(6)));
        }
      }
      return 'ended';
    } catch {
      return 'aborted';
    }
  })();
  return {
    status: response.status,
    headers: response.headers,
    messages,
    ended,
    waitFor: (predicate, what, ms = 8000) => waitFor(messages, predicate, what, ms),
    close: () => abort.abort(),
  };
}

async function waitFor(messages, predicate, what, ms) {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(25)) {
    const found = messages.find(predicate);
    if (found) return found;
  }
  assert.fail(`${what}: not within ${ms} ms; got ${JSON.stringify(messages).slice(0, 600)}`);
}

let nextId = 1;
async function call(url, name, args) {
  const id = nextId++;
  const response = await fetch(url, {
    method: 'POST',
    headers: headersFor('tools/call', name, 'application/json'),
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { _meta: META, name, arguments: args } }),
  });
  const body = await response.json();
  assert.equal(body.result?.isError, undefined, JSON.stringify(body));
  return body;
}

const ack = (m) => m.method === 'notifications/subscriptions/acknowledged';
const changed = (list) => (m) => m.method === `notifications/${list}/list_changed`;
const updated = (m) => m.method === 'notifications/resources/updated';

test('http: each stream gets its acknowledgement first, then only what it asked for, tagged', async () => {
  const tools = await listen(server.url, 'listen-tools', {
    toolsListChanged: true,
    resourceSubscriptions: [WATCHED, 'test://no-such-resource'],
    futureField: true,
  });
  const prompts = await listen(server.url, 7, { promptsListChanged: true, toolsListChanged: false });
  try {
    for (const stream of [tools, prompts]) {
      assert.equal(stream.status, 200);
      assert.equal(stream.headers.get('mcp-session-id'), null, 'a listen stream belongs to no session');
      assert.equal(stream.headers.get('x-accel-buffering'), 'no');
      await stream.waitFor(ack, 'acknowledgement');
      assert.ok(ack(stream.messages[0]), `the first message is the acknowledgement: ${JSON.stringify(stream.messages[0])}`);
    }
    assert.deepEqual(tools.messages[0].params, {
      _meta: { [SUB]: 'listen-tools' },
      notifications: { toolsListChanged: true, resourceSubscriptions: [WATCHED] },
    });
    assert.deepEqual(prompts.messages[0].params, { _meta: { [SUB]: 7 }, notifications: { promptsListChanged: true } });

    await call(server.url, 'test_change_list', { list: 'tools' });
    await call(server.url, 'test_change_list', { list: 'prompts' });
    await call(server.url, 'test_change_list', { list: 'resources' });
    const toolsChanged = await tools.waitFor(changed('tools'), 'tools/list_changed on the tools stream');
    assert.deepEqual(toolsChanged.params, { _meta: { [SUB]: 'listen-tools' } });
    const promptsChanged = await prompts.waitFor(changed('prompts'), 'prompts/list_changed on the prompts stream');
    assert.deepEqual(promptsChanged.params, { _meta: { [SUB]: 7 } });
    const update = await tools.waitFor(updated, 'resources/updated for the watched resource');
    assert.deepEqual(update.params, { _meta: { [SUB]: 'listen-tools' }, uri: WATCHED });

    // Both streams heard every change by now (the update came seconds later): nothing
    // else, and every message is tagged with its own stream's id.
    const methods = (s) => [...new Set(s.messages.map((m) => m.method))].sort();
    assert.deepEqual(methods(tools), [
      'notifications/resources/updated',
      'notifications/subscriptions/acknowledged',
      'notifications/tools/list_changed',
    ]);
    assert.deepEqual(methods(prompts), ['notifications/prompts/list_changed', 'notifications/subscriptions/acknowledged']);
    for (const m of tools.messages) assert.equal(m.params._meta[SUB], 'listen-tools', JSON.stringify(m));
    for (const m of prompts.messages) assert.equal(m.params._meta[SUB], 7, JSON.stringify(m));
  } finally {
    tools.close?.();
    prompts.close?.();
  }
  assert.equal(await tools.ended, 'aborted');
});

test('http: a storm of list_changed from a runner is merged: heard, and the catalog read a few times', async () => {
  const describes = (body) => Number(/describe calls: (\d+)/.exec(body.result.content[0].text)[1]);
  const tools = await listen(server.url, 'storm', { toolsListChanged: true });
  try {
    await tools.waitFor(ack, 'acknowledgement');
    const before = describes(await call(server.url, 'test_change_list', { list: 'prompts' }));
    await sleep(500);
    // 2,000 notifications at once from the (sandboxed) runner.
    await call(server.url, 'test_change_list', { list: 'tools', times: 2000 });
    await tools.waitFor(changed('tools'), 'tools/list_changed after the storm');
    await sleep(1000);
    const after = describes(await call(server.url, 'test_change_list', { list: 'prompts' }));
    // One pass per notification would be 2,000 reads; merged, a handful.
    assert.ok(after - before <= 6, `the catalog was read ${after - before} times`);
  } finally {
    tools.close?.();
  }
});

test('http: malformed filters are -32602 naming the field; a JSON-only client is refused', async () => {
  const cases = [
    [{ _meta: META }, /"notifications" is required/],
    [{ _meta: META, notifications: [] }, /"notifications" must be an object/],
    [{ _meta: META, notifications: { toolsListChanged: 'yes' } }, /"notifications.toolsListChanged" must be a boolean/],
    [{ _meta: META, notifications: { resourceSubscriptions: WATCHED } }, /resourceSubscriptions" must be an array/],
    [{ _meta: META, notifications: { resourceSubscriptions: [WATCHED, 3] } }, /resourceSubscriptions\[1\]" must be a non-empty string/],
    [{ _meta: META, notifications: { resourceSubscriptions: ['x'.repeat(5000)] } }, /longer than 2048 bytes/],
    [
      { _meta: META, notifications: { resourceSubscriptions: Array.from({ length: 5000 }, (_, i) => `test://r/${i}`) } },
      /lists 5000 URIs; at most 256/,
    ],
  ];
  for (const [params, message] of cases) {
    const r = await listen(server.url, 'bad', undefined, { params });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.id, 'bad');
    assert.equal(r.body.error?.code, -32602, JSON.stringify(r.body));
    assert.match(r.body.error.message, message);
  }
  const json = await listen(server.url, 'json', { toolsListChanged: true }, { accept: 'application/json' });
  assert.equal(json.status, 406, JSON.stringify(json.body));
  assert.match(json.body.error.message, /accept text\/event-stream/);
});

test(`http: at most ${LISTEN_BOUND} open streams per client; closing one frees its place`, async () => {
  const open = [];
  try {
    for (let i = 0; i < LISTEN_BOUND; i++) {
      const stream = await listen(server.url, `bound-${i}`, { toolsListChanged: true });
      assert.equal(stream.status, 200, JSON.stringify(stream.body));
      await stream.waitFor(ack, `acknowledgement ${i}`);
      open.push(stream);
    }
    const refused = await listen(server.url, 'one-too-many', { toolsListChanged: true });
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.id, 'one-too-many');
    assert.match(refused.body.error.message, /too many open subscriptions\/listen streams.*close one/);
    // Closing a stream is its teardown: the place is free again once the server notices.
    open.shift().close();
    let again;
    for (let tries = 0; tries < 40; tries++) {
      again = await listen(server.url, 'after-close', { toolsListChanged: true });
      if (again.status === 200) break;
      await sleep(50);
    }
    assert.equal(again.status, 200, 'a closed stream gives its place back');
    open.push(again);
    // Other requests are still served while the client holds its maximum.
    await call(server.url, 'test_simple_text', {});
  } finally {
    for (const stream of open) stream.close();
  }
});

test('http: stopping the server ends a listen stream with its empty result', async () => {
  const own = await startServer(sandbox, configPath);
  const stream = await listen(own.url, 'graceful', { toolsListChanged: true });
  await stream.waitFor(ack, 'acknowledgement');
  const exited = own.stop();
  assert.equal(await stream.ended, 'ended', 'the server ended the stream');
  const last = stream.messages.at(-1);
  assert.equal(last.id, 'graceful', JSON.stringify(stream.messages));
  assert.equal(last.result.resultType, 'complete');
  assert.equal(last.result._meta[SUB], 'graceful');
  assert.equal((await exited).code, 0, own.stderr());
});

test('stdio: listen streams share the channel, cancellation ends one, closing stdin ends the rest', async () => {
  const raw = await RawServer.start(sandbox, configPath);
  const { messages } = raw;
  const send = (message) => raw.send(message);
  const request = (id, method, params) => send({ jsonrpc: '2.0', id, method, params: { _meta: META, ...params } });
  const tagged = (id) => messages.filter((m) => m.params?._meta?.[SUB] === id);
  try {
    request('t', 'subscriptions/listen', { notifications: { toolsListChanged: true } });
    request('r', 'subscriptions/listen', { notifications: { resourceSubscriptions: [WATCHED] } });
    await waitFor(messages, (m) => ack(m) && m.params._meta[SUB] === 't', 'ack of t', 8000);
    await waitFor(messages, (m) => ack(m) && m.params._meta[SUB] === 'r', 'ack of r', 8000);
    assert.ok(ack(tagged('t')[0]) && ack(tagged('r')[0]), 'per subscription id, the acknowledgement comes first');

    request('c', 'tools/call', { name: 'test_change_list', arguments: { list: 'tools' } });
    await waitFor(messages, (m) => changed('tools')(m) && m.params._meta[SUB] === 't', 'tools/list_changed on t', 8000);
    await waitFor(messages, (m) => updated(m) && m.params._meta[SUB] === 'r', 'resources/updated on r', 8000);
    assert.equal(messages.filter(changed('tools')).length, 1, 'only the stream that asked hears a list change');
    const untagged = messages.filter((m) => /list_changed|resources\/updated|acknowledged/.test(m.method ?? '') && m.params?._meta?.[SUB] === undefined);
    assert.deepEqual(untagged, [], 'every change notification is tagged with its subscription');

    // The bound: with t and r open, 14 more fit; the next is refused.
    for (let i = 0; i < LISTEN_BOUND - 2; i++) request(`b${i}`, 'subscriptions/listen', { notifications: {} });
    request('over', 'subscriptions/listen', { notifications: {} });
    const over = await waitFor(messages, (m) => m.id === 'over', 'answer to the listen over the bound', 8000);
    assert.equal(over.error?.code, -32600, JSON.stringify(over));
    assert.match(over.error.message, /too many open subscriptions\/listen streams/);

    // notifications/cancelled ends r: no more updates for it (one arrives every 3 s).
    send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'r' } });
    await sleep(200);
    const before = tagged('r').length;
    await sleep(3500);
    assert.equal(tagged('r').length, before, 'nothing is sent for a cancelled stream');
    assert.equal(messages.filter((m) => m.id === 'r').length, 0, 'a cancelled stream gets no response');
  } finally {
    raw.closeStdin();
  }
  assert.equal((await raw.exited).code, 0, raw.stderr);
  // Closing stdin shuts the server down: every stream still open gets its empty result.
  const results = messages.filter((m) => m.result && m.id !== 'c');
  assert.deepEqual(results.map((m) => m.id).sort(), ['t', ...Array.from({ length: LISTEN_BOUND - 2 }, (_, i) => `b${i}`)].sort());
  for (const m of results) assert.deepEqual(m.result._meta[SUB], m.id, JSON.stringify(m));
  for (const m of results) assert.equal(m.result.resultType, 'complete');
});
