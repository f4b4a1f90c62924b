// Helpers of the mount tests: where the npm servers are, and how to find a mounted
// server's process (by a marker variable in its environment).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { E2E_DIR, NODE_BIN } from '../e2e/helpers.mjs';
import { assertNoLeak, capture, captures, grant, makeVault, newCanary, setSecret } from '../secrets/lib.mjs';

export { NODE_BIN };
const MODULES = path.join(E2E_DIR, 'node_modules');
export const EVERYTHING_JS = path.join(MODULES, '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
export const FILESYSTEM_JS = path.join(MODULES, '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');

// Pids of the processes whose environment holds NAME=VALUE (a marker set by server.env).
export function pidsWithEnv(name, value) {
  const wanted = `${name}=${value}`;
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`).toString('utf8').split('\0');
      if (env.includes(wanted)) pids.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

// A free loopback TCP port (closed again: the caller binds it).
export async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Listens on 127.0.0.1:port (0: a free one) and resolves with the port; rejects when the
// port cannot be had (EADDRINUSE), rather than waiting forever for a listen that failed.
export function listen(server, port = 0) {
  return new Promise((resolve, reject) => {
    const failed = (error) => reject(error);
    server.once('error', failed);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', failed);
      resolve(server.address().port);
    });
  });
}

// server-everything in its Streamable HTTP mode (endpoint /mcp); resolves with the child
// once 127.0.0.1:port answers as it does, its port as child.port. log.text collects its
// output. Without a port it takes a free one, and another when that one went to another
// test's socket after freePort saw it free. The server listens on every address, so it
// even starts when another test listens on 127.0.0.1 at that port, and what connects
// there reaches the other test's listener: hence the check of the answer.
export async function startEverythingHttp(port, log = { text: '' }) {
  for (let attempt = 1; ; ++attempt) {
    const chosen = port ?? (await freePort());
    let child;
    try {
      child = await spawnEverythingHttp(chosen, log);
      await expectEverythingAt(chosen);
      child.port = chosen;
      return child;
    } catch (error) {
      await stopChild(child);
      if (port !== undefined || attempt === 5) throw error;
    }
  }
}

// Rejects unless GET http://127.0.0.1:port/mcp gets server-everything's answer to a GET
// without a session (400, "No valid session ID provided") within 10 s.
async function expectEverythingAt(port) {
  const http = await import('node:http');
  const answer = await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/mcp', timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer at 127.0.0.1:${port} in 10 s`)));
    req.on('error', reject);
  });
  if (answer.status !== 400 || !answer.body.includes('No valid session ID provided'))
    throw new Error(`127.0.0.1:${port} is not server-everything: ${answer.status} ${answer.body.slice(0, 200)}`);
}

async function spawnEverythingHttp(port, log) {
  const { spawn } = await import('node:child_process');
  const child = spawn(NODE_BIN, [EVERYTHING_JS, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server-everything did not start:\n${log.text}`));
    }, 30_000);
    child.stderr.on('data', (chunk) => {
      log.text += chunk.toString('utf8');
      if (/listening on port/.test(log.text.split('\n').slice(-5).join('\n'))) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stdout.on('data', (c) => (log.text += c.toString('utf8')));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server-everything exited ${code}:\n${log.text}`));
    });
  });
  return child;
}

// Kills child (SIGKILL) and waits for its exit.
export async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

// A vault (makeVault(label)) holding a fresh canary (newCanary(tag)) under alias, granted
// to instance for the env op.
export async function vaultWithCanary(label, tag, instance, alias) {
  const sandbox = await makeVault(label);
  const canary = newCanary(tag);
  await setSecret(sandbox, alias, canary);
  await grant(sandbox, instance, alias, 'env');
  return { sandbox, canary };
}

// Ends a test file's SDK session (the client closes, keyhold exits), then checks keyhold's
// stderr and every capture for a canary.
export async function closeAndSweep(client, session) {
  await client?.close();
  await session?.stderrEnded;
  capture('keyhold serve stderr', session?.stderr());
  for (const { label, text } of captures) assertNoLeak(text, label);
}
