// Issue 17, acceptance 5: `keyhold import` on sample configs of the four client formats
// (Claude Desktop, Claude Code, Cursor, VS Code), written here with canary values. Without
// --apply nothing changes; with --apply the vault holds the values (granted for env), the
// new config serves the imported servers' tools (@modelcontextprotocol/server-everything),
// --rewrite-client leaves a 0600 backup, and no canary appears on any output or in any
// file but the vault (and the backups, which keep the originals by design).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { connectSdk, keyholdBin, run } from '../e2e/helpers.mjs';
import { assertNoLeak, capture, captures, cli, filesUnder, makeVault, newCanary } from '../secrets/lib.mjs';
import { EVERYTHING_JS, NODE_BIN } from './lib.mjs';

let sandbox;
const clients = {};
const imported = []; // canaries that must reach the vault
let headerCanary; // in a remote server's headers: skipped, never printed

const server = (env, extra = {}) => ({ ...extra, command: NODE_BIN, args: [EVERYTHING_JS, 'stdio'], env });

before(async () => {
  sandbox = await makeVault('import');
  const c = (tag) => {
    const value = newCanary(tag);
    imported.push(value);
    return value;
  };
  headerCanary = newCanary('header');
  clients.desktop = {
    file: sandbox.file(
      'desktop/claude_desktop_config.json',
      JSON.stringify(
        {
          globalShortcut: 'Ctrl+Space',
          mcpServers: {
            everything: server({ API_KEY: c('desktop'), LOG_LEVEL: 'info' }),
            'remote-api': { url: 'https://example.invalid/mcp' },
          },
        },
        null,
        2,
      ),
    ),
    instance: 'everything',
    secrets: ['import/everything/API_KEY'],
    kept: ['remote-api'],
  };
  clients.code = {
    file: sandbox.file(
      'project/.mcp.json',
      JSON.stringify({
        mcpServers: {
          'everything code': server({ GITHUB_TOKEN: c('code'), MODE: 'plain-value' }, { type: 'stdio' }),
          web: { type: 'http', url: 'https://example.invalid/mcp', headers: { Authorization: `Bearer ${headerCanary}` } },
        },
      }),
    ),
    instance: 'everything_code',
    secrets: ['import/everything_code/GITHUB_TOKEN'],
    kept: ['web'],
  };
  clients.cursor = {
    file: sandbox.file(
      'cursor/.cursor/mcp.json',
      JSON.stringify({ mcpServers: { 'cursor.everything': server({ DB_PASSWORD: c('cursor') }) } }),
    ),
    instance: 'cursor_everything',
    secrets: ['import/cursor_everything/DB_PASSWORD'],
    kept: [],
  };
  clients.vscode = {
    file: sandbox.file(
      'vscode/.vscode/mcp.json',
      '// VS Code allows comments\n' +
        JSON.stringify({
          inputs: [{ type: 'promptString', id: 'other', password: true }],
          servers: {
            'vs-everything': server({ SERVICE_SECRET: c('vscode'), OTHER: '${input:other}' }, { type: 'stdio' }),
          },
        }),
    ),
    instance: 'vs-everything',
    secrets: ['import/vs-everything/SERVICE_SECRET'],
    kept: [],
  };
  // One keyhold config per client: the same npm server imported four times into one config
  // would serve colliding resource URIs (keyhold refuses the later instances).
  for (const [format, client] of Object.entries(clients)) {
    client.original = readFileSync(client.file, 'utf8');
    client.config = path.join(sandbox.dir, 'keyhold', `${format}.toml`);
  }
});

after(() => {
  for (const { label, text } of captures) assertNoLeak(text, label);
  sandbox?.cleanup();
});

const importCli = (args, config, expect = 0) => cli(sandbox, ['import', ...args, '--config', config], { expect });

async function secretNames() {
  const listed = await cli(sandbox, ['vault', 'list', '--json']);
  return JSON.parse(listed.stdout).map((s) => s.name);
}

