// Helpers of the ci connector's end-to-end tests: a sandbox with a keyfile vault, copies
// of the fixture projects (tests never write into the source tree), the ci instance's
// TOML, `keyhold serve` behind the official SDK client, and ps checks for process groups.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';

import { connectSdk, NODE_BIN, PLUGIN_DIR, run, SOURCE_DIR, sleep, waitForFile } from '../e2e/helpers.mjs';
import { capture, makeVault } from '../secrets/lib.mjs';

export const CI_PLUGIN = path.join(PLUGIN_DIR, 'ci.so');
export const FIXTURES = path.join(SOURCE_DIR, 'tests', 'fixtures');
export const NODE = NODE_BIN;
// The file NODE leads to: a ci instance's sandbox must let its children read (execute) it.
// Landlock checks the file finally reached, not the symlinks on the way.
export const NODE_REAL = realpathSync(NODE_BIN);
export const SANITIZE = ['1', 'ON', 'TRUE'].includes(String(process.env.KEYHOLD_SANITIZE ?? '').toUpperCase());

// The administrator's mapping of an alias: the table form names the commands allowed to
// receive the secret in their environment (argv[0] must equal one of them).
export function secretMapping(source, envCommands) {
  return { source, env_commands: envCommands };
}

// A sandbox with a vault (KEYHOLD_VAULT/KEYHOLD_KEYFILE in sandbox.env).
export async function ciSandbox(label) {
  const sandbox = await makeVault(`ci-${label}`);
  // Its own folder: the instance's sandbox may write it (a sandbox's write paths must
  // exist), never the sandbox's top folder, which holds the vault and its keyfile.
  sandbox.historyPath = path.join(sandbox.dir, 'state', 'ci-history.sqlite');
  mkdirSync(path.dirname(sandbox.historyPath), { recursive: true });
  return sandbox;
}

// Copies tests/fixtures/<name> into the sandbox; returns the copy's path.
export function copyFixture(sandbox, name) {
  const target = path.join(sandbox.dir, 'projects', name);
  cpSync(path.join(FIXTURES, name), target, { recursive: true });
  return target;
}

// Configures and builds the CMake fixture into the sandbox; returns the build folder.
export async function buildCtestFixture(sandbox) {
  const source = copyFixture(sandbox, 'ci-ctest');
  const build = path.join(sandbox.dir, 'ctest-build');
  for (const args of [['-S', source, '-B', build], ['--build', build]]) {
    const r = await run('cmake', args, { env: process.env });
    assert.equal(r.code, 0, `cmake ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
  }
  return build;
}

// ---------------------------------------------------------------- TOML

const bareKey = (k) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));
export function tomlValue(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  return `{ ${Object.entries(v).map(([k, x]) => `${bareKey(k)} = ${tomlValue(x)}`).join(', ')} }`;
}

// [instances.NAME] for the ci plugin. suites: { name: {argv, cwd, ...} }; options: other
// top-level options; secrets: { alias: mapping } (string or secretMapping()); sandbox: the
// [instances.NAME.sandbox] keys (the instance and every suite it starts run in it).
export function ciInstance(name, { suites, options = {}, secrets = {}, sandbox }) {
  let text = `[instances.${name}]\nplugin = ${JSON.stringify(CI_PLUGIN)}\n`;
  text += `[instances.${name}.options]\n`;
  for (const [k, v] of Object.entries(options)) text += `${bareKey(k)} = ${tomlValue(v)}\n`;
  for (const [suite, table] of Object.entries(suites)) {
    text += `[instances.${name}.options.suites.${bareKey(suite)}]\n`;
    for (const [k, v] of Object.entries(table)) text += `${bareKey(k)} = ${tomlValue(v)}\n`;
  }
  if (Object.keys(secrets).length > 0) {
    text += `[instances.${name}.secrets]\n`;
    for (const [alias, mapping] of Object.entries(secrets)) text += `${bareKey(alias)} = ${tomlValue(mapping)}\n`;
  }
  if (sandbox) {
    text += `[instances.${name}.sandbox]\n`;
    for (const [k, v] of Object.entries(sandbox)) text += `${bareKey(k)} = ${tomlValue(v)}\n`;
  }
  return text + '\n';
}

// The sandbox a ci instance needs: its history folder and the projects its suites run in
// (they write reports and build output there) writable, the Node binary readable; extra
// read/write paths and a network policy as the suites need. The suites' children run in
// the same sandbox (plus read access to the system's program folders).
export function ciSandboxPolicy(sandbox, { projects = [], read = [], write = [], network } = {}) {
  const policy = {
    read: [NODE_REAL, ...read],
    write: [path.dirname(sandbox.historyPath), ...projects, ...write],
  };
  if (network !== undefined) policy.network = network;
  return policy;
}

// ---------------------------------------------------------------- serve

// Serves config with the SDK client; everything the client received and the server's
// stderr are captured for the canary sweeps when close() is called.
export async function serveCi(sandbox, config, label) {
  await waitForFile(CI_PLUGIN);
  const configPath = sandbox.writeConfig(`[server]\nlog_level = "debug"\n\n${config}`, `${label}.toml`);
  const conn = await connectSdk(sandbox, configPath);
  const raw = [];
  conn.transport._process?.stdout?.on('data', (c) => raw.push(c.toString('utf8')));
  let closed = false;
  const stdoutCapture = capture(`${sandbox.label}/${label}: serve stdout`, '');
  const stderrCapture = capture(`${sandbox.label}/${label}: serve stderr`, '');
  return {
    ...conn,
    pid: conn.transport.pid,
    received: () => raw.join(''),
    // Calls <instance>_<tool>; returns the result (isError results too).
    call(name, args = {}, options = {}) {
      return conn.client.callTool({ name, arguments: args }, undefined, { timeout: 600_000, ...options });
    },
    async close() {
      if (closed) return;
      closed = true;
      await conn.client.close();
      await Promise.race([conn.stderrEnded, sleep(5000)]);
      stdoutCapture.text = raw.join('');
      stderrCapture.text = conn.stderr();
    },
  };
}

export function structured(result) {
  assert.ok(result.structuredContent, `no structuredContent in ${JSON.stringify(result)}`);
  return result.structuredContent;
}

// Calls fn until it returns a truthy value (checked every 100 ms, at most timeoutMs).
export async function until(what, fn, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------- processes

// Live (not zombie) processes whose process group is pgid, as [{pid, stat, args}].
export function processesInGroup(pgid) {
  const out = execFileSync('ps', ['-eo', 'pid=,pgid=,stat=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/))
    .filter((m) => m && Number(m[2]) === pgid && !m[3].startsWith('Z'))
    .map((m) => ({ pid: Number(m[1]), stat: m[3], args: m[4] }));
}

export function pidAlive(pid) {
  try {
    const out = execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return out !== '' && !out.startsWith('Z');
  } catch {
    return false; // ps exits 1 when no such process exists
  }
}

export { existsSync, mkdirSync, path, sleep };
