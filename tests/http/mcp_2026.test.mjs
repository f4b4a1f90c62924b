// MCP 2026-07-28 over Streamable HTTP, where the conformance suite does not look: a
// credential must not enter as an Mcp-Param-* header (the argument guard sees them as it
// sees arguments), and the sealed requestState of a multi round-trip call neither shows a
// client's earlier answer nor survives tampering. Canaries: a vault secret the conformance
// fixture is granted, and an elicitation answer.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { PLUGIN_DIR, tomlString } from '../e2e/helpers.mjs';
import { keyhold, makeVaultSandbox, startServer } from './http_helpers.mjs';

const VERSION = '2026-07-28';
const canary = `canary-mcp2026-${randomBytes(8).toString('hex')}/${randomBytes(4).toString('hex')}+=`;
const answerCanary = `canary-answer-${randomBytes(8).toString('hex')}`;

// The forms the redactor knows a secret by (raw, base64 with or without padding,
// base64url, hex), so a test fails on any of them.
function leaks(text, value) {
  const b = Buffer.from(value);
  return [value, b.toString('base64').replace(/=+$/, ''), b.toString('base64url'), b.toString('hex')].filter(
    (form) => text.includes(form),
  );
}

let sandbox;
let server;
let configPath;

before(async () => {
  sandbox = await makeVaultSandbox('keyhold-mcp2026-');
  const set = await keyhold(sandbox, ['vault', 'set', 'app/token'], { input: canary });
  assert.equal(set.code, 0, set.stderr);
  // The snoop fixture declares the alias 'token': mapping it makes the secret one the host
  // can release, so the redactor and the argument guard know it.
  const grant = await keyhold(sandbox, ['vault', 'grant', 'snoop', 'app/token', '--ops', 'reveal']);
  assert.equal(grant.code, 0, grant.stderr);
  const config = (configPath = sandbox.writeConfig(
    `[server]\nplugin_dirs = [${tomlString(PLUGIN_DIR)}]\n` +
      `[http]\nauth = "off"\n` +
      `[instances.conformance]\nplugin = "conformance"\nprefix = ""\n` +
      `[instances.snoop]\nplugin = "snoop"\n[instances.snoop.secrets]\ntoken = "vault:app/token"\n`,
  ));
  server = await startServer(sandbox, config);
  assert.doesNotMatch(server.stderr(), /skipped/, server.stderr());
});

after(async () => {
  if (server) assert.equal((await server.stop()).code, 0, 'keyhold exits 0 on SIGTERM');
  assert.deepEqual(leaks(server?.stderr() ?? '', canary), [], 'the secret never reaches the log');
  assert.deepEqual(leaks(server?.stderr() ?? '', answerCanary), [], 'the answer never reaches the log');
});

let nextId = 1;
// One stateless request with the standard headers (and `headers` on top). Returns
// { status, text, body } where body is the JSON-RPC response.
async function post(method, params, headers = {}, url = server.url) {
  const id = nextId++;
  const name = params.name ?? params.uri;
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': VERSION,
      'Mcp-Method': method,
      ...(name === undefined ? {} : { 'Mcp-Name': name }),
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': VERSION,
          'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
        },
      },
    }),
  });
  const text = await response.text();
  const body = text.startsWith('{')
    ? JSON.parse(text)
    : text
        .split('\n')
        .filter((line) => line.startsWith('data: {'))
        .map((line) => JSON.parse(line.slice(6)))
        .find((m) => m.id === id);
  return { status: response.status, text, body };
}

const callRegion = (region, headers) =>
  post('tools/call', { name: 'test_custom_header', arguments: { region } }, headers);

function assertRefused(r, what) {
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.result?.isError, true, `${what}: not refused: ${r.text.slice(0, 300)}`);
  assert.match(r.body.result.content[0].text, /the secret 'token'/, r.text.slice(0, 300));
  assert.deepEqual(leaks(r.text, canary), [], `${what}: the refusal does not quote the secret`);
}

test('Mcp-Param-Region mirrors the argument: served when both agree', async () => {
  const r = await callRegion('us-west1', { 'Mcp-Param-Region': 'us-west1' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.result?.content?.[0]?.text, 'Region: us-west1', r.text);
  assert.equal(r.body.result.resultType, 'complete');
});

test('a header that disagrees with its argument is -32020 (HTTP 400) and quotes neither', async () => {
  const r = await callRegion('us-west1', { 'Mcp-Param-Region': canary });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body.error?.code, -32020, r.text);
  assert.deepEqual(leaks(r.text, canary), [], 'the mismatch error does not quote the header');
  const missing = await callRegion('us-west1');
  assert.equal(missing.status, 400, missing.text);
  assert.equal(missing.body.error?.code, -32020, missing.text);
});

test('the secret as a mirrored argument is refused by the argument guard', async () => {
  assertRefused(await callRegion(canary, { 'Mcp-Param-Region': canary }), 'argument and header');
  const encoded = `=?base64?${Buffer.from(canary).toString('base64')}?=`;
  assertRefused(await callRegion(canary, { 'Mcp-Param-Region': encoded }), 'base64 header');
});

test('the secret in a header no property declares is refused too, raw or base64-encoded', async () => {
  assertRefused(await callRegion('us-west1', { 'Mcp-Param-Region': 'us-west1', 'Mcp-Param-Token': canary }), 'raw');
  const encoded = `=?base64?${Buffer.from(canary).toString('base64')}?=`;
  assertRefused(await callRegion('us-west1', { 'Mcp-Param-Region': 'us-west1', 'Mcp-Param-Extra': encoded }), 'base64');
});

