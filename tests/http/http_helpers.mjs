// Helpers of the Streamable HTTP tests: a sandboxed vault with tokens, `keyhold serve
// --http` on a free port, the official SDK client over StreamableHTTPClientTransport, and
// raw HTTP for the cases no well-behaved client would send.
//
// The SDK is the one installed for the e2e tests (tests/e2e/node_modules).
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

import {
  keyholdBin,
  makeSandbox,
  PLUGIN_DIR,
  run,
  sleep,
  tomlString,
} from '../e2e/helpers.mjs';
import { Client } from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/client/index.js';
import { StreamableHTTPClientTransport } from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js';

export { Client, StreamableHTTPClientTransport, sleep, run };

export const LATEST_VERSION = '2025-11-25';

// A sandbox with its own HOME/XDG dirs and a keyfile vault (KEYHOLD_VAULT / KEYHOLD_KEYFILE
// in sandbox.env), so tokens can be created and `serve --http` can check them.
export async function makeVaultSandbox(label = 'keyhold-http-') {
  const sandbox = makeSandbox(label);
  sandbox.env.KEYHOLD_VAULT = path.join(sandbox.dir, 'vault.db');
  sandbox.env.KEYHOLD_KEYFILE = path.join(sandbox.dir, 'vault.key');
  const init = await keyhold(sandbox, ['vault', 'init', '--keyfile', sandbox.env.KEYHOLD_KEYFILE]);
  if (init.code !== 0) throw new Error(`vault init failed: ${init.stderr}`);
  return sandbox;
}

// Runs `keyhold ARGS` in the sandbox; resolves with { code, stdout, stderr }.
export async function keyhold(sandbox, args, options = {}) {
  return run(await keyholdBin(), args, { env: sandbox.env, cwd: sandbox.dir, ...options });
}

// `keyhold token create NAME ...args`; returns the token text.
export async function createToken(sandbox, name, args = []) {
  const result = await keyhold(sandbox, ['token', 'create', name, ...args]);
  if (result.code !== 0) throw new Error(`token create ${name} failed (${result.code}): ${result.stderr}`);
  const token = result.stdout.trim();
  if (!/^kh_[A-Za-z0-9_-]{43}$/.test(token)) throw new Error('token create printed no token');
  return token;
}

// A config serving the echo connector; httpToml is added to the [http] table.
export function echoConfig(sandbox, httpToml = '') {
  return sandbox.writeConfig(
    `[server]\nplugin_dirs = [${tomlString(PLUGIN_DIR)}]\n` +
      `[http]\n${httpToml}\n` +
      `[instances.echo]\nplugin = "echo"\n`,
  );
}

// Starts `keyhold serve --config CONFIG --http 127.0.0.1:0`; resolves once it listens.
// Returns { port, url, stderr(), stop() -> exit code, exited }.
export async function startServer(sandbox, configPath, { env } = {}) {
  const bin = await keyholdBin();
  const child = spawn(bin, ['serve', '--config', configPath, '--http', '127.0.0.1:0'], {
    env: env ?? sandbox.env,
    cwd: sandbox.dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c.toString('utf8')));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 30_000;
  let port;
  while (port === undefined) {
    const m = /serving MCP over HTTP at http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(stderr);
    if (m) port = Number(m[1]);
    else if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`keyhold serve --http did not start (exit ${child.exitCode}):\n${stderr}`);
    } else await sleep(50);
  }
  return {
    port,
    url: `http://127.0.0.1:${port}/mcp`,
    stderr: () => stderr,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

// The official SDK client, connected to url with a bearer token (or none).
export async function connectClient(url, token, { transportOptions = {}, clientOptions = {} } = {}) {
  const headers = token === undefined ? {} : { Authorization: `Bearer ${token}` };
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers },
    ...transportOptions,
  });
  const client = new Client({ name: 'keyhold-http-test', version: '1.0.0' }, { capabilities: {}, ...clientOptions });
  await client.connect(transport);
  return { client, transport };
}

// A valid client calling echo_echo in a loop until stopped; every answer is checked.
export async function startValidClient(url, token) {
  const { client } = await connectClient(url, token);
  const state = { calls: 0, failures: [], running: true };
  const loop = (async () => {
    while (state.running) {
      const text = `call ${state.calls}`;
      try {
        const result = await client.callTool({ name: 'echo_echo', arguments: { text } });
        if (result.content?.[0]?.text !== text) state.failures.push(`wrong answer to ${text}`);
      } catch (e) {
        state.failures.push(`${text}: ${e.message}`);
      }
      state.calls += 1;
      await sleep(20);
    }
  })();
  return {
    state,
    async stop() {
      state.running = false;
      await loop;
      await client.close();
    },
  };
}

// One HTTP request with node:http (no connection reuse, any Host header).
// Resolves with { status, headers, body }.
export function httpRequest(port, { method = 'POST', path: target = '/mcp', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: target, headers, agent: false },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('request timed out')));
    if (body !== undefined) req.end(typeof body === 'string' ? body : JSON.stringify(body));
    else req.end();
  });
}

export const jsonHeaders = (extra = {}) => ({
  'Content-Type': 'application/json',
  Accept: 'application/json, text/event-stream',
  ...extra,
});

export const initializeMessage = (id = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: {
    protocolVersion: LATEST_VERSION,
    capabilities: {},
    clientInfo: { name: 'raw-http-test', version: '1.0.0' },
  },
});

// Initializes a session with raw HTTP (JSON answer); returns its id.
export async function rawSession(port, token) {
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await httpRequest(port, {
    headers: jsonHeaders({ ...auth, Accept: 'application/json' }),
    body: initializeMessage(),
  });
  if (res.status !== 200) throw new Error(`initialize: HTTP ${res.status} ${res.body}`);
  const id = res.headers['mcp-session-id'];
  await httpRequest(port, {
    headers: jsonHeaders({ ...auth, 'Mcp-Session-Id': id, 'MCP-Protocol-Version': LATEST_VERSION }),
    body: { jsonrpc: '2.0', method: 'notifications/initialized' },
  });
  return id;
}

// Opens a TCP connection, writes data (if any) and collects what comes back until the
// server closes. Resolves with { text, closedAfterMs }.
export function rawExchange(port, data, { timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got: ${text.slice(0, 200)}`));
    }, timeoutMs);
    socket.on('connect', () => {
      if (data !== undefined) socket.write(data);
    });
    socket.on('data', (c) => (text += c.toString('latin1')));
    socket.on('error', () => {}); // a reset after the reply is fine
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedAfterMs: Date.now() - started });
    });
  });
}

// The canary check: none of the secrets may appear in text.
export function assertNoSecret(assert, text, secrets, where) {
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), `a token leaked into ${where}`);
  }
}
