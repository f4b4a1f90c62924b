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
