// Helpers of the secret tests: canaries and their encoded forms, a fresh keyfile vault per
// test, `keyhold serve` with the snoop fixture behind the official SDK client (every
// message it receives recorded, raw bytes and parsed), and a capture log of everything the
// run printed, for the final sweep (issue 4, acceptance 5).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { connectSdk, keyholdBin, makeSandbox, PLUGIN_DIR, run, sleep, tomlString, waitForFile } from '../e2e/helpers.mjs';

export const SNOOP = path.join(PLUGIN_DIR, 'snoop.so');

// KH_* status codes (plugin-api/include/keyhold/plugin.h).
export const KH = { OK: 0, ERROR: 1, INVALID_ARGUMENT: 2, NOT_FOUND: 3, NOT_GRANTED: 4, UNAVAILABLE: 7 };

// ---------------------------------------------------------------- canaries and forms

// Every canary of this run. '/', '+' and '=' make the URL-encoded form differ from the raw
// one, and the base64 forms differ from base64url in most runs.
export const canaries = [];
export function newCanary(tag = '') {
  const value = `canary-${tag}${randomBytes(8).toString('hex')}/${randomBytes(4).toString('hex')}+=`;
  canaries.push(value);
  return value;
}

const strictUrl = (v) =>
  encodeURIComponent(v).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

// The forms issue 4 requires the redactor to catch: raw, base64 (padded or not),
// base64url, URL-encoded (RFC 3986, upper-case hex), hex lower and upper.
export function forms(value) {
  const b = Buffer.from(value, 'utf8');
  return {
    raw: value,
    base64: b.toString('base64').replace(/=+$/, ''), // also matches the padded form
    base64url: b.toString('base64url'),
    url: strictUrl(value),
    hex: b.toString('hex'),
    HEX: b.toString('hex').toUpperCase(),
  };
}

// [{canary, form}] for every canary (default: all of the run) found in text in any form.
export function findLeaks(text, values = canaries) {
  const hits = [];
  for (const value of values)
    for (const [form, encoded] of Object.entries(forms(value)))
      if (text.includes(encoded)) hits.push({ canary: value, form });
  return hits;
}

// "label: form of canary" for every canary found in any capture so far, and how many bytes
// were searched.
export function leaksInCaptures() {
  const hits = [];
  let searched = 0;
  for (const c of captures) {
    searched += c.text.length;
    for (const hit of findLeaks(c.text)) hits.push(`${c.label}: ${hit.form} of ${hit.canary}`);
  }
  return { hits, searched };
}

export function assertNoLeak(text, what, values = canaries) {
  const hits = findLeaks(text, values);
  assert.deepEqual(hits, [], `${what}: a canary reached the outside: ${JSON.stringify(hits)}`);
}

// ---------------------------------------------------------------- captures (acceptance 5)

// Everything the run printed or received: { label, text }; the sweep searches every one.
export const captures = [];
export function capture(label, text) {
  const entry = { label, text: String(text ?? '') };
  captures.push(entry);
  return entry;
}
// Sandboxes whose files the sweep reads (and removes afterwards).
export const sandboxes = [];

// Every regular file under dir (for the sweep), except the keyfiles.
export function filesUnder(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile() && !name.endsWith('.key')) out.push({ file: p, text: readFileSync(p).toString('latin1') });
  }
  return out;
}

// ---------------------------------------------------------------- vaults

// A fresh sandbox with a keyfile vault; KEYHOLD_VAULT and KEYHOLD_KEYFILE are set in
// sandbox.env, so `keyhold serve` started with it unlocks the vault.
export async function makeVault(label) {
  const sandbox = makeSandbox(`keyhold-secrets-${label}-`);
  sandboxes.push(sandbox);
  sandbox.label = label;
  sandbox.env.KEYHOLD_VAULT = path.join(sandbox.dir, 'vault.db');
  sandbox.env.KEYHOLD_KEYFILE = path.join(sandbox.dir, 'vault.key');
  await cli(sandbox, ['vault', 'init', '--keyfile', sandbox.env.KEYHOLD_KEYFILE]);
  return sandbox;
}