test('requestState is sealed: an earlier answer cannot be read from it, and a changed one is refused', async () => {
  const tool = 'test_input_required_result_multi_round';
  const first = await post('tools/call', { name: tool, arguments: {} });
  assert.equal(first.body.result?.resultType, 'input_required', first.text);
  assert.deepEqual(Object.keys(first.body.result.inputRequests), ['step1']);
  const step1 = { action: 'accept', content: { name: answerCanary } };
  const second = await post('tools/call', {
    name: tool,
    arguments: {},
    inputResponses: { step1 },
    requestState: first.body.result.requestState,
  });
  assert.equal(second.body.result?.resultType, 'input_required', second.text);
  assert.deepEqual(Object.keys(second.body.result.inputRequests), ['step2']);
  const state = second.body.result.requestState;
  assert.deepEqual(leaks(second.text, answerCanary), [], 'the answer is not readable in the response');

  // Every single-bit change of the sealed bytes is refused with -32602.
  const bytes = Buffer.from(state, 'base64url');
  bytes[bytes.length - 1] ^= 1;
  const tampered = await post('tools/call', {
    name: tool,
    arguments: {},
    inputResponses: { step2: { action: 'accept', content: { color: 'blue' } } },
    requestState: bytes.toString('base64url'),
  });
  assert.equal(tampered.status, 400, tampered.text);
  assert.equal(tampered.body.error?.code, -32602, tampered.text);

  // Another tool's state does not open this one.
  const other = await post('tools/call', {
    name: 'test_input_required_result_elicitation',
    arguments: {},
    inputResponses: { user_name: { action: 'accept', content: { name: 'x' } } },
    requestState: state,
  });
  assert.equal(other.body.error?.code, -32602, other.text);

  const done = await post('tools/call', {
    name: tool,
    arguments: {},
    inputResponses: { step2: { action: 'accept', content: { color: 'blue' } } },
    requestState: state,
  });
  assert.equal(done.body.result?.resultType, 'complete', done.text);
  assert.match(done.body.result.content[0].text, /step 2: action=accept/);
  assert.ok(done.body.result.content[0].text.includes(answerCanary), 'the sealed answer came back to the tool');
});

test('two serve processes on one vault behind a round-robin proxy: a multi-round-trip call moves between them', async () => {
  // Issue 20 acceptance 3: the request state is sealed under a key both derive from the
  // vault, so each round trip may land on the other process.
  const second = await startServer(sandbox, configPath);
  const backends = [server.port, second.port];
  const served = [];
  let turn = 0;
  const proxy = http.createServer((req, res) => {
    const port = backends[turn++ % backends.length];
    served.push(port);
    const forward = http.request({ host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', (e) => res.destroy(e));
    req.pipe(forward);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${proxy.address().port}/mcp`;
  try {
    const tool = 'test_input_required_result_multi_round';
    const first = await post('tools/call', { name: tool, arguments: {} }, {}, url);
    assert.equal(first.body.result?.resultType, 'input_required', first.text);
    const step1 = { action: 'accept', content: { name: answerCanary } };
    const again = await post('tools/call', { name: tool, arguments: {}, inputResponses: { step1 }, requestState: first.body.result.requestState }, {}, url);
    assert.equal(again.body.result?.resultType, 'input_required', again.text);
    const done = await post('tools/call', {
      name: tool,
      arguments: {},
      inputResponses: { step2: { action: 'accept', content: { color: 'blue' } } },
      requestState: again.body.result.requestState,
    }, {}, url);
    assert.equal(done.body.result?.resultType, 'complete', done.text);
    assert.ok(done.body.result.content[0].text.includes(answerCanary), 'the answer sealed by one process reached the other');
    assert.deepEqual(served, [server.port, second.port, server.port], 'consecutive requests went to different processes');
  } finally {
    proxy.close();
    assert.equal((await second.stop()).code, 0);
    assert.deepEqual(leaks(second.stderr(), answerCanary), [], 'the answer never reaches the second log');
  }
});

test('stdio: a 2026-07-28 request needs no initialize, and MRTR works there too', async () => {
  const { spawn } = await import('node:child_process');
  const { keyholdBin } = await import('../e2e/helpers.mjs');
  const child = spawn(await keyholdBin(), ['serve', '--config', configPath], {
    env: sandbox.env,
    cwd: sandbox.dir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  const answers = new Map();
  child.stdout.on('data', (c) => {
    out += c;
    for (let nl; (nl = out.indexOf('\n')) >= 0; out = out.slice(nl + 1)) {
      const m = JSON.parse(out.slice(0, nl));
      answers.set(m.id, m);
    }
  });
  const meta = {
    'io.modelcontextprotocol/protocolVersion': VERSION,
    'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
  };
  const send = async (id, method, params) => {
    child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } }) + '\n');
    for (let i = 0; i < 300 && !answers.has(id); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(answers.has(id), `no answer to ${method}: ${err}`);
    return answers.get(id);
  };
  try {
    const discover = await send('d', 'server/discover', {});
    assert.ok(discover.result?.supportedVersions?.includes(VERSION), JSON.stringify(discover));
    const ping = await send('p', 'ping', {});
    assert.equal(ping.error?.code, -32601, JSON.stringify(ping));
    const tool = 'test_input_required_result_elicitation';
    const first = await send('t1', 'tools/call', { name: tool, arguments: {} });
    assert.equal(first.result?.resultType, 'input_required', JSON.stringify(first));
    const done = await send('t2', 'tools/call', {
      name: tool,
      arguments: {},
      inputResponses: { user_name: { action: 'accept', content: { name: 'Ada' } } },
      requestState: first.result.requestState,
    });
    assert.equal(done.result?.content?.[0]?.text, 'Hello, Ada!', JSON.stringify(done));
  } finally {
    child.stdin.end();
    await new Promise((r) => child.on('exit', r));
  }
  assert.deepEqual(leaks(err, canary), []);
});