test('errors: unreadable file, invalid JSON (line and column, no content), unknown shape, no vault', async () => {
  const configPath = clients.desktop.config;
  const missing = await importCli([path.join(sandbox.dir, 'nope.json')], configPath, 4);
  assert.match(missing.stderr, /cannot read .*nope\.json/);
  const canary = newCanary('broken');
  const broken = sandbox.file('broken.json', `{\n  "mcpServers": {\n    "x": {"env": {"A_TOKEN": "${canary}"}\n`);
  const r = await importCli([broken], configPath, 2);
  assert.match(r.stderr, /invalid JSON at line \d+, column \d+/);
  writeFileSync(broken, '{}'); // the file sweep reads every file
  const shape = await importCli([sandbox.file('shape.json', '{"servers": []}')], configPath, 2);
  assert.match(shape.stderr, /unknown shape/);
  const empty = await importCli([sandbox.file('empty.json', '{"mcpServers": {}}')], configPath, 2);
  assert.match(empty.stderr, /no servers/);
  // --apply with secrets to store and no vault: says how to create one, writes nothing.
  const novault = await cli(
    sandbox,
    ['import', clients.desktop.file, '--apply', '--config', configPath, '--vault', path.join(sandbox.dir, 'none.db')],
    { expect: 4 },
  );
  assert.match(novault.stderr, /keyhold vault init/);
  assert.ok(!existsSync(configPath));
});

test('without --apply every format is shown by name only and nothing changes', async () => {
  for (const [format, client] of Object.entries(clients)) {
    const r = await importCli([client.file], client.config);
    assert.match(r.stdout, new RegExp(`instance ${client.instance} `), `${format}: ${r.stdout}`);
    for (const secret of client.secrets) assert.ok(r.stdout.includes(secret), `${format}: ${secret} missing`);
    for (const kept of client.kept)
      assert.match(r.stdout, new RegExp(`skipped: server "${kept}": remote servers are not mounted yet`));
    assert.match(r.stdout, /nothing was written/);
    assert.equal(readFileSync(client.file, 'utf8'), client.original);
  }
  const code = await importCli([clients.code.file], clients.code.config);
  assert.match(code.stdout, /plain \(server\.env\): MODE/);
  const vscode = await importCli([clients.vscode.file], clients.vscode.config);
  assert.match(vscode.stdout, /VS Code/);
  assert.match(vscode.stdout, /left out: "OTHER": its value is filled in by the client/);
  for (const client of Object.values(clients)) assert.ok(!existsSync(client.config), 'a dry run wrote the config');
  assert.deepEqual((await secretNames()).filter((n) => n.startsWith('import/')), []);
});

