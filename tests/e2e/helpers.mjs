// Shared helpers for the keyhold end-to-end tests.
//
// Environment (set by CTest, see CMakeLists.txt; defaults fit a run from the source tree
// against ./build):
//   KEYHOLD_BIN              the keyhold executable
//   KEYHOLD_PLUGIN_DIR       build/plugins (echo.so, c_fixture.so)
//   KEYHOLD_TEST_PLUGIN_DIR  build/test-plugins (the deliberately broken plugins)
//   KEYHOLD_SOURCE_DIR       the repository root
//   KEYHOLD_BUILD_DIR        the build directory (default: parent of KEYHOLD_PLUGIN_DIR)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.KEYHOLD_SOURCE_DIR ?? path.resolve(E2E_DIR, '..', '..');
export const PLUGIN_DIR = process.env.KEYHOLD_PLUGIN_DIR ?? path.join(SOURCE_DIR, 'build', 'plugins');
export const TEST_PLUGIN_DIR =
  process.env.KEYHOLD_TEST_PLUGIN_DIR ?? path.join(path.dirname(PLUGIN_DIR), 'test-plugins');
export const BUILD_DIR = process.env.KEYHOLD_BUILD_DIR ?? path.dirname(PLUGIN_DIR);
export const KEYHOLD_BIN = process.env.KEYHOLD_BIN ?? path.join(BUILD_DIR, 'bin', 'keyhold');
export const NODE_BIN = path.join(E2E_DIR, 'node_modules', '.bin', 'node');

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The build directory is rebuilt while tests may run: wait a little for a missing file.
export async function waitForFile(file, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`missing file: ${file}`);
    await sleep(250);
  }
  return file;
}

// Asserts that the text read() returns (keyhold's log) matches pattern, waiting up to
// timeoutMs for it: keyhold's log (stderr) and its answers (stdout) are two pipes, so a
// line logged before an answer may reach the test after the answer.
export async function assertLogMatches(read, pattern, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(read()) && Date.now() < deadline) await sleep(20);
  assert.match(read(), pattern);
}

export async function keyholdBin() {
  return waitForFile(KEYHOLD_BIN);
}

// A TOML basic string (JSON string escapes are valid TOML for ordinary paths).
export const tomlString = (s) => JSON.stringify(String(s));

// A fresh temp dir with its own HOME / XDG folders, so nothing touches the real home.
export function makeSandbox(label = 'keyhold-e2e-') {
  const dir = mkdtempSync(path.join(tmpdir(), label));
  const home = path.join(dir, 'home');
  const configHome = path.join(dir, 'xdg-config');
  const dataHome = path.join(dir, 'xdg-data');
  for (const d of [home, configHome, dataHome]) mkdirSync(d, { recursive: true });
  const env = {
    PATH: `${path.dirname(NODE_BIN)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: home,
    XDG_CONFIG_HOME: configHome,
    XDG_DATA_HOME: dataHome,
    LANG: 'C.UTF-8',
  };
  return {
    dir,
    env,
    file(name, contents) {
      const p = path.join(dir, name);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, contents);
      return p;
    },
    writeConfig(text, name = 'keyhold.toml') {
      return this.file(name, text);
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// One [instances.NAME] table. plugin: a name or a path; options: flat object of scalars.
export function instanceToml(name, plugin, { prefix, options, isolation } = {}) {
  let text = `[instances.${name}]\nplugin = ${tomlString(plugin)}\n`;
  if (prefix !== undefined) text += `prefix = ${tomlString(prefix)}\n`;
  if (isolation !== undefined) text += `isolation = ${tomlString(isolation)}\n`;
  if (options && Object.keys(options).length > 0) {
    text += `[instances.${name}.options]\n`;
    for (const [k, v] of Object.entries(options))
      text += `${k} = ${typeof v === 'string' ? tomlString(v) : String(v)}\n`;
  }
  return text + '\n';
}

export const pluginPath = (name) => path.join(PLUGIN_DIR, `${name}.so`);
export const testPluginPath = (name) => path.join(TEST_PLUGIN_DIR, `${name}.so`);

// Connects the official SDK client to `keyhold serve --config CONFIG ...extraArgs`.
// Returns { client, transport, stderr(), stderrEnded } — stderr() is what the server printed
// so far; stderrEnded resolves once the server's stderr closed (after client.close()).
export async function connectSdk(sandbox, configPath, extraArgs = [], clientOptions = {}, bin) {
  const command = bin ?? (await keyholdBin());
  const transport = new StdioClientTransport({
    command,
    args: ['serve', ...(configPath === undefined ? [] : ['--config', configPath]), ...extraArgs],
    env: sandbox.env,
    cwd: sandbox.dir,
    stderr: 'pipe',
  });
  let stderrText = '';
  const stderrEnded = new Promise((resolve) => transport.stderr?.on('end', resolve));
  transport.stderr?.on('data', (chunk) => {
    stderrText += chunk.toString('utf8');
  });
  const client = new Client(
    { name: 'keyhold-e2e', version: '1.0.0' },
    { capabilities: {}, ...clientOptions },
  );
  await client.connect(transport);
  return { client, transport, stderr: () => stderrText, stderrEnded };
}

// Spawns a process and collects its output; resolves with { code, signal, stdout, stderr }.
export function run(command, args, { env, cwd, input, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    // Own process group, so a timeout also ends whatever the command spawned.
    const child = spawn(command, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const killGroup = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error(`timeout after ${timeoutMs} ms: ${command} ${args.join(' ')}\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup(); // leftovers of the command, if any
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // EPIPE when the child exits without reading
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}
