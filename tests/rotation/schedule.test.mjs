// `keyhold vault rotate --due` under the test clock (KEYHOLD_TEST_NOW, no sleeping): exactly
// the secrets whose schedule says so rotate (issue 19, acceptance 4); the generate and
// command strategies; a failing or hanging program leaves current untouched; no value ever
// appears in an output or the audit log.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { connectSdk, sleep } from '../e2e/helpers.mjs';
import { makeVaultSandbox } from './rotation_helpers.mjs';

const DAY = 86400;

describe('rotation schedules under the test clock', () => {
  let sandbox;
  const T0 = Math.floor(Date.now() / 1000);
  const at = (days) => ({ KEYHOLD_TEST_NOW: String(T0 + Math.round(days * DAY)) });
  const revealed = [];

  before(async () => {
    sandbox = makeVaultSandbox('keyhold-rotation-schedule-');
    await sandbox.keyhold(['vault', 'init', '--keyfile', sandbox.env.KEYHOLD_KEYFILE], { env: at(0) });
    for (const [name, every] of [['app/daily', '1d'], ['app/weekly', '7d'], ['app/monthly', '30d']]) {
      await sandbox.keyhold(['vault', 'set', name], { input: `kh-canary-${name}`, env: at(0) });
      await sandbox.keyhold(['vault', 'set-rotation', name, '--every', every, '--strategy', 'generate', '--length', '40', '--alphabet', 'hex'], { env: at(0) });
    }
  });

  after(() => sandbox?.cleanup());

  const currentVersions = async () => {
    const out = {};
    for (const name of ['app/daily', 'app/weekly', 'app/monthly']) out[name] = (await sandbox.current(name))[0].version;
    return out;
  };

  test('rotate --due rotates exactly the due secrets, by the fake clock', async () => {
    let r = await sandbox.keyhold(['vault', 'rotate', '--due'], { env: at(0.5) });
    assert.match(r.stdout, /nothing is due/);
    assert.deepEqual(await currentVersions(), { 'app/daily': 1, 'app/weekly': 1, 'app/monthly': 1 });

    r = await sandbox.keyhold(['vault', 'rotate', '--due'], { env: at(2) });
    assert.match(r.stdout, /rotated app\/daily: version 2 is current/);
    assert.deepEqual(await currentVersions(), { 'app/daily': 2, 'app/weekly': 1, 'app/monthly': 1 });
    // Run again at the same time: nothing more is due.
    r = await sandbox.keyhold(['vault', 'rotate', '--due'], { env: at(2) });
    assert.match(r.stdout, /nothing is due/);

    await sandbox.keyhold(['vault', 'rotate', '--due'], { env: at(8) });
    assert.deepEqual(await currentVersions(), { 'app/daily': 3, 'app/weekly': 2, 'app/monthly': 1 });
    await sandbox.keyhold(['vault', 'rotate', '--due'], { env: at(31) });
    assert.deepEqual(await currentVersions(), { 'app/daily': 4, 'app/weekly': 3, 'app/monthly': 2 });

    const value = (await sandbox.reveal('app/daily')).toString();
    revealed.push(value);
    assert.match(value, /^[0-9a-f]{40}$/);
    assert.notEqual(value, 'kh-canary-app/daily');
  });

  test('list and status show next rotation, last result and overdue by the same clock', async () => {
    const daily = JSON.parse((await sandbox.keyhold(['vault', 'list', '--json'], { env: at(33) })).stdout).find((s) => s.name === 'app/daily');
    assert.equal(daily.rotation.strategy, 'generate');
    assert.equal(daily.rotation.last_result, 'ok');
    assert.equal(daily.rotation.overdue, true);
    assert.equal(daily.rotation.next_rotation, new Date((T0 + 32 * DAY) * 1000).toISOString().replace(/\.\d+Z$/, 'Z'));
    const status = await sandbox.keyhold(['vault', 'status'], { env: at(33) });
    assert.match(status.stdout, /rotation policies: 3/);
    assert.match(status.stdout, /app\/daily: generate, OVERDUE since/);
    assert.match(status.stdout, /app\/monthly: generate, next .*, last ok/);
    const list = await sandbox.keyhold(['vault', 'list'], { env: at(31) });
    assert.match(list.stdout, /app\/weekly .*\[rotation: generate, next /);
  });

  test('the command strategy: value on stdin, a test program, then the program makes the value', async () => {
    const target = sandbox.file('service/password', '');
    const setter = sandbox.file('bin/set-password', `#!/bin/sh\ncat > ${JSON.stringify(target)}\n`);
    const checker = sandbox.file('bin/check-password', `#!/bin/sh\n[ "$(cat)" = "$(cat ${JSON.stringify(target)})" ]\n`);
    const maker = sandbox.file('bin/make-password', `#!/bin/sh\nv=made-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \\n')\nprintf %s "$v" > ${JSON.stringify(target)}\nprintf '%s\\n' "$v"\n`);
    for (const f of [setter, checker, maker]) chmodSync(f, 0o755);
    await sandbox.keyhold(['vault', 'set', 'svc/password'], { input: 'kh-canary-svc' });
    await sandbox.keyhold(['vault', 'set-rotation', 'svc/password', '--every', '7d', '--strategy', 'command', '--argv', setter, '--test-argv', checker, '--timeout', '10s']);
    await sandbox.keyhold(['vault', 'rotate', 'svc/password', '--now']);
    const v2 = (await sandbox.reveal('svc/password')).toString();
    revealed.push(v2);
    assert.equal(readFileSync(target, 'utf8'), v2);
    assert.equal(v2.length, 32);

    await sandbox.keyhold(['vault', 'set-rotation', 'svc/password', '--every', '7d', '--strategy', 'command', '--argv', maker, '--value-from', 'program', '--test-argv', checker]);
    await sandbox.keyhold(['vault', 'rotate', 'svc/password', '--now']);
    const v3 = (await sandbox.reveal('svc/password')).toString();
    revealed.push(v3);
    assert.match(v3, /^made-[0-9a-f]{24}$/);
    assert.equal(readFileSync(target, 'utf8'), v3);
  });

  test('a failing or hanging program leaves current untouched and says why in status', async () => {
    const before = (await sandbox.reveal('svc/password')).toString();
    const failing = sandbox.file('bin/fail', '#!/bin/sh\ncat >/dev/null\nexit 3\n');
    const hanging = sandbox.file('bin/hang', '#!/bin/sh\nexec sleep 30\n');
    for (const f of [failing, hanging]) chmodSync(f, 0o755);
    const checker = sandbox.file('bin/check-old', `#!/bin/sh\n[ "$(cat)" = ${JSON.stringify(before)} ]\n`);
    chmodSync(checker, 0o755);
    await sandbox.keyhold(['vault', 'set-rotation', 'svc/password', '--every', '7d', '--strategy', 'command', '--argv', failing, '--test-argv', checker]);
    let r = await sandbox.keyhold(['vault', 'rotate', 'svc/password', '--now'], { expect: 7 });
    assert.match(r.stderr, /rotation of svc\/password failed: apply: '.*\/bin\/fail' exited with status 3; the pending version was discarded, current is unchanged/);
    assert.equal((await sandbox.reveal('svc/password')).toString(), before);
    let rotation = await sandbox.rotation('svc/password');
    assert.equal(rotation.last_result, 'failed');
    assert.equal(rotation.pending_version, null);

    await sandbox.keyhold(['vault', 'set-rotation', 'svc/password', '--every', '7d', '--strategy', 'command', '--argv', hanging, '--timeout', '1s']);
    const started = Date.now();
    r = await sandbox.keyhold(['vault', 'rotate', 'svc/password', '--now'], { expect: 7 });
    assert.ok(Date.now() - started < 10_000, 'the timeout ended the program');
    assert.match(r.stderr, /did not finish within 1s and was killed/);
    assert.equal((await sandbox.reveal('svc/password')).toString(), before);
    rotation = await sandbox.rotation('svc/password');
    assert.match(rotation.last_error, /^apply: .*did not finish within 1s/);
    const status = await sandbox.keyhold(['vault', 'status']);
    assert.match(status.stdout, /svc\/password: command, .*last failed: apply: /);
  });

  test('a policy edited in the file is not run', async () => {
    const { execFileSync } = await import('node:child_process');
    // An edit in the file, as an attacker with write access would make it (Debian's sqlite3 CLI).
    execFileSync('sqlite3', [sandbox.env.KEYHOLD_VAULT, `UPDATE rotation SET options = '{"argv":["/bin/true"]}'`]);
    const r = await sandbox.keyhold(['vault', 'rotate', 'svc/password', '--now'], { expect: 7 });
    assert.match(r.stderr, /does not verify \(edited in the file\)/);
    const status = await sandbox.keyhold(['vault', 'status']);
    assert.match(status.stdout, /svc\/password: command, POLICY TAMPERED/);
  });

  test('the audit chain verifies and no value appears in any output or audit entry', async () => {
    await sandbox.keyhold(['vault', 'audit', '--verify']);
    const audit = await sandbox.keyhold(['vault', 'audit', '--json']);
    assert.match(audit.stdout, /"rotation"/);
    assert.match(audit.stdout, /"rotation.pending"/);
    sandbox.assertNoLeak([...revealed, 'kh-canary-app/daily', 'kh-canary-svc'], [readFileSync(sandbox.env.KEYHOLD_VAULT, 'latin1')]);
  });
});

describe('keyhold serve rotates due secrets in the background', () => {
  let sandbox;
  const servers = [];
  const T0 = Math.floor(Date.now() / 1000);

  after(async () => {
    for (const s of servers) {
      await s.client.close();
      await s.stderrEnded;
    }
    sandbox?.cleanup();
  });

  test('two hosts on one vault rotate a due secret exactly once', async () => {
    sandbox = makeVaultSandbox('keyhold-rotation-serve-');
    const env0 = { KEYHOLD_TEST_NOW: String(T0) };
    await sandbox.keyhold(['vault', 'init', '--keyfile', sandbox.env.KEYHOLD_KEYFILE], { env: env0 });
    await sandbox.keyhold(['vault', 'set', 'app/daily'], { input: 'kh-canary-serve', env: env0 });
    await sandbox.keyhold(['vault', 'set-rotation', 'app/daily', '--every', '1d', '--strategy', 'generate'], { env: env0 });
    const config = sandbox.writeConfig('[server]\nlog_level = "info"\n');
    const later = { dir: sandbox.dir, env: { ...sandbox.env, KEYHOLD_TEST_NOW: String(T0 + 2 * 86400) } };
    for (let i = 0; i < 2; i += 1) servers.push(await connectSdk(later, config, ['--rotation-interval', '1s']));
    const deadline = Date.now() + 30_000;
    while ((await sandbox.current('app/daily'))[0].version === 1 && Date.now() < deadline) await sleep(200);
    assert.equal((await sandbox.current('app/daily'))[0].version, 2, 'a host rotated it');
    // Both hosts wake several more times (1s + jitter): nothing else is due.
    await sleep(3000);
    const versions = await sandbox.versions('app/daily');
    assert.deepEqual(versions.map((v) => [v.version, v.stage]), [[1, 'previous'], [2, 'current']]);
    const logs = servers.map((s) => s.stderr()).join('\n');
    assert.equal(logs.match(/rotation: app\/daily is at version 2/g)?.length, 1, logs);
    await sandbox.keyhold(['vault', 'audit', '--verify']);
    const value = (await sandbox.reveal('app/daily')).toString();
    sandbox.assertNoLeak([value, 'kh-canary-serve'], [logs]);
  });
});
