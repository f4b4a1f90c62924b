// External secret sources end to end (issue 19, acceptance 5): `keyhold serve` with the
// hostile snoop fixture, each instance's `token` mapped to a command: script that counts its
// calls, a real `pass` store encrypted to a gpg key made here, a $CREDENTIALS_DIRECTORY file,
// and AWS Secrets Manager through a loopback stand-in (secrets_manager_standin.mjs: the only
// mock, which checks every signature with @smithy/signature-v4). Each value is checked by an
// HMAC the plugin computes with it, put into the client's view in several encodings (only
// markers arrive), audited by source; a source that fails makes its instance fail to load.
// The last test sweeps every captured output for every canary, the AWS keys included.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import {
  audit,
  canaries,
  capture,
  captures,
  findLeaks,
  KH,
  leaksInCaptures,
  makeVault,
  newCanary,
  serve,
  setSecret,
  snoopInstance,
  structured,
  sandboxes,
} from '../secrets/lib.mjs';
import { startSecretsManager } from './secrets_manager_standin.mjs';

const marker = (alias) => `[REDACTED:${alias}]`;
const mac = (value, message) => createHmac('sha256', value).update(message).digest('hex');

// The plugin holds exactly value: its HMAC matches, and its reveal reaches the client as a marker.
async function assertHolds(s, instance, value) {
  const message = `message for ${instance}`;
  const signed = structured(await s.call(`${instance}_sign`, { alias: 'token', message }));
  assert.equal(signed.sign, KH.OK, `${instance}: sign`);
  assert.equal(signed.mac, mac(value, message), `${instance}: the plugin holds another value`);
  const revealed = structured(await s.call(`${instance}_reveal`, { alias: 'token' }));
  assert.equal(revealed.reveal, KH.OK, `${instance}: reveal`);
  assert.equal(revealed.length, Buffer.byteLength(value), `${instance}: length`);
  assert.equal(revealed.value, marker('token'), `${instance}: the client sees the marker`);
  for (const form of ['raw', 'base64', 'url', 'hex']) {
    const r = await s.call(`${instance}_leak`, { alias: 'token', form, where: 'text' });
    const text = r.content.map((c) => c.text ?? '').join('');
    assert.ok(text.includes(marker('token')), `${instance} ${form}: no marker in ${text}`);
    assert.deepEqual(findLeaks(JSON.stringify(r)), [], `${instance} ${form}: leaked`);
  }
}

async function toolInstances(s) {
  const { tools } = await s.client.listTools();
  return new Set(tools.map((t) => t.name.slice(0, t.name.indexOf('_'))));
}

// Runs a setup program (gpg, pass) with the sandbox's environment; its output is dropped.
const setup = (sandbox, program, args, input) =>
  execFileSync(program, args, { env: sandbox.env, input, stdio: ['pipe', 'ignore', 'ignore'], timeout: 60_000 });

