// Acceptance 4: each bad plugin is skipped with exactly one stderr line naming the instance,
// the file and the cause; the good echo instance next to it still serves; --strict turns
// any of these into exit code 2.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';

import {
  connectSdk,
  instanceToml,
  keyholdBin,
  makeSandbox,
  run,
  testPluginPath,
  waitForFile,
} from './helpers.mjs';

// plugin(sandbox) returns the `plugin =` value; file: what the stderr line must show of it.
const CASES = [
  {
    name: 'missing file',
    plugin: (sb) => path.join(sb.dir, 'nowhere', 'missing.so'),
    file: (sb) => path.join(sb.dir, 'nowhere', 'missing.so'),
    cause: /not found|no such file|does not exist/i,
  },
  {
    name: 'unknown plugin name',
    plugin: () => 'no_such_plugin',
    file: () => 'no_such_plugin',
    cause: /no plugin named|not found/i,
  },
  {
    name: 'not a shared library',
    plugin: (sb) => sb.file('x.so', 'this is a text file, not an ELF object\n'),
    file: () => 'x.so',
    cause: /shared library|ELF|file too short/i,
  },
  {
    name: 'no entry symbol',
    plugin: () => testPluginPath('bad_no_entry'),
    file: () => testPluginPath('bad_no_entry'),
    cause: /keyhold_plugin_entry/,
  },
  {
    name: 'ABI major mismatch',
    plugin: () => testPluginPath('bad_abi_major'),
    file: () => testPluginPath('bad_abi_major'),
    cause: /ABI major version 99 .*host's 1\b/,
  },
  {
    name: 'ABI minor too new',
    plugin: () => testPluginPath('bad_abi_minor'),
    file: () => testPluginPath('bad_abi_minor'),
    cause: /ABI 1\.99 .*1\.0\b/,
  },
  {
    name: 'create fails',
    plugin: () => testPluginPath('bad_create_fails'),
    file: () => testPluginPath('bad_create_fails'),
    cause: /cannot reach the database at db\.invalid:5432/,
  },
  {
    name: 'create throws',
    plugin: () => testPluginPath('bad_create_throws'),
    file: () => testPluginPath('bad_create_throws'),
    cause: /option 'path' is required/,
  },
  {
    name: 'invalid inputSchema',
    plugin: () => testPluginPath('bad_schema'),
    file: () => testPluginPath('bad_schema'),
    cause: /inputSchema/,
    alsoNames: /broken/, // the tool
  },
];

// The bad instance comes after echo in the config file.
function configFor(sandbox, plugin, prefix) {
  return instanceToml('echo', 'echo') + instanceToml('bad', plugin, { prefix });
}

async function assertEchoServes(client) {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  assert.deepEqual(names, ['echo_add', 'echo_echo', 'echo_slow']);
  const r = await client.callTool({ name: 'echo_echo', arguments: { text: 'alive' } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'alive' }]);
}

// Lines of stderr that report a skipped instance.
const skipLines = (stderr) => stderr.split('\n').filter((l) => /skipped|fail|error/i.test(l));

describe('bad plugins are skipped, the others serve', () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const sandbox = makeSandbox();
      try {
        for (const f of [c.plugin(sandbox)]) if (f.endsWith('.so') && f.includes('test-plugins')) await waitForFile(f);
        const config = sandbox.writeConfig(configFor(sandbox, c.plugin(sandbox)));
        const { client, stderr, stderrEnded } = await connectSdk(sandbox, config);
        try {
          await assertEchoServes(client);
        } finally {
          await client.close();
          await stderrEnded;
        }
        const text = stderr();
        const lines = skipLines(text);
        assert.equal(lines.length, 1, `expected one error line, stderr was:\n${text}`);
        const [line] = lines;
        assert.match(line, /'bad'/, line);
        assert.ok(line.includes(c.file(sandbox)), `line does not name ${c.file(sandbox)}: ${line}`);
        assert.match(line, c.cause);
        if (c.alsoNames) assert.match(line, c.alsoNames);
        assert.equal(text.split('\n').filter((l) => l.includes("'bad'")).length, 1, text);
      } finally {
        sandbox.cleanup();
      }
    });
  }

  test(
    'tool-name collision: the instance later in the file is refused, the first keeps its tool',
        async () => {
      const sandbox = makeSandbox();
      try {
        await waitForFile(testPluginPath('collide_echo'));
        // collide_echo offers "echo"; mounted with prefix "echo_" it would be "echo_echo".
        const config = sandbox.writeConfig(configFor(sandbox, testPluginPath('collide_echo'), 'echo_'));
        const { client, stderr, stderrEnded } = await connectSdk(sandbox, config);
        try {
          await assertEchoServes(client); // "alive" back, not the collider's "unreachable"
        } finally {
          await client.close();
          await stderrEnded;
        }
        const lines = skipLines(stderr());
        assert.equal(lines.length, 1, stderr());
        assert.match(lines[0], /'bad'/);
        assert.ok(lines[0].includes(testPluginPath('collide_echo')), lines[0]);
        assert.match(lines[0], /echo_echo/);
        assert.match(lines[0], /collid/i);
      } finally {
        sandbox.cleanup();
      }
    },
  );

  test('tool-name collision: exactly one of the two instances is refused', async () => {
    // Whatever the load order, one echo_echo is served and one line reports the collision.
    const sandbox = makeSandbox();
    try {
      const config = sandbox.writeConfig(
        instanceToml('echo', 'echo') + instanceToml('aaa', testPluginPath('collide_echo'), { prefix: 'echo_' }),
      );
      const { client, stderr, stderrEnded } = await connectSdk(sandbox, config);
      let tools;
      try {
        ({ tools } = await client.listTools());
      } finally {
        await client.close();
        await stderrEnded;
      }
      assert.equal(tools.filter((t) => t.name === 'echo_echo').length, 1);
      const lines = skipLines(stderr());
      assert.equal(lines.length, 1, stderr());
      assert.match(lines[0], /echo_echo/);
    } finally {
      sandbox.cleanup();
    }
  });
});

describe('--strict', () => {
  const strictCases = [
    ...CASES,
    {
      name: 'tool-name collision',
      plugin: () => testPluginPath('collide_echo'),
      prefix: 'echo_',
      cause: /echo_echo/,
    },
  ];
  for (const c of strictCases) {
    test(`${c.name} -> exit code 2, nothing on stdout`, async () => {
      const sandbox = makeSandbox();
      try {
        const config = sandbox.writeConfig(configFor(sandbox, c.plugin(sandbox), c.prefix));
        const r = await run(await keyholdBin(), ['serve', '--strict', '--config', config], {
          env: sandbox.env,
          cwd: sandbox.dir,
          // A ping, in case it serves anyway: then stdout is not empty.
          input: '{"jsonrpc":"2.0","id":1,"method":"ping"}\n',
          timeoutMs: 60_000,
        });
        assert.equal(r.code, 2, `exit code; stderr:\n${r.stderr}`);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, c.cause);
        assert.match(r.stderr, /--strict/);
      } finally {
        sandbox.cleanup();
      }
    });
  }

  test('a clean config with --strict serves normally', async () => {
    const sandbox = makeSandbox();
    try {
      const config = sandbox.writeConfig(instanceToml('echo', 'echo'));
      const { client, stderr, stderrEnded } = await connectSdk(sandbox, config, ['--strict']);
      try {
        await assertEchoServes(client);
      } finally {
        await client.close();
        await stderrEnded;
      }
      assert.deepEqual(skipLines(stderr()), []);
    } finally {
      sandbox.cleanup();
    }
  });
});
