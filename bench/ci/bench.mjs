// bench/ci: a 1,000-test node:test suite (TAP reporter), run directly (a child process whose
// output is read to the end, as a CI job would) and through `keyhold serve` + the ci
// connector (official SDK client, run_suite, token injected from the vault), alternating,
// REPS times each. Prints median and min wall times and the overhead. Never asserts.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { connectSdk, NODE_BIN, PLUGIN_DIR } from '../../tests/e2e/helpers.mjs';
import { grant, makeVault, setSecret } from '../../tests/secrets/lib.mjs';
import { ciInstance, secretMapping } from '../../tests/ci/ci_lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPS = Number(process.env.REPS ?? 7);
const argv = [NODE_BIN, '--test', '--test-reporter=tap', 'thousand.test.mjs'];
const cwd = path.join(HERE, 'suite');

// The same environment keyhold's env service gives the child (PATH, HOME, LANG, TMPDIR,
// USER from the host, then the token).
const directEnv = { MCP_AUTH_TOKEN: 'bench-token-0123456789abcdef' };
for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'USER']) if (process.env[k] !== undefined) directEnv[k] = process.env[k];

function direct() {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: directEnv });
    let bytes = 0;
    child.stdout.on('data', (c) => (bytes += c.length));
    child.stderr.on('data', (c) => (bytes += c.length));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, code, bytes }));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const min = (xs) => Math.min(...xs);

const sandbox = await makeVault('bench-ci');
await setSecret(sandbox, 'ci/api-token', 'bench-token-0123456789abcdef');
await grant(sandbox, 'ci', 'ci/api-token', 'env');
mkdirSync(path.join(sandbox.dir, 'state'), { recursive: true });
const config = ciInstance('ci', {
  options: { history_path: path.join(sandbox.dir, 'state', 'history.sqlite') },
  suites: {
    thousand: { argv, cwd, report: { format: 'tap' }, secret_env: { MCP_AUTH_TOKEN: 'api-token' } },
  },
  secrets: { 'api-token': secretMapping('vault:ci/api-token', [NODE_BIN]) },
});
const configPath = sandbox.writeConfig(config);
const conn = await connectSdk(sandbox, configPath);

const times = { direct: [], keyhold: [] };
let last;
await direct(); // warm the file cache
for (let i = 0; i < REPS; ++i) {
  const d = await direct();
  times.direct.push(d.ms);
  const started = process.hrtime.bigint();
  const r = await conn.client.callTool({ name: 'ci_run_suite', arguments: { suite: 'thousand' } }, undefined, {
    timeout: 600_000,
    onprogress: () => {},
  });
  times.keyhold.push(Number(process.hrtime.bigint() - started) / 1e6);
  last = r.structuredContent;
}
await conn.client.close();
sandbox.cleanup();

const md = median(times.direct);
const mk = median(times.keyhold);
console.log(`ci bench: 1,000-test node:test suite (TAP), ${REPS} runs each, alternating (PLUGIN_DIR ${PLUGIN_DIR})`);
console.log(`  last keyhold run: status ${last.status}, counts ${JSON.stringify(last.counts)}, ${last.log_bytes} bytes of output`);
console.log(`  direct : median ${md.toFixed(1)} ms, min ${min(times.direct).toFixed(1)} ms`);
console.log(`  keyhold: median ${mk.toFixed(1)} ms, min ${min(times.keyhold).toFixed(1)} ms`);
console.log(`  overhead: median ${(((mk - md) / md) * 100).toFixed(1)}% (${(mk - md).toFixed(1)} ms), min ${(((min(times.keyhold) - min(times.direct)) / min(times.direct)) * 100).toFixed(1)}%  (target <= 5%)`);