test('command:, pass: and systemd-creds: reach the plugin, the redactor and the audit; a failing source fails its instance', async () => {
  const sandbox = await makeVault('local');
  // command: a script that counts its calls and names the value on stderr.
  const commandValue = newCanary('command');
  sandbox.file('command/value', `${commandValue}\n`);
  const calls = path.join(sandbox.dir, 'command', 'calls');
  const script = sandbox.file(
    'command/fetch.sh',
    `#!/bin/sh\necho call >> '${calls}'\necho "fetch.sh: handing out ${commandValue}" >&2\ncat '${sandbox.dir}/command/value'\n`,
  );
  chmodSync(script, 0o700);
  // command: a store that goes down after the first fetch (when the file `down` exists).
  const flakyValue = newCanary('flaky');
  sandbox.file('command/flaky-value', flakyValue);
  const flaky = sandbox.file(
    'command/flaky.sh',
    `#!/bin/sh\nif [ -e '${sandbox.dir}/command/down' ]; then echo 'flaky.sh: store down' >&2; exit 5; fi\ncat '${sandbox.dir}/command/flaky-value'\n`,
  );
  chmodSync(flaky, 0o700);
  // systemd-creds: what systemd would have decrypted into the service's credentials directory.
  const credentialValue = newCanary('creds');
  sandbox.file('credentials/api-key', credentialValue);
  sandbox.env.CREDENTIALS_DIRECTORY = path.join(sandbox.dir, 'credentials');
  // pass: a real store, encrypted to a gpg key made now.
  const passValue = newCanary('pass');
  sandbox.env.GNUPGHOME = path.join(sandbox.dir, 'gnupg');
  sandbox.env.PASSWORD_STORE_DIR = path.join(sandbox.dir, 'store');
  mkdirSync(sandbox.env.GNUPGHOME, { mode: 0o700 });
  setup(sandbox, 'gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', 'keyhold e2e <e2e@keyhold.invalid>', 'future-default', 'default', 'never']);
  setup(sandbox, 'pass', ['init', 'e2e@keyhold.invalid']);
  setup(sandbox, 'pass', ['insert', '-m', 'team/api'], `${passValue}\nlogin: keyhold\n`);

  const config =
    snoopInstance('cm', { token: `command:["${script}"] ttl=10m` }) +
    snoopInstance('ps', { token: 'pass:team/api' }) +
    snoopInstance('sd', { token: 'systemd-creds:api-key' }) +
    snoopInstance('strict', { token: `command:["${flaky}"] ttl=0s` }) +
    snoopInstance('lenient', { token: `command:["${flaky}", "lenient"] ttl=0s stale_ok` }) +
    snoopInstance('broken', { token: 'command:["sh", "-c", "echo the store is down >&2; exit 7"]' }) +
    snoopInstance('nocred', { token: 'systemd-creds:db-password' });
  const s = await serve(sandbox, config, 'local');
  try {
    const loaded = await toolInstances(s);
    for (const name of ['cm', 'ps', 'sd']) assert.ok(loaded.has(name), `${name} loaded`);
    for (const name of ['broken', 'nocred']) assert.ok(!loaded.has(name), `${name} must not load`);
    await assertHolds(s, 'cm', commandValue);
    await assertHolds(s, 'ps', passValue);
    await assertHolds(s, 'sd', credentialValue);
    // ttl=10m: the bind fetched once; signs, reveals and redactor reloads used the cache.
    assert.equal(readFileSync(calls, 'utf8'), 'call\n', 'the command ran once');
    // At run time a failed fetch fails the call, unless stale_ok allows the last good value.
    await assertHolds(s, 'strict', flakyValue);
    // A value that changes in the store reaches the redactor before the plugin gets it.
    const rotatedValue = newCanary('flaky-rotated');
    sandbox.file('command/flaky-value', rotatedValue);
    await assertHolds(s, 'strict', rotatedValue);
    sandbox.file('command/flaky-value', flakyValue);
    await assertHolds(s, 'lenient', flakyValue);
    sandbox.file('command/down', '');
    assert.equal(structured(await s.call('strict_reveal', { alias: 'token' })).reveal, KH.ERROR);
    const stale = structured(await s.call('lenient_sign', { alias: 'token', message: 'm' }));
    assert.equal(stale.mac, mac(flakyValue, 'm'), 'stale_ok: the last good value');
  } finally {
    await s.close();
  }
  const stderr = captures.find((c) => c.label === 'local/local: serve stderr').text;
  assert.match(stderr, /instance 'broken' .*skipped: secret alias 'token': command:\["sh", "-c", .*'sh' exited with status 7/);
  assert.match(stderr, /instance 'nocred' .*skipped: .*no credential 'db-password'.*LoadCredentialEncrypted=db-password:/);
  assert.ok(stderr.includes('(stderr): the store is down'), 'a source command\'s stderr is logged');
  assert.ok(stderr.includes(`fetch.sh: handing out [REDACTED:command:["${script}"]]`), stderr);

  const entries = (await audit(sandbox)).filter((e) => e.action === 'source.fetch');
  const outcome = (secret) => entries.filter((e) => e.secret === secret).map((e) => e.outcome);
  assert.deepEqual(outcome(`command:["${script}"]`), ['ok']);
  assert.deepEqual(outcome('pass:team/api'), ['ok']);
  assert.deepEqual(outcome('systemd-creds:api-key'), ['ok']);
  assert.deepEqual(outcome('systemd-creds:db-password'), ['error']);
  assert.equal(outcome('command:["sh", "-c", "echo the store is down >&2; exit 7"]')[0], 'error');
  assert.equal(outcome(`command:["${flaky}", "lenient"]`).at(-1), 'stale');
  assert.equal(outcome(`command:["${flaky}"]`).at(-1), 'error');
  const refused = (await audit(sandbox)).find((e) => e.action === 'handle.reveal' && e.instance === 'strict' && e.outcome === 'error');
  assert.ok(refused, 'the failed reveal is audited');
  assert.match(refused.detail, /'.*flaky\.sh' exited with status 5 \(the last good value is not used: set stale_ok to allow it\)/);
});

