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
// Second figure: 20 MiB of output (the 50 MiB test's fixture), exit-code format.
const BIG_MIB = 20;
const bigScript = path.join(HERE, '..', '..', 'tests', 'fixtures', 'ci-node', 'scripts', 'big-output.mjs');

// The same environment keyhold's env service gives the child: PATH, HOME, LANG, TMPDIR and
// USER of the host (which runs with the sandbox's environment), then the token.
let directEnv;

function direct(args = argv) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(args[0], args.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: directEnv });
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
directEnv = { MCP_AUTH_TOKEN: 'bench-token-0123456789abcdef' };
for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'USER']) if (sandbox.env[k] !== undefined) directEnv[k] = sandbox.env[k];
await setSecret(sandbox, 'ci/api-token', 'bench-token-0123456789abcdef');
await grant(sandbox, 'ci', 'ci/api-token', 'env');
mkdirSync(path.join(sandbox.dir, 'state'), { recursive: true });
const release = sandbox.file('big.release', 'go');
const bigArgv = [NODE_BIN, bigScript, String(BIG_MIB), path.join(sandbox.dir, 'big.done'), release];
const config = ciInstance('ci', {
  options: { history_path: path.join(sandbox.dir, 'state', 'history.sqlite') },
  suites: {
    thousand: { argv, cwd, report: { format: 'tap' }, secret_env: { MCP_AUTH_TOKEN: 'api-token' } },
    big: { argv: bigArgv, cwd },
  },
  secrets: { 'api-token': secretMapping('vault:ci/api-token', [NODE_BIN]) },
});
const configPath = sandbox.writeConfig(config);
const conn = await connectSdk(sandbox, configPath);

const times = { direct: [], keyhold: [], outside: [] };
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
  const wall = Number(process.hrtime.bigint() - started) / 1e6;
  times.keyhold.push(wall);
  // What the call cost besides the process itself (the plugin's duration runs from spawn
  // to reaping): MCP round trip, spawn through the host, history writes.
  times.outside.push(wall - r.structuredContent.duration * 1000);
  last = r.structuredContent;
}
const big = { direct: [], keyhold: [] };
for (let i = 0; i < 3; ++i) {
  big.direct.push((await direct(bigArgv)).ms);
  const started = process.hrtime.bigint();
  await conn.client.callTool({ name: 'ci_run_suite', arguments: { suite: 'big' } }, undefined, { timeout: 600_000 });
  big.keyhold.push(Number(process.hrtime.bigint() - started) / 1e6);
}
await conn.client.close();
sandbox.cleanup();

const md = median(times.direct);
const mk = median(times.keyhold);
console.log(`ci bench: 1,000-test node:test suite (TAP), ${REPS} runs each, alternating (PLUGIN_DIR ${PLUGIN_DIR})`);
console.log(`  last keyhold run: status ${last.status}, counts ${JSON.stringify(last.counts)}, ${last.log_bytes} bytes of output`);
console.log(`  direct : median ${md.toFixed(1)} ms, min ${min(times.direct).toFixed(1)} ms`);
console.log(`  keyhold: median ${mk.toFixed(1)} ms, min ${min(times.keyhold).toFixed(1)} ms`);
// Each keyhold run is paired with the direct run just before it, which cancels slow drifts
// of the machine's load; the median of the paired ratios is the headline figure.
const ratios = times.keyhold.map((k, i) => k / times.direct[i]);
console.log(`  overhead: median of paired ratios ${((median(ratios) - 1) * 100).toFixed(1)}%; of medians ${(((mk - md) / md) * 100).toFixed(1)}% (${(mk - md).toFixed(1)} ms); of minima ${(((min(times.keyhold) - min(times.direct)) / min(times.direct)) * 100).toFixed(1)}%  (target <= 5%)`);
const bd = median(big.direct);
const bk = median(big.keyhold);
console.log(`  outside the test process (MCP call, spawn, history): median ${median(times.outside).toFixed(1)} ms, min ${min(times.outside).toFixed(1)} ms`);
console.log(`ci bench: ${BIG_MIB} MiB of output (128-byte lines), 3 runs each`);
console.log(`  direct : median ${bd.toFixed(1)} ms (${((BIG_MIB / bd) * 1000).toFixed(0)} MiB/s)`);
console.log(`  keyhold: median ${bk.toFixed(1)} ms (${((BIG_MIB / bk) * 1000).toFixed(0)} MiB/s), overhead ${(((bk - bd) / bd) * 100).toFixed(1)}%`);