// Runs `keyhold ...args` in sandbox, captures its output, asserts exit code `expect`.
export async function cli(sandbox, args, { input, expect = 0 } = {}) {
  const result = await run(await keyholdBin(), args, { env: sandbox.env, cwd: sandbox.dir, input });
  capture(`${sandbox.label}: keyhold ${args.join(' ')} (stdout)`, result.stdout);
  capture(`${sandbox.label}: keyhold ${args.join(' ')} (stderr)`, result.stderr);
  if (expect !== null)
    assert.equal(result.code, expect, `keyhold ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result;
}

export const setSecret = (sandbox, name, value) => cli(sandbox, ['vault', 'set', name], { input: value });
export const grant = (sandbox, instance, secret, ops, expires) =>
  cli(sandbox, ['vault', 'grant', instance, secret, '--ops', ops, ...(expires ? ['--expires', expires] : [])]);

// The audit log as JSON (captured too).
export async function audit(sandbox) {
  const r = await cli(sandbox, ['vault', 'audit', '--json']);
  return JSON.parse(r.stdout);
}

// ---------------------------------------------------------------- config and serve

// A secret mapping: "vault:NAME", or { source, env_commands: [argv prefix, ...] }.
function tomlMapping(source) {
  if (typeof source === 'string') return tomlString(source);
  const commands = (source.env_commands ?? []).map((argv) => `[${argv.map(tomlString).join(', ')}]`);
  return `{ source = ${tomlString(source.source)}, env_commands = [${commands.join(', ')}] }`;
}

// The exact commands the snoop fixture starts with a secret in their environment (its
// `env` and `spawn_keep` tools, tests/fixtures/plugins/snoop): the administrator's allowlist for them.
export const SNOOP_ENV_COMMANDS = [
  ['sh', '-c', 'echo "got $MCP_AUTH_TOKEN"; echo "on stderr $MCP_AUTH_TOKEN" >&2'],
  ['sh', '-c', "head -c 65528 /dev/zero | tr '\\0' x; printf '%s\\n' \"$MCP_AUTH_TOKEN\""],
  ['sh', '-c', 'i=0; while [ $i -lt 4000 ]; do printf \'%s-\' "$MCP_AUTH_TOKEN"; i=$((i+1)); done; echo'],
  ['sh', '-c', 'echo "started $SNOOP_VALUE"; sleep 30'],
  ['/usr/bin/printenv'],
];

// One snoop instance. secrets: { alias: source }.
// isolation: "in-process" where a test needs two instances to share the library's statics
// (to hand one instance's handle or child id to another); by default each runs alone.
export function snoopInstance(name, secrets = {}, { guard, plugin = SNOOP, isolation } = {}) {
  let text = `[instances.${name}]\nplugin = ${tomlString(plugin)}\n`;
  if (isolation) text += `isolation = ${tomlString(isolation)}\n`;
  if (guard) text += `guard = ${tomlString(guard)}\n`;
  if (Object.keys(secrets).length > 0) {
    text += `[instances.${name}.secrets]\n`;
    for (const [alias, source] of Object.entries(secrets)) text += `${alias} = ${tomlMapping(source)}\n`;
  }
  return text + '\n';
}

// Serves config from sandbox with the SDK client. Records every message the client
// receives (raw stdout bytes and the parsed messages) and the server's stderr; close()
// captures them all.
export async function serve(sandbox, config, label) {
  await waitForFile(SNOOP);
  const configPath = sandbox.writeConfig(`[server]\nlog_level = "debug"\n\n${config}`);
  const conn = await connectSdk(sandbox, configPath);
  const rawChunks = [];
  const messages = [];
  conn.transport._process?.stdout?.on('data', (c) => rawChunks.push(c.toString('utf8')));
  const original = conn.transport.onmessage;
  conn.transport.onmessage = (message, extra) => {
    messages.push(message);
    original?.(message, extra);
  };
  const notifications = [];
  const prefix = `${sandbox.label}/${label}`;
  let closed = false;
  const stdoutCapture = capture(`${prefix}: serve stdout (client view)`, '');
  const stderrCapture = capture(`${prefix}: serve stderr`, '');
  const session = {
    ...conn,
    messages,
    notifications,
    // Everything received so far, raw and re-serialized.
    received: () => rawChunks.join('') + '\n' + messages.map((m) => JSON.stringify(m)).join('\n'),
    async call(name, args = {}, options) {
      return conn.client.callTool({ name, arguments: args }, undefined, options);
    },
    async close() {
      if (closed) return;
      closed = true;
      await conn.client.close();
      await Promise.race([conn.stderrEnded, sleep(5000)]);
      stdoutCapture.text = session.received();
      stderrCapture.text = conn.stderr();
    },
  };
  return session;
}

// The structuredContent of a tool result (asserting it is there).
export function structured(result) {
  assert.ok(result.structuredContent, `no structuredContent in ${JSON.stringify(result)}`);
  return result.structuredContent;
}