test('aws-sm: GetSecretValue signed by the host, checked by the official signer: JSON fields, stages, ARNs, bad signatures', async () => {
  const sandbox = await makeVault('aws');
  const region = 'eu-west-1';
  const vaultKey = { id: 'AKIAKEYHOLDVAULT0001', secret: newCanary('aws-secret-key') };
  const envKey = { id: 'ASIAKEYHOLDENV000002', secret: newCanary('aws-env-key'), token: newCanary('aws-session') };
  const dbPassword = newCanary('sm-db');
  const apiCurrent = newCanary('sm-api-current');
  const apiPrevious = newCanary('sm-api-previous');
  const apiArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/api-QwErTy';
  const sm = await startSecretsManager({
    region,
    keys: {
      [vaultKey.id]: { secretAccessKey: vaultKey.secret },
      [envKey.id]: { secretAccessKey: envKey.secret, sessionToken: envKey.token },
    },
    secrets: [
      {
        name: 'prod/db',
        arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf',
        versions: [{ id: 'db-v1', stages: ['AWSCURRENT'], string: JSON.stringify({ username: 'app', password: dbPassword }) }],
      },
      {
        name: 'prod/api',
        arn: apiArn,
        versions: [
          { id: 'api-v2', stages: ['AWSCURRENT'], string: apiCurrent },
          { id: 'api-v1', stages: ['AWSPREVIOUS'], string: apiPrevious },
        ],
      },
    ],
  });
  await setSecret(sandbox, 'aws/keyhold', JSON.stringify({ AccessKeyId: vaultKey.id, SecretAccessKey: vaultKey.secret }));
  await setSecret(sandbox, 'aws/wrong', JSON.stringify({ AccessKeyId: vaultKey.id, SecretAccessKey: newCanary('aws-wrong') }));
  Object.assign(sandbox.env, { AWS_ACCESS_KEY_ID: envKey.id, AWS_SECRET_ACCESS_KEY: envKey.secret, AWS_SESSION_TOKEN: envKey.token, AWS_REGION: region });
  const at = `endpoint=${sm.endpoint}`;
  const config =
    snoopInstance('smfield', { token: `aws-sm:prod/db#password region=${region} ${at} credentials=vault:aws/keyhold` }) +
    snoopInstance('smprev', { token: `aws-sm:${apiArn} stage=AWSPREVIOUS ${at} credentials=vault:aws/keyhold ttl=0s` }) +
    snoopInstance('smenv', { token: `aws-sm:prod/api ${at}` }) +
    snoopInstance('smbadsig', { token: `aws-sm:prod/api ${at} credentials=vault:aws/wrong` }) +
    snoopInstance('smnofield', { token: `aws-sm:prod/db#token ${at}` }) +
    snoopInstance('smnostage', { token: `aws-sm:prod/db stage=AWSPENDING ${at}` });
  let s;
  try {
    s = await serve(sandbox, config, 'aws');
    const loaded = await toolInstances(s);
    for (const name of ['smfield', 'smprev', 'smenv']) assert.ok(loaded.has(name), `${name} loaded`);
    for (const name of ['smbadsig', 'smnofield', 'smnostage']) assert.ok(!loaded.has(name), `${name} must not load`);
    await assertHolds(s, 'smfield', dbPassword);
    await assertHolds(s, 'smprev', apiPrevious);
    await assertHolds(s, 'smenv', apiCurrent);
  } finally {
    await s?.close();
    await sm.close();
  }
  capture('aws: stand-in log', JSON.stringify(sm.log));
  const stderr = captures.find((c) => c.label === 'aws/aws: serve stderr').text;
  assert.match(stderr, /instance 'smbadsig' .*skipped: .*aws-sm:prod\/api: Secrets Manager at http:\/\/127\.0\.0\.1:\d+\/ answered HTTP 403 InvalidSignatureException/);
  assert.match(stderr, /instance 'smnofield' .*skipped: .*secret prod\/db has no string member "token"/);
  assert.match(stderr, /instance 'smnostage' .*skipped: .*HTTP 400 ResourceNotFoundException.*AWSPENDING/);
  // Every request the stand-in answered with a value passed the official signer's check; the
  // wrong key was refused there; ttl=0s made smprev fetch on each of its uses.
  assert.equal(sm.log.filter((e) => e.outcome === 'InvalidSignatureException').length, 1, JSON.stringify(sm.log));
  const fetched = (id) => sm.log.filter((e) => e.outcome === 'ok' && e.secretId === id).length;
  assert.ok(fetched(apiArn) >= 3, `smprev fetched ${fetched(apiArn)} times`);
  // smfield once (its later uses hit the 5-minute cache), smnofield once (then no field).
  assert.equal(fetched('prod/db'), 2, JSON.stringify(sm.log));
  const entries = (await audit(sandbox)).filter((e) => e.action === 'source.fetch');
  assert.ok(entries.some((e) => e.secret === 'aws-sm:prod/db#password' && e.outcome === 'ok'));
  assert.ok(entries.some((e) => e.secret === 'aws-sm:prod/api' && e.outcome === 'error' && e.detail.includes('InvalidSignatureException')));
});

test('sweep: no canary (values, AWS keys, session token) in any captured output or audit log', async () => {
  assert.ok(canaries.length >= 10, `canaries of this run: ${canaries.length}`);
  for (const sandbox of sandboxes) await audit(sandbox);
  const { hits, searched } = leaksInCaptures();
  assert.ok(searched > 5_000, `searched only ${searched} bytes`);
  assert.deepEqual(hits, [], 'canaries found');
  for (const sandbox of sandboxes) sandbox.cleanup();
});
