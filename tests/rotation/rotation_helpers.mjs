// Helpers shared by the rotation end-to-end tests: a sandboxed vault driven through the real
// keyhold binary, with every output kept so a test can prove no value leaked into it.
import assert from 'node:assert/strict';
import path from 'node:path';

import { keyholdBin, makeSandbox, run } from '../e2e/helpers.mjs';

export function makeVaultSandbox(label) {
  const sandbox = makeSandbox(label);
  sandbox.env.KEYHOLD_VAULT = path.join(sandbox.dir, 'vault.db');
  sandbox.env.KEYHOLD_KEYFILE = path.join(sandbox.dir, 'vault.key');
  sandbox.outputs = []; // every stdout/stderr except `reveal`'s stdout, for the leak check
  // Runs `keyhold ...args`; resolves with { code, stdout, stderr }. extraEnv adds variables.
  sandbox.keyhold = async (args, { input, env = {}, expect = 0 } = {}) => {
    const r = await run(await keyholdBin(), args, { env: { ...sandbox.env, ...env }, cwd: sandbox.dir, input });
    sandbox.outputs.push(r.stderr);
    if (args[1] !== 'reveal') sandbox.outputs.push(r.stdout);
    if (expect !== undefined && expect !== null)
      assert.equal(r.code, expect, `keyhold ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r;
  };
  sandbox.reveal = async (name, version) => {
    const r = await sandbox.keyhold(['vault', 'reveal', name, ...(version ? ['--version', String(version)] : [])]);
    return r.stdout;
  };
  // [{version, stage}] of name, from `vault show --json`.
  sandbox.versions = async (name) => JSON.parse((await sandbox.keyhold(['vault', 'show', name, '--json'])).stdout).versions;
  sandbox.current = async (name) => (await sandbox.versions(name)).filter((v) => v.stage === 'current');
  sandbox.rotation = async (name) => {
    const list = JSON.parse((await sandbox.keyhold(['vault', 'list', '--json'])).stdout);
    return list.find((s) => s.name === name).rotation;
  };
  // Asserts that none of values appears in any output collected so far (or in extra texts).
  sandbox.assertNoLeak = (values, extra = []) => {
    for (const text of [...sandbox.outputs, ...extra])
      for (const value of values) if (value) assert.ok(!text.includes(value), `a secret value leaked into: ${text.slice(0, 200)}`);
  };
  return sandbox;
}
