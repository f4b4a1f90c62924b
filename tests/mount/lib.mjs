// Helpers of the mount tests: where the npm servers are, and how to find a mounted
// server's process (by a marker variable in its environment).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { E2E_DIR, NODE_BIN } from '../e2e/helpers.mjs';

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

// server-everything in its Streamable HTTP mode on port (endpoint /mcp); resolves with the
// child once it listens. log.text collects its output.
export async function startEverythingHttp(port, log = { text: '' }) {
  const { spawn } = await import('node:child_process');
  const child = spawn(NODE_BIN, [EVERYTHING_JS, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server-everything did not start:\n${log.text}`)), 30_000);
    child.stderr.on('data', (chunk) => {
      log.text += chunk.toString('utf8');
      if (/listening on port/.test(log.text.split('\n').slice(-5).join('\n'))) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stdout.on('data', (c) => (log.text += c.toString('utf8')));
    child.once('exit', (code) => reject(new Error(`server-everything exited ${code}:\n${log.text}`)));
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
