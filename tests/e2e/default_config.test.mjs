// The embedded default: `keyhold serve` without --config writes a commented default config
// under the XDG config folder (only once) and serves the built-in echo connector. Also the
// CLI basics an MCP client setup depends on: --version, --help, exit code 1 on a bad config.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { assertLogMatches, connectSdk, instanceToml, keyholdBin, makeSandbox, run } from './helpers.mjs';

const PING = '{"jsonrpc":"2.0","id":1,"method":"ping"}\n';

describe('default config', () => {
  test('written under $XDG_CONFIG_HOME/keyhold/keyhold.toml (0600) and served', async () => {
    const sb = makeSandbox();
    try {
      const { client, stderr, stderrEnded } = await connectSdk(sb, undefined);
      let tools;
      try {
        ({ tools } = await client.listTools());
        const r = await client.callTool({ name: 'echo_echo', arguments: { text: 'default' } });
        assert.deepEqual(r.content, [{ type: 'text', text: 'default' }]);
        // The sql connector serves the demo database it created, read-only.
        const q = await client.callTool({ name: 'demo_query', arguments: { sql: 'SELECT count(*) AS n FROM customers', params: [] } });
        assert.notEqual(q.isError, true, JSON.stringify(q));
        assert.ok(q.structuredContent.rows[0][0] > 0 || q.structuredContent.rows[0].n > 0, JSON.stringify(q.structuredContent));
        const w = await client.callTool({ name: 'demo_query', arguments: { sql: 'DELETE FROM customers', params: [] } });
        assert.equal(w.isError, true, 'the demo instance is read-only');
      } finally {
        await client.close();
        await stderrEnded;
      }
      assert.deepEqual(tools.map((t) => t.name).sort(), [
        'demo_describe_table', 'demo_explain', 'demo_list_schemas', 'demo_list_tables', 'demo_query',
        'echo_add', 'echo_echo', 'echo_slow',
      ]);
      assert.ok(existsSync(path.join(sb.env.XDG_DATA_HOME, 'keyhold', 'demo', 'demo.sqlite')), 'demo database created');
      const file = path.join(sb.env.XDG_CONFIG_HOME, 'keyhold', 'keyhold.toml');
      assert.ok(existsSync(file), `no ${file}; stderr:\n${stderr()}`);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const text = readFileSync(file, 'utf8');
      assert.match(text, /^\[instances\.echo\]\nplugin = "echo"$/m);
      assert.match(text, /^# /m, 'the default config is commented');
      // Nothing written to HOME when XDG_CONFIG_HOME is set.
      assert.deepEqual(readdirSync(sb.env.HOME), []);
      await assertLogMatches(stderr, new RegExp(`wrote a default config to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    } finally {
      sb.cleanup();
    }
  });

  test('falls back to $HOME/.config without XDG_CONFIG_HOME', async () => {
    const sb = makeSandbox();
    try {
      const env = { ...sb.env };
      delete env.XDG_CONFIG_HOME;
      const r = await run(await keyholdBin(), ['serve'], { env, cwd: sb.dir, input: PING, timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { jsonrpc: '2.0', id: 1, result: {} });
      assert.ok(existsSync(path.join(sb.env.HOME, '.config', 'keyhold', 'keyhold.toml')));
    } finally {
      sb.cleanup();
    }
  });

  test('an existing config is used, never overwritten', async () => {
    const sb = makeSandbox();
    try {
      const file = path.join(sb.env.XDG_CONFIG_HOME, 'keyhold', 'keyhold.toml');
      sb.file(path.relative(sb.dir, file), instanceToml('mine', 'echo'));
      const before = readFileSync(file, 'utf8');
      const { client, stderrEnded } = await connectSdk(sb, undefined);
      let tools;
      try {
        ({ tools } = await client.listTools());
      } finally {
        await client.close();
        await stderrEnded;
      }
      assert.deepEqual(tools.map((t) => t.name).sort(), ['mine_add', 'mine_echo', 'mine_slow']);
      assert.equal(readFileSync(file, 'utf8'), before);
    } finally {
      sb.cleanup();
    }
  });

  test('--config pointing at a missing file: exit 1, the default is not written', async () => {
    const sb = makeSandbox();
    try {
      const missing = path.join(sb.dir, 'missing.toml');
      const r = await run(await keyholdBin(), ['serve', '--config', missing], { env: sb.env, input: PING });
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.ok(r.stderr.includes(missing), r.stderr);
      assert.ok(!existsSync(missing));
      assert.deepEqual(readdirSync(sb.env.XDG_CONFIG_HOME), []);
    } finally {
      sb.cleanup();
    }
  });
});

describe('CLI basics', () => {
  test('--version', async () => {
    const r = await run(await keyholdBin(), ['--version'], {});
    assert.equal(r.code, 0);
    assert.match(r.stdout.trim(), /^keyhold \d+\.\d+\.\d+$/);
  });

  test('--help on keyhold and serve', async () => {
    const top = await run(await keyholdBin(), ['--help'], {});
    assert.equal(top.code, 0);
    assert.match(top.stdout, /serve/);
    const serve = await run(await keyholdBin(), ['serve', '--help'], {});
    assert.equal(serve.code, 0);
    for (const flag of ['--config', '--strict', '--page-size']) assert.ok(serve.stdout.includes(flag), flag);
  });

  test('a config with a TOML syntax error: exit 1 naming file and line, nothing on stdout', async () => {
    const sb = makeSandbox();
    try {
      const config = sb.writeConfig('[instances.echo]\nplugin = "echo"\nbroken = [\n');
      const r = await run(await keyholdBin(), ['serve', '--config', config], { env: sb.env, input: PING });
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+`));
    } finally {
      sb.cleanup();
    }
  });

  test('an unknown instance key: exit 1 naming it', async () => {
    const sb = makeSandbox();
    try {
      const config = sb.writeConfig('[instances.echo]\nplugin = "echo"\nprefx = "e_"\n');
      const r = await run(await keyholdBin(), ['serve', '--config', config], { env: sb.env, input: PING });
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /prefx/);
    } finally {
      sb.cleanup();
    }
  });
});