test('--apply --rewrite-client: vault, grants, config (0600), client rewritten with a backup', async () => {
  const bin = realpathSync(await keyholdBin());
  for (const [format, client] of Object.entries(clients)) {
    const r = await importCli([client.file, '--apply', '--rewrite-client'], client.config);
    assert.match(r.stdout, /wrote 1 instance\(s\)/, `${format}: ${r.stdout}`);
    // The rewritten client runs keyhold; skipped servers stay.
    const rewritten = JSON.parse(readFileSync(client.file, 'utf8'));
    const list = rewritten.mcpServers ?? rewritten.servers;
    assert.deepEqual(Object.keys(list).sort(), [...client.kept, 'keyhold'].sort(), format);
    assert.equal(list.keyhold.command, bin);
    assert.deepEqual(list.keyhold.args, ['serve', '--config', client.config]);
    if (format === 'desktop') assert.equal(rewritten.globalShortcut, 'Ctrl+Space');
    if (format === 'vscode') assert.ok(Array.isArray(rewritten.inputs));
    // The backup beside it: the original bytes, 0600.
    const dir = path.dirname(client.file);
    const backups = readdirSync(dir).filter((n) => n.startsWith(`${path.basename(client.file)}.keyhold-backup-`));
    assert.equal(backups.length, 1, `${format}: ${readdirSync(dir)}`);
    const backup = path.join(dir, backups[0]);
    assert.equal(readFileSync(backup, 'utf8'), client.original);
    assert.equal(statSync(backup).mode & 0o777, 0o600);
    assert.equal(statSync(client.config).mode & 0o777, 0o600);
  }
  const names = await secretNames();
  const expected = Object.values(clients).flatMap((c) => c.secrets);
  assert.deepEqual(names.filter((n) => n.startsWith('import/')).sort(), [...expected].sort());
  // The values came over intact (reveal output is not captured: the one place a value shows).
  for (const [i, name] of expected.entries()) {
    const r = await run(await keyholdBin(), ['vault', 'reveal', name], { env: sandbox.env, cwd: sandbox.dir });
    assert.equal(r.code, 0, `reveal ${name}`);
    assert.ok(r.stdout === imported[i] || r.stdout === `${imported[i]}\n`, `reveal ${name}: not the canary`);
  }
  const grants = JSON.parse((await cli(sandbox, ['vault', 'grants', '--json'])).stdout);
  for (const client of Object.values(clients))
    for (const secret of client.secrets)
      assert.ok(
        grants.some((g) => g.instance === client.instance && g.secret === secret && g.ops === 'env' && g.authentic),
        `no env grant of ${secret} to ${client.instance}: ${JSON.stringify(grants)}`,
      );
});

test('an instance that already exists is refused by name, and nothing is written', async () => {
  const dir = path.dirname(clients.desktop.file);
  const backup = readdirSync(dir).find((n) => n.includes('.keyhold-backup-'));
  const again = sandbox.file('again/claude_desktop_config.json', readFileSync(path.join(dir, backup)));
  const configPath = clients.desktop.config;
  const before = readFileSync(configPath, 'utf8');
  const r = await importCli([again, '--apply'], configPath, 6);
  assert.match(r.stderr, /instance\(s\) everything already exist/);
  assert.equal(readFileSync(configPath, 'utf8'), before);
  writeFileSync(again, '{}'); // the sweep below reads every file
});

test('each new config serves its imported server (serve --strict), the secret injected', async () => {
  for (const [format, client] of Object.entries(clients)) {
    const session = await connectSdk(sandbox, client.config, ['--strict']);
    try {
      const { tools } = await session.client.listTools();
      const names = tools.map((t) => t.name);
      assert.ok(names.includes(`${client.instance}_echo`), `${format}: ${names.join(', ')}`);
      assert.ok(names.every((n) => n.startsWith(`${client.instance}_`)), `${format}: ${names.join(', ')}`);
      const env = await session.client.callTool({ name: `${client.instance}_get-env`, arguments: {} });
      const text = env.content.map((c) => c.text ?? '').join('\n');
      capture(`${format}: get-env`, text);
      // The variable reached the server; its value only as a marker (of the secret, or of a
      // rule matching `"VAR": "<value>"` as a whole).
      const variable = client.secrets[0].split('/').pop();
      assert.ok(text.includes(variable) || /\[REDACTED:rule:/.test(text), `${format}: ${variable} missing`);
      assert.match(text, /\[REDACTED:[A-Za-z0-9_:-]+\]/, format);
    } finally {
      await session.client.close();
      await session.stderrEnded;
      capture(`${format}: keyhold serve stderr`, session.stderr());
    }
  }
});

test('no canary in any file but the vault and the backups', () => {
  for (const { file, text } of filesUnder(sandbox.dir)) {
    const base = path.basename(file);
    if (base.startsWith('vault.db') || base.includes('.keyhold-backup-')) continue;
    // The kept remote server of .mcp.json still holds its header (it was not imported).
    assertNoLeak(text, file, base === '.mcp.json' ? imported : undefined);
  }
});
