// Acceptance 2: the MCP Inspector CLI (npm @modelcontextprotocol/inspector 0.15.0) lists and
// calls the tools of `keyhold serve`.
//
// Two entries are exercised:
//  - `mcp-inspector --cli CMD ARGS --method ...` (what `npx @modelcontextprotocol/inspector
//    --cli` runs). That launcher owns a `--config` option of its own, so keyhold's config is
//    passed with `-c`; it re-spawns `node` from PATH, which the sandbox points at Node 22.
//  - the CLI proper, @modelcontextprotocol/inspector-cli/build/index.js, which the launcher
//    spawns; there `--config` reaches keyhold unchanged.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { E2E_DIR, NODE_BIN, instanceToml, keyholdBin, makeSandbox, run } from './helpers.mjs';

const LAUNCHER = path.join(E2E_DIR, 'node_modules', '@modelcontextprotocol', 'inspector', 'cli', 'build', 'cli.js');
const CLI = path.join(E2E_DIR, 'node_modules', '@modelcontextprotocol', 'inspector-cli', 'build', 'index.js');

describe('MCP Inspector CLI against keyhold serve', () => {
  let sandbox;
  let config;
  let keyhold;

  before(async () => {
    sandbox = makeSandbox();
    config = sandbox.writeConfig(
      instanceToml('echo', 'echo', { options: { extra_tools: 3 } }) + instanceToml('cfix', 'c_fixture'),
    );
    keyhold = await keyholdBin();
  });

  after(() => sandbox?.cleanup());

  async function inspect(entry, configFlag, methodArgs) {
    const launcherFlags = entry === LAUNCHER ? ['--cli'] : [];
    const r = await run(NODE_BIN, [entry, ...launcherFlags, keyhold, 'serve', configFlag, config, ...methodArgs], {
      env: sandbox.env,
      cwd: sandbox.dir,
      timeoutMs: 120_000,
    });
    return r;
  }

  function parseOutput(r) {
    assert.equal(r.code, 0, `exit code ${r.code}; stderr:\n${r.stderr}\nstdout:\n${r.stdout}`);
    try {
      return JSON.parse(r.stdout);
    } catch (e) {
      assert.fail(`stdout is not JSON (${e.message}):\n${r.stdout}`);
    }
  }

  const allTools = [
    'cfix_params',
    'echo_add',
    'echo_echo',
    'echo_noop_0',
    'echo_noop_1',
    'echo_noop_2',
    'echo_slow',
  ];

  for (const [label, entry, flag] of [
    ['launcher (inspector --cli)', LAUNCHER, '-c'],
    ['inspector-cli', CLI, '--config'],
  ]) {
    test(`${label}: --method tools/list`, async () => {
      const out = parseOutput(await inspect(entry, flag, ['--method', 'tools/list']));
      assert.deepEqual(out.tools.map((t) => t.name).sort(), allTools);
      const echo = out.tools.find((t) => t.name === 'echo_echo');
      assert.equal(echo.description, 'Returns the text it is given');
      assert.deepEqual(echo.inputSchema.required, ['text']);
    });

    test(`${label}: --method tools/call echo_echo text=hello`, async () => {
      const out = parseOutput(
        await inspect(entry, flag, ['--method', 'tools/call', '--tool-name', 'echo_echo', '--tool-arg', 'text=hello']),
      );
      assert.deepEqual(out, { content: [{ type: 'text', text: 'hello' }] });
    });
  }

  test('tools/call echo_add with numeric args returns structuredContent', async () => {
    const out = parseOutput(
      await inspect(CLI, '--config', ['--method', 'tools/call', '--tool-name', 'echo_add', '--tool-arg', 'a=2', 'b=3']),
    );
    assert.deepEqual(out.structuredContent, { sum: 5 });
    assert.ok(!out.isError);
  });

  test('tools/call of the C99 plugin tool', async () => {
    const out = parseOutput(
      await inspect(CLI, '--config', ['--method', 'tools/call', '--tool-name', 'cfix_params', '--tool-arg', 'k=v']),
    );
    assert.deepEqual(JSON.parse(out.content[0].text), { name: 'params', arguments: { k: 'v' } });
  });

  test('resources/read and prompts/get', async () => {
    const res = parseOutput(await inspect(CLI, '--config', ['--method', 'resources/read', '--uri', 'echo://echo/greeting']));
    assert.deepEqual(res.contents, [{ uri: 'echo://echo/greeting', mimeType: 'text/plain', text: 'hello from keyhold' }]);
    const prompt = parseOutput(
      await inspect(CLI, '--config', ['--method', 'prompts/get', '--prompt-name', 'echo_greet', '--prompt-args', 'name=Grace']),
    );
    assert.equal(prompt.messages[0].content.text, 'Please greet Grace warmly.');
  });

  test('an unknown tool makes the CLI fail with the server error', async () => {
    const r = await inspect(CLI, '--config', ['--method', 'tools/call', '--tool-name', 'nope']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /-32602/);
    assert.match(r.stderr, /nope/);
  });
});
