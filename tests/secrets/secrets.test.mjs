// Issue 4, acceptance (tests) 1-5: scoped secret handles, redaction of every outbound
// byte, the argument guard, and a final sweep of everything the run printed.
//
// Each test makes a fresh keyfile vault in a sandbox with random canary secrets, grants,
// writes a config with instances of the hostile fixture plugin "snoop"
// (tests/fixtures/plugins/snoop), serves keyhold over stdio with the official SDK client and asserts
// what the plugin got (KH_* status codes it reports) and what the client received (only
// [REDACTED:<alias>] markers, never a canary in any encoded form). The last test searches
// every captured stdout, stderr, client message, audit log and sandbox file of the run.
//
// Tests run in order (one file, node:test runs them sequentially); the sweep must be last.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { test } from 'node:test';

import { keyholdBin, PLUGIN_DIR, run, sleep } from '../e2e/helpers.mjs';
import { startServer } from '../http/http_helpers.mjs';
import {
  SNOOP_ENV_COMMANDS,
  assertNoLeak,
  audit,
  canaries,
  capture,
  captures,
  cli,
  filesUnder,
  findLeaks,
  forms,
  grant,
  KH,
  makeVault,
  newCanary,
  sandboxes,
  serve,
  setSecret,
  snoopInstance,
  structured,
} from './lib.mjs';

// An obviously fake AWS access key id (AKIA + 16 characters), example only.
const FAKE_AWS_KEY = 'AKIA' + 'EXAMPLEFAKE12345'; // fake example key, not a credential

const hmacHex = (key, message) => createHmac('sha256', key).update(message).digest('hex');
const marker = (alias) => `[REDACTED:${alias}]`;
// The marker alone; padded base64 leaves its '=' padding behind (no information).
const onlyMarker = (alias) => new RegExp(`^\\[REDACTED:${alias}\\]=*$`);

// The standard setup: secrets app/token, app/signkey, app/other (all canaries);
// instance sa: token (reveal,sign,env), signkey (sign), other mapped but NOT granted;
// instance sb: token granted reveal,sign (so its handle exists, to try sa's handle).
// isolation: see snoopInstance(). In-process, the two instances share the snoop library's
// statics, so sb can try sa's handles and children: the broker must refuse by instance.
// Isolated (the default) they cannot even see them (tests/sandbox/isolation.test.mjs).
async function standardVault(label, { isolation } = {}) {
  const sandbox = await makeVault(label);
  const values = { token: newCanary('token-'), signkey: newCanary('signkey-'), other: newCanary('other-') };
  await setSecret(sandbox, 'app/token', values.token);
  await setSecret(sandbox, 'app/signkey', values.signkey);
  await setSecret(sandbox, 'app/other', values.other);
  await grant(sandbox, 'sa', 'app/token', 'reveal,sign,env');
  await grant(sandbox, 'sa', 'app/signkey', 'sign');
  await grant(sandbox, 'sb', 'app/token', 'reveal,sign');
  const mapping = {
    token: { source: 'vault:app/token', env_commands: SNOOP_ENV_COMMANDS },
    signkey: 'vault:app/signkey',
    other: 'vault:app/other',
  };
  const config =
    snoopInstance('sa', mapping, { isolation }) +
    snoopInstance('sb', { token: 'vault:app/token' }, { isolation });
  return { sandbox, values, config };
}

function textOf(result) {
  return (result.content ?? []).map((c) => c.text ?? JSON.stringify(c)).join('\n');
}

// ------------------------------------------------------------------------ acceptance 1

test('snoop: ungranted alias, another instance\'s handle, reveal with only sign: denied, audited', async () => {
  const { sandbox, values, config } = await standardVault('deny', { isolation: 'in-process' });
  const s = await serve(sandbox, config, 'deny');
  try {
    // acquire: mapped but not granted; not mapped at all; not declared at all.
    assert.equal(structured(await s.call('sa_acquire', { alias: 'other' })).acquire, KH.NOT_GRANTED);
    assert.equal(structured(await s.call('sb_acquire', { alias: 'signkey' })).acquire, KH.NOT_GRANTED);
    assert.equal(structured(await s.call('sa_acquire', { alias: 'undeclared' })).acquire, KH.NOT_GRANTED);
    // An alias of 200 KB: denied, and the audit entry (kept for good) does not hold it.
    assert.equal(structured(await s.call('sa_acquire', { alias: 'y'.repeat(200_000) })).acquire, KH.NOT_GRANTED);
    const deniedNoHandle = structured(await s.call('sa_acquire', { alias: 'other' }));
    assert.equal(deniedNoHandle.nonzero, false, 'a denied acquire must not hand out a handle');

    // reveal with only sign granted: acquire succeeds (sign is granted), reveal is denied.
    const signOnly = structured(await s.call('sa_reveal', { alias: 'signkey' }));
    assert.equal(signOnly.acquire, KH.OK);
    assert.equal(signOnly.reveal, KH.NOT_GRANTED);
    assert.equal(signOnly.length, 0, 'the callback must not have run');

    // Another instance's handle: sa acquires token, sb tries to reveal, sign and release it.
    const acquired = structured(await s.call('sa_acquire', { alias: 'token' }));
    assert.equal(acquired.acquire, KH.OK);
    assert.equal(acquired.nonzero, true);
    const foreignReveal = structured(await s.call('sb_use', { owner: 'sa', alias: 'token', op: 'reveal' }));
    assert.equal(foreignReveal.reveal, KH.NOT_GRANTED);
    assert.equal(foreignReveal.length, 0);
    const foreignSign = structured(await s.call('sb_use', { owner: 'sa', alias: 'token', op: 'sign' }));
    assert.equal(foreignSign.sign, KH.NOT_GRANTED);
    assert.equal(foreignSign.mac, '');
    assert.equal(structured(await s.call('sb_release', { owner: 'sa', alias: 'token' })).release, KH.NOT_FOUND);
    // A forged handle.
    assert.equal(structured(await s.call('sa_use', { owner: 'forged', alias: 'token', op: 'reveal' })).reveal, KH.NOT_GRANTED);
    assert.equal(structured(await s.call('sa_use', { owner: 'forged', alias: 'token', op: 'sign' })).sign, KH.NOT_GRANTED);

    // The owner can still use it (the value reaches the client only as a marker) ...
    const own = structured(await s.call('sa_use', { owner: 'sa', alias: 'token', op: 'reveal' }));
    assert.equal(own.reveal, KH.OK);
    assert.equal(own.length, values.token.length);
    assert.equal(own.value, marker('token'));
    // ... until it releases it: then the handle is dead.
    assert.equal(structured(await s.call('sa_release', { owner: 'sa', alias: 'token' })).release, KH.OK);
    assert.equal(structured(await s.call('sa_use', { owner: 'sa', alias: 'token', op: 'reveal' })).reveal, KH.NOT_GRANTED);
    assert.equal(structured(await s.call('sa_use', { owner: 'sa', alias: 'token', op: 'sign' })).sign, KH.NOT_GRANTED);

    assertNoLeak(s.received(), 'client messages');
  } finally {
    await s.close();
  }
  const entries = await audit(sandbox);
  const denied = (instance, action) =>
    entries.filter((e) => e.instance === instance && e.action === action && e.outcome === 'denied');
  assert.ok(denied('sa', 'handle.acquire').length >= 4, 'denied acquires of sa are audited');
  assert.ok(
    denied('sa', 'handle.acquire').some((e) => e.detail.includes('(an alias of 200000 bytes)')),
    'the long alias is audited by its length',
  );
  for (const e of entries) assert.ok(JSON.stringify(e).length < 4096, `an audit entry of ${JSON.stringify(e).length} bytes`);
  assert.ok(denied('sb', 'handle.acquire').length >= 1, 'denied acquire of sb is audited');
  assert.ok(denied('sa', 'handle.reveal').length >= 2, 'reveal with only sign, forged, released: audited');
  assert.ok(denied('sb', 'handle.reveal').length >= 1, 'reveal of another instance\'s handle is audited');
  assert.ok(denied('sb', 'handle.sign').length >= 1, 'sign with another instance\'s handle is audited');
  for (const e of entries.filter((e) => e.actor === 'host:serve'))
    assert.ok(e.request_id !== '', `audit entry without request id: ${JSON.stringify(e)}`);
});

test('snoop: sign gives HMAC-SHA256 and the SigV4 signing key without revealing', async () => {
  const { sandbox, values, config } = await standardVault('sign');
  const s = await serve(sandbox, config, 'sign');
  try {
    const message = 'GET /bucket/object 20261126';
    const withSignKey = structured(await s.call('sa_sign', { alias: 'signkey', message }));
    assert.deepEqual(withSignKey, { acquire: KH.OK, sign: KH.OK, mac: hmacHex(values.signkey, message) });
    const withToken = structured(await s.call('sa_sign', { alias: 'token', message }));
    assert.equal(withToken.mac, hmacHex(values.token, message));

    const scope = { date: '20261126', region: 'eu-west-1', service: 's3' };
    const k1 = createHmac('sha256', 'AWS4' + values.signkey).update(scope.date).digest();
    const k2 = createHmac('sha256', k1).update(scope.region).digest();
    const k3 = createHmac('sha256', k2).update(scope.service).digest();
    const signingKey = createHmac('sha256', k3).update('aws4_request').digest('hex');
    const aws = structured(
      await s.call('sa_sign', { alias: 'signkey', algorithm: 'aws4-signing-key', message: JSON.stringify(scope) }),
    );
    assert.deepEqual(aws, { acquire: KH.OK, sign: KH.OK, mac: signingKey });

    const badAlgorithm = structured(await s.call('sa_sign', { alias: 'signkey', algorithm: 'md5', message }));
    assert.equal(badAlgorithm.sign, KH.INVALID_ARGUMENT);
    // other is mapped to sa but not granted at all: no handle, no signature.
    assert.equal(structured(await s.call('sa_sign', { alias: 'other', message })).acquire, KH.NOT_GRANTED);
    assertNoLeak(s.received(), 'client messages');
  } finally {
    await s.close();
  }
});

// Where the plugin puts a revealed value, and how the client must see it.
const REQUIRED_FORMS = ['raw', 'base64', 'base64-nopad', 'base64url', 'url', 'hex', 'HEX'];

test('snoop: a revealed canary put into every outbound path, in every encoding: the client sees only markers', async () => {
  const { sandbox, config } = await standardVault('leak');
  const s = await serve(sandbox, config, 'leak');
  try {
    await s.client.setLoggingLevel('debug');
    const logs = {
      get length() {
        return s.messages.filter((m) => m.method === 'notifications/message').length;
      },
      slice(from) {
        return s.messages.filter((m) => m.method === 'notifications/message').slice(from).map((m) => m.params);
      },
    };
    for (const form of REQUIRED_FORMS) {
      const what = `form ${form}`;
      // Tool result text.
      for (const where of ['text', 'text-bare']) {
        const r = await s.call('sa_leak', { alias: 'token', form, where });
        assert.ok(!r.isError, `${what} ${where}: ${textOf(r)}`);
        assert.ok(textOf(r).includes(marker('token')), `${what} ${where}: no marker in ${textOf(r)}`);
        assertNoLeak(JSON.stringify(r), `${what} ${where}`);
      }
      // structuredContent (values, nested arrays and an object key).
      {
        const r = await s.call('sa_leak', { alias: 'token', form, where: 'structured' });
        const sc = structured(r);
        assert.match(sc.value, onlyMarker('token'), what);
        assert.match(sc.nested.list[0], onlyMarker('token'), what);
        const key = Object.keys(sc).find((k) => sc[k] === 'as a key');
        assert.match(key, onlyMarker('token'), `${what}: the object key is redacted`);
        assertNoLeak(JSON.stringify(r), `${what} structured`);
      }
      // Embedded resources (text, uri and a base64 blob of the value).
      {
        const r = await s.call('sa_leak', { alias: 'token', form, where: 'resource' });
        const [, textResource] = r.content;
        assert.match(textResource.resource.text, onlyMarker('token'), what);
        assert.ok(textResource.resource.uri.includes(marker('token')), what);
        assertNoLeak(JSON.stringify(r), `${what} resource`);
      }
      // A log notification.
      {
        const before = logs.length;
        const r = await s.call('sa_leak', { alias: 'token', form, where: 'log' });
        assert.equal(textOf(r), 'logged');
        for (let i = 0; i < 50 && logs.length === before; i++) await sleep(20);
        const got = logs.slice(before).map((l) => JSON.stringify(l)).join('\n');
        assert.ok(got.includes(marker('token')), `${what}: log notification without marker: ${got}`);
        assertNoLeak(got, `${what} log`);
      }
      // Progress messages.
      {
        // The SDK drops progress that arrives in the same read as the result (see
        // tests/e2e/sdk_stdio.test.mjs), so the messages are taken as received.
        const allProgress = () => s.messages.filter((m) => m.method === 'notifications/progress');
        const before = allProgress().length;
        const r = await s.call('sa_leak', { alias: 'token', form, where: 'progress' }, { onprogress: () => {} });
        assert.equal(textOf(r), 'progressed');
        const progress = allProgress().slice(before).map((m) => m.params);
        assert.ok(progress.length >= 1, `${what}: no progress received`);
        for (const p of progress) assert.ok(p.message.includes(marker('token')), `${what}: progress ${JSON.stringify(p)}`);
        assertNoLeak(JSON.stringify(progress), `${what} progress`);
      }
      // A thrown exception's message (isError result) and an InvalidArgument from a tool.
      for (const where of ['throw', 'invalid']) {
        let r;
        try {
          r = await s.call('sa_leak', { alias: 'token', form, where });
        } catch (e) {
          r = { thrown: String(e?.message), data: e?.data, code: e?.code };
        }
        const text = JSON.stringify(r);
        assert.ok(text.includes(marker('token')), `${what} ${where}: ${text}`);
        assertNoLeak(text, `${what} ${where}`);
      }
      // The host's stderr log (checked after close), and the runner's own output.
      await s.call('sa_leak', { alias: 'token', form, where: 'stderr' });
      await s.call('sa_leak', { alias: 'token', form, where: 'output' });
    }
    // Resource contents, an error from resources/read, and a prompt message.
    const resource = await s.client.readResource({ uri: 'snoop://sa/value' });
    assert.equal(resource.contents[0].text, `value ${marker('token')}`);
    // The plugin's NotFound message carries the value; the host may pass it on (then as a
    // marker) or replace it by its own.
    await assert.rejects(s.client.readResource({ uri: 'snoop://nothing' }), (e) => {
      assert.match(String(e.message), /snoop:\/\/nothing/);
      assertNoLeak(String(e.message) + JSON.stringify(e.data ?? null), 'resources/read error');
      return true;
    });
    const prompt = await s.client.getPrompt({ name: 'sa_leak' });
    assert.equal(prompt.messages[0].content.text, `use token ${marker('token')}`);

    assertNoLeak(s.received(), 'every client message');
  } finally {
    await s.close();
  }
  const stderr = captures.find((c) => c.label === 'leak/leak: serve stderr').text;
  assert.ok(stderr.includes(`host log with the value ${marker('token')}`), 'the plugin host log line is in stderr');
  assertNoLeak(stderr, 'serve stderr');
  // The runner's output: a line of 2 KB is shown whole (redacted); longer ones are not shown
  // at all. A line cut before the log's redaction would show the start of a value.
  assert.ok(stderr.includes(`${'.'.repeat(2030)}${marker('token')}`), 'the 2 KB output line, redacted');
  assert.match(stderr, /\(a line of \d+ bytes, over 8 KiB, not shown\)/);
  for (const value of canaries)
    for (const [form, encoded] of Object.entries(forms(value)))
      for (const fragment of [encoded.slice(0, 12), encoded.slice(-12)])
        assert.ok(!stderr.includes(fragment), `serve stderr holds part of the ${form} form of a canary`);
});

test('snoop: a revealed canary as the bytes of an embedded blob resource: redacted, and the result stays valid', async () => {
  const { sandbox, config } = await standardVault('blob');
  const s = await serve(sandbox, config, 'blob');
  try {
    let result;
    let rejected;
    try {
      result = await s.call('sa_leak', { alias: 'token', form: 'raw', where: 'blob' });
    } catch (e) {
      rejected = e;
    }
    // Whatever the client made of it, the bytes it received carry no canary.
    assertNoLeak(s.received(), 'client messages');
    const blobs = s.messages.filter((m) => m.result?.content?.[1]?.resource?.blob !== undefined);
    assert.equal(blobs.length, 1);
    const blob = blobs[0].result.content[1].resource.blob;
    // The blob stays base64; its bytes carry the marker instead of the value.
    assert.match(blob, /^[A-Za-z0-9+/]*={0,2}$/, `blob as received: ${blob}`);
    assert.ok(Buffer.from(blob, 'base64').toString('latin1').includes(marker('token')), `blob as received: ${blob}`);
    assert.equal(rejected, undefined, `the SDK client rejected the redacted result: ${rejected?.message?.slice(0, 200)}`);
    assert.ok(result);
  } finally {
    await s.close();
  }
});

// Other common percent-encodings: Python's urllib.parse.quote keeps '/', and lower-case
// hex digits are as valid as upper-case ones. Issue 4 names "URL-encoded" forms.
for (const form of ['url-keep-slash', 'url-lower']) {
  test(`snoop: a revealed canary percent-encoded as ${form} is redacted`, async () => {
    const { sandbox, values, config } = await standardVault(`leak-${form}`);
    const s = await serve(sandbox, config, form);
    try {
      const r = await s.call('sa_leak', { alias: 'token', form, where: 'text-bare' });
      const leaked = textOf(r);
      assert.equal(leaked, marker('token'), `the client received ${leaked} for ${values.token}`);
    } finally {
      await s.close();
    }
  });
}

// ------------------------------------------------------------------------ acceptance 2

test('revoke while serving: the very next use is denied, even with a handle held', async () => {
  const { sandbox, config } = await standardVault('revoke');
  const s = await serve(sandbox, config, 'revoke');
  try {
    assert.equal(structured(await s.call('sa_reveal', { alias: 'token' })).reveal, KH.OK);
    assert.equal(structured(await s.call('sa_acquire', { alias: 'token' })).acquire, KH.OK); // held
    // Uses in a row keep the vault's change checks on their fast path (nothing committed).
    for (let i = 0; i < 5; ++i)
      assert.equal(structured(await s.call('sa_use', { owner: 'sa', alias: 'token', op: 'reveal' })).reveal, KH.OK);
    await cli(sandbox, ['vault', 'revoke', 'sa', 'app/token']);
    // The revoke has committed (the CLI returned): the first use after it is refused.
    const first = structured(await s.call('sa_use', { owner: 'sa', alias: 'token', op: 'reveal' }));
    assert.equal(first.reveal, KH.NOT_GRANTED, 'a held handle was usable after the revoke returned');
    const held = structured(await s.call('sa_use', { owner: 'sa', alias: 'token', op: 'sign' }));
    assert.equal(held.sign, KH.NOT_GRANTED, 'sign with a held handle after revoke');
    const fresh = structured(await s.call('sa_reveal', { alias: 'token' }));
    assert.equal(fresh.acquire, KH.NOT_GRANTED, 'acquire after revoke');
    const env = structured(await s.call('sa_env', { alias: 'token' }));
    assert.equal(env.spawn, KH.NOT_GRANTED, 'env after revoke');
    // The other instance's grant is untouched.
    assert.equal(structured(await s.call('sb_reveal', { alias: 'token' })).reveal, KH.OK);
    assertNoLeak(s.received(), 'client messages');
  } finally {
    await s.close();
  }
});

test('rotate while serving: the next reveal returns the new value, the client sees only markers', async () => {
  const { sandbox, values, config } = await standardVault('rotate');
  const s = await serve(sandbox, config, 'rotate');
  try {
    const message = 'rotate me';
    assert.equal(structured(await s.call('sa_sign', { alias: 'token', message })).mac, hmacHex(values.token, message));
    const rotated = newCanary('rotated-longer-'); // a different length, visible in `length`
    await cli(sandbox, ['vault', 'rotate', 'app/token'], { input: rotated });
    await sleep(1000);
    const after = structured(await s.call('sa_reveal', { alias: 'token' }));
    assert.equal(after.reveal, KH.OK);
    assert.equal(after.length, rotated.length, 'reveal returns the rotated value');
    assert.equal(structured(await s.call('sa_sign', { alias: 'token', message })).mac, hmacHex(rotated, message));
    assert.equal(after.value, marker('token'), 'the rotated value reached the client');
    // Both the new value and the previous one are still redacted in every form.
    for (const form of ['raw', 'base64', 'hex']) {
      const r = await s.call('sa_leak', { alias: 'token', form, where: 'text-bare' });
      assert.equal(textOf(r), marker('token'), form);
    }
    const env = structured(await s.call('sa_env', { alias: 'token' }));
    assert.equal(env.stdout, `got ${marker('token')}\n`);
    assertNoLeak(s.received(), 'client messages');
  } finally {
    await s.close();
  }
});

test('rotate while serving: a reveal right after the rotation is redacted too', async () => {
  // The broker serves the new value at once; the redactor must know it before it leaves,
  // not only after the next 250 ms poll of the vault's data_version.
  const { sandbox, config } = await standardVault('rotate-race');
  const s = await serve(sandbox, config, 'rotate-race');
  try {
    const rotated = newCanary('race-');
    await cli(sandbox, ['vault', 'rotate', 'app/token'], { input: rotated });
    const r = structured(await s.call('sa_reveal', { alias: 'token' }));
    assert.equal(r.length, rotated.length);
    assert.equal(r.value, marker('token'), 'the value revealed right after rotate reached the client');
  } finally {
    await s.close();
  }
});

test('an expired grant (--expires 2s) is denied', async () => {
  const sandbox = await makeVault('expire');
  const token = newCanary('expire-');
  await setSecret(sandbox, 'app/token', token);
  await grant(sandbox, 'sc', 'app/token', 'reveal');
  const mapping = { token: { source: 'vault:app/token', env_commands: SNOOP_ENV_COMMANDS } };
  const s = await serve(sandbox, snoopInstance('sc', mapping), 'expire');
  try {
    // Replace the grant, while serving, by one that expires in 2 s (start-up time does
    // not eat into it).
    await cli(sandbox, ['vault', 'revoke', 'sc', 'app/token']);
    await grant(sandbox, 'sc', 'app/token', 'reveal,sign,env', '2s');
    const first = structured(await s.call('sc_reveal', { alias: 'token' }));
    assert.equal(first.reveal, KH.OK, 'usable before expiry');
    assert.equal(structured(await s.call('sc_acquire', { alias: 'token' })).acquire, KH.OK); // held
    await sleep(3100);
    assert.equal(structured(await s.call('sc_reveal', { alias: 'token' })).acquire, KH.NOT_GRANTED);
    assert.equal(structured(await s.call('sc_use', { owner: 'sc', alias: 'token', op: 'reveal' })).reveal, KH.NOT_GRANTED);
    assert.equal(structured(await s.call('sc_use', { owner: 'sc', alias: 'token', op: 'sign' })).sign, KH.NOT_GRANTED);
    assert.equal(structured(await s.call('sc_env', { alias: 'token' })).spawn, KH.NOT_GRANTED);
    assertNoLeak(s.received(), 'client messages');
  } finally {
    await s.close();
  }
});

// ------------------------------------------------------------------------ acceptance 3

test('env: a finished child leaves no open pipe in the host', async () => {
  // The host closes a child's pipes at end of stream and forgets the child once the
  // plugin has read both streams to the end and waited for it.
  const { sandbox, config } = await standardVault('env-fds');
  const s = await serve(sandbox, config, 'env-fds');
  try {
    const pid = s.transport.pid ?? s.transport._process?.pid;
    assert.ok(pid, 'the serve process id');
    const openFds = () => readdirSync(`/proc/${pid}/fd`).length;
    assert.equal(structured(await s.call('sa_env', { alias: 'token', mode: 'echo' })).spawn, KH.OK);
    const before = openFds();
    for (let i = 0; i < 20; ++i)
      assert.equal(structured(await s.call('sa_env', { alias: 'token', mode: 'echo' })).exit, 0);
    const after = openFds();
    assert.ok(after - before <= 2, `open descriptors went from ${before} to ${after} over 20 children`);
  } finally {
    await s.close();
  }
});

test('env: an instance has at most 32 children at once; one it is done with frees a place', async () => {
  const { sandbox, config } = await standardVault('env-many');
  const s = await serve(sandbox, config, 'env-many');
  try {
    for (let round = 0; round < 2; ++round) {
      const r = structured(await s.call('sa_spawn_many', { count: 40 }));
      assert.equal(r.started, 32, JSON.stringify(r));
      assert.equal(r.refused, KH.UNAVAILABLE);
      assert.match(r.error, /already has 32 child processes/);
    }
    // Another instance is not held up by it.
    assert.equal(structured(await s.call('sb_spawn_many', { count: 3 })).started, 3);
  } finally {
    await s.close();
  }
});

test('env: the host ends on stdin\'s end although a plugin waits for a child without a timeout', async () => {
  const { sandbox, config } = await standardVault('env-forever');
  const s = await serve(sandbox, config, 'env-forever');
  try {
    assert.equal(structured(await s.call('sa_wait_forever', {})).spawn, KH.OK);
    const child = s.transport._process;
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stdin.end();  // what a client does when it is done: no signal
    const ended = await Promise.race([exited, sleep(10_000).then(() => null)]);
    assert.ok(ended, 'keyhold serve still runs 10 s after its stdin ended');
    assert.equal(ended.signal, null);
  } finally {
    await s.close();
  }
});

test('env: loader variables a plugin sets take effect only inside the child\'s sandbox', async () => {
  // LD_PRELOAD, GLIBC_TUNABLES and the like would be read by the sandbox wrapper's own
  // loader, before any sandbox exists (runner/child_env.hpp). The preloaded library writes
  // a mark wherever it runs; inside the sandbox it cannot, outside it could.
  const { sandbox, config } = await standardVault('env-preload');
  const s = await serve(sandbox, config, 'env-preload');
  try {
    const mark = path.join(sandbox.dir, 'preload-mark');
    const env = {
      LD_PRELOAD: path.join(PLUGIN_DIR, 'mark_preload.so'),
      KH_PRELOAD_MARK: mark,
      PLAIN: 'visible',
    };
    const started = structured(
      await s.call('sa_env', { secret: false, mode: 'env', argv: ['/usr/bin/printenv'], env }),
    );
    assert.equal(started.spawn, KH.OK, JSON.stringify(started));
    const lines = started.stdout.split('\n');
    // The program still gets every variable, under its own name and nothing else.
    assert.ok(lines.includes('PLAIN=visible'), started.stdout);
    assert.ok(lines.includes(`LD_PRELOAD=${env.LD_PRELOAD}`), started.stdout);
    assert.ok(!lines.some((l) => l.startsWith('KEYHOLD_')), started.stdout);
    assert.equal(existsSync(mark), false, 'the preloaded library ran outside the sandbox');
    // With secrets the same variable is refused outright.
    const refused = structured(await s.call('sa_env', { alias: 'token', mode: 'echo', env }));
    assert.notEqual(refused.spawn, KH.OK);
    assert.match(refused.error, /LD_PRELOAD may not be set/);
  } finally {
    await s.close();
  }
});

test('env: the child prints its environment, the client sees the marker, the plugin never called reveal', async () => {
  const { sandbox, values, config } = await standardVault('env');
  const s = await serve(sandbox, config, 'env');
  let envRequests;
  try {
    const echo = structured(await s.call('sa_env', { alias: 'token', mode: 'echo' }));
    assert.equal(echo.spawn, KH.OK, JSON.stringify(echo));
    assert.equal(echo.exit, 0);
    assert.equal(echo.stdout, `got ${marker('token')}\n`);
    assert.equal(echo.stderr, `on stderr ${marker('token')}\n`);
    const printenv = structured(
      await s.call('sa_env', { alias: 'token', mode: 'env', var: 'MCP_AUTH_VALUE', argv: ['/usr/bin/printenv'] }),
    );
    assert.equal(printenv.spawn, KH.OK);
    const lines = printenv.stdout.split('\n');
    assert.ok(lines.includes(`MCP_AUTH_VALUE=${marker('token')}`), printenv.stdout);
    assert.ok(lines.includes('PLAIN=visible'), printenv.stdout);
    assert.ok(!lines.some((l) => l.startsWith('KEYHOLD_')), `the host's own variables leak: ${printenv.stdout}`);
    // What the plugin got back, reversed by the plugin: a value that reached the plugin
    // would pass the redactor this way. It must hold only (reversed) markers.
    for (const r of [echo, printenv]) {
      const unreversed = [...r.stdout_reversed].reverse().join('') + [...r.stderr_reversed].reverse().join('');
      assertNoLeak(unreversed, 'process output as the plugin saw it');
    }
    // Aliases without the env operation: refused before anything starts.
    const other = structured(await s.call('sa_env', { alias: 'other' }));
    assert.equal(other.spawn, KH.NOT_GRANTED);
    assert.match(other.error, /other/);
    assert.equal(structured(await s.call('sa_env', { alias: 'signkey' })).spawn, KH.NOT_GRANTED);
    assert.equal(structured(await s.call('sb_env', { alias: 'token' })).spawn, KH.NOT_GRANTED, 'sb has no env grant');
    assertNoLeak(s.received(), 'client messages');
  } finally {
    await s.close();
  }
  const entries = await audit(sandbox);
  const envOk = entries.filter((e) => e.action === 'handle.env' && e.outcome === 'ok' && e.instance === 'sa');
  assert.equal(envOk.length, 2, `two env uses audited: ${JSON.stringify(envOk)}`);
  envRequests = new Set(envOk.map((e) => e.request_id));
  assert.equal(envRequests.size, 2, 'each env use carries its own request id');
  for (const id of envRequests) {
    assert.notEqual(id, '');
    const same = entries.filter((e) => e.request_id === id && e.instance === 'sa');
    assert.deepEqual(same.filter((e) => e.action === 'handle.reveal'), [], `request ${id} called reveal`);
    assert.deepEqual(same.filter((e) => e.action === 'handle.acquire'), [], `request ${id} acquired a handle`);
  }
  assert.ok(entries.some((e) => e.action === 'handle.env' && e.outcome === 'denied' && e.instance === 'sb'));
  assert.ok(values.token.length > 8);
});

test('env: another instance cannot read, wait for or kill a child it did not start', async () => {
  const { sandbox, config } = await standardVault('env-foreign', { isolation: 'in-process' });
  const s = await serve(sandbox, config, 'env-foreign');
  try {
    const spawned = structured(await s.call('sa_spawn_keep', { alias: 'token' }));
    assert.deepEqual(spawned, { spawn: KH.OK, nonzero: true });
    // sb (no env grant of its own) tries sa's child by its id.
    assert.equal(structured(await s.call('sb_proc', { owner: 'sa', action: 'read' })).read, KH.NOT_FOUND);
    assert.equal(structured(await s.call('sb_proc', { owner: 'sa', action: 'wait' })).wait, KH.NOT_FOUND);
    assert.equal(structured(await s.call('sb_proc', { owner: 'sa', action: 'kill' })).kill, KH.NOT_FOUND);
    // The owner reads it (a marker), and kills it: the whole group ends.
    const read = structured(await s.call('sa_proc', { owner: 'sa', action: 'read' }));
    assert.equal(read.read, KH.OK);
    assert.equal(read.output, `started ${marker('token')}\n`);
    assertNoLeak([...read.output_reversed].reverse().join(''), 'child output as the plugin saw it');
    assert.equal(structured(await s.call('sa_proc', { owner: 'sa', action: 'kill' })).kill, KH.OK);
    const waited = structured(await s.call('sa_proc', { owner: 'sa', action: 'wait' }));
    assert.equal(waited.wait, KH.OK);
    assert.equal(waited.exit & 0x7f, 9, `killed by SIGKILL: ${waited.exit}`);
    assertNoLeak(s.received(), 'client messages');
  } finally {
    await s.close();
  }
});

test('env: a value straddling the 64 KiB flush of process_read never reaches the plugin', async () => {
  // ChildProcesses::read hands out a line longer than 64 KiB in pieces, each redacted on
  // its own: it must hold back a possible value prefix so no value is split across two.
  const { sandbox, config } = await standardVault('env-boundary');
  const s = await serve(sandbox, config, 'env-boundary');
  try {
    // boundary: the value right after the first 64 KiB; repeat: one line of the value 4000
    // times, so the flushes fall inside values (a cut that splits one leaks it).
    for (const mode of ['boundary', 'repeat']) {
      const r = structured(await s.call('sa_env', { alias: 'token', mode }));
      assert.equal(r.spawn, KH.OK, JSON.stringify(r).slice(0, 300));
      assert.equal(r.exit, 0);
      const seen = [...r.stdout_reversed].reverse().join('');
      if (mode === 'repeat') assert.ok(seen.length > 65536, `${mode}: ${seen.length} bytes`);
      assert.deepEqual(findLeaks(seen), [], `${mode}: the plugin saw the env value: ${seen.slice(-80)}`);
    }
  } finally {
    await s.close();
  }
});

test('env: only the commands the administrator listed for the alias get it; no loader variables', async () => {
  // The plugin chooses argv, so without an allowlist it could make a child transform the
  // value (| rev, base32, ...) into something the redactor does not know. The config's
  // env_commands name the argv prefixes that may receive the alias.
  const { sandbox, values, config } = await standardVault('env-allow');
  const plain = snoopInstance('sp', { token: 'vault:app/token' }); // string form: no env commands
  await grant(sandbox, 'sp', 'app/token', 'reveal,env');
  const s = await serve(sandbox, config + plain, 'env-allow');
  const rev = ['sh', '-c', 'printf \'%s\\n\' "$MCP_AUTH_TOKEN" | rev'];
  try {
    const refused = structured(await s.call('sa_env', { alias: 'token', argv: rev }));
    assert.equal(refused.spawn, KH.NOT_GRANTED, JSON.stringify(refused));
    assert.match(refused.error, /secret alias 'token' may not be given to 'sh' \(not in the alias's env_commands\)/);
    assert.equal(structured(await s.call('sa_env', { alias: 'token', mode: 'rev' })).spawn, KH.NOT_GRANTED);
    // A prefix of an allowed command is not the allowed command.
    const shorter = structured(await s.call('sa_env', { alias: 'token', argv: ['sh', '-c'] }));
    assert.equal(shorter.spawn, KH.NOT_GRANTED);
    // The listed command still works.
    const echo = structured(await s.call('sa_env', { alias: 'token', mode: 'echo' }));
    assert.equal(echo.spawn, KH.OK, JSON.stringify(echo));
    assert.equal(echo.stdout, `got ${marker('token')}\n`);
    // A mapping without env_commands refuses env although env is granted in the vault.
    const none = structured(await s.call('sp_env', { alias: 'token', mode: 'echo' }));
    assert.equal(none.spawn, KH.NOT_GRANTED);
    assert.match(none.error, /secret alias 'token' has no env_commands in the config/);
    // Variables that change what an allowed command runs are refused with secrets.
    for (const name of ['LD_PRELOAD', 'PATH', 'NODE_OPTIONS', 'BASH_ENV']) {
      const r = structured(await s.call('sa_env', { alias: 'token', mode: 'echo', env: { [name]: '/tmp/x' } }));
      assert.equal(r.spawn, KH.INVALID_ARGUMENT, `${name}: ${JSON.stringify(r)}`);
      assert.match(r.error, new RegExp(`env variable ${name} may not be set`));
    }
    assert.equal(structured(await s.call('sa_env', { alias: 'token', mode: 'echo', env: { NODE_ENV: 'test' } })).spawn, KH.OK);
    assertNoLeak(s.received(), 'client messages');
    assert.ok(!s.stderr().includes(values.token));
  } finally {
    await s.close();
  }
  const entries = await audit(sandbox);
  const denied = entries.filter((e) => e.action === 'handle.env' && e.outcome === 'denied' && e.instance === 'sa');
  assert.ok(denied.some((e) => /command=sh \(not in env_commands\)/.test(e.detail)), JSON.stringify(denied));
});

// ------------------------------------------------------------------------ acceptance 4

test('argument guard: block refuses a canary and a fake AWS key, naming the argument; redact replaces them', async () => {
  const sandbox = await makeVault('guard');
  const token = newCanary('guard-');
  await setSecret(sandbox, 'app/token', token);
  await grant(sandbox, 'sa', 'app/token', 'reveal');
  await grant(sandbox, 'sr', 'app/token', 'reveal');
  const config =
    snoopInstance('sa', { token: 'vault:app/token' }) +
    snoopInstance('sr', { token: 'vault:app/token' }, { guard: 'redact' }) +
    snoopInstance('so', {}, { guard: 'off' });
  const s = await serve(sandbox, config, 'guard');
  try {
    const refused = async (args, argument, what) => {
      const r = await s.call('sa_echo_args', args);
      const text = textOf(r);
      assert.equal(r.isError, true, `not refused: ${text}`);
      assert.equal(r.structuredContent, undefined, 'the plugin never ran');
      assert.ok(text.includes(`argument '${argument}'`), `names the argument: ${text}`);
      assert.ok(text.includes(what), `names ${what}: ${text}`);
      assert.match(text, /credentials come from the keyhold vault/i);
      return text;
    };
    await refused({ text: token }, 'text', "the secret 'token'");
    await refused({ text: `use ${token} please` }, 'text', "the secret 'token'");
    await refused({ nested: { deep: ['ok', Buffer.from(token).toString('hex')] } }, 'nested.deep[1]', "the secret 'token'");
    await refused({ text: `key ${FAKE_AWS_KEY} fake example` }, 'text', 'rule aws-access-key');
    await refused({ nested: { aws: FAKE_AWS_KEY } }, 'nested.aws', 'rule aws-access-key');
    // Clean arguments pass.
    const clean = await s.call('sa_echo_args', { text: 'nothing secret here' });
    assert.deepEqual(structured(clean).arguments, { text: 'nothing secret here' });

    // redact: the plugin runs, with markers in place of the credentials.
    const redacted = structured(
      await s.call('sr_echo_args', { text: `a ${token} b`, nested: { aws: `k=${FAKE_AWS_KEY}` } }),
    ).arguments;
    assert.equal(redacted.text, `a ${marker('token')} b`);
    assert.equal(redacted.nested.aws, 'k=[REDACTED:rule:aws-access-key]');
    // off: the plugin gets the argument, but its result is still redacted on the way out.
    const off = structured(await s.call('so_echo_args', { text: token })).arguments;
    assert.equal(off.text, marker('token'));
    assertNoLeak(s.received(), 'client messages');
  } finally {
    await s.close();
  }
  const entries = await audit(sandbox);
  assert.ok(entries.filter((e) => e.action === 'guard.block' && e.instance === 'sa').length >= 5, 'blocks audited');
  assert.ok(entries.some((e) => e.action === 'guard.redact' && e.instance === 'sr'), 'redactions audited');
});

// ------------------------------------------------------------------------ load errors

test('load errors: an undeclared alias and a missing secret skip the instance with a one-line error', async () => {
  const sandbox = await makeVault('load');
  const token = newCanary('load-');
  await setSecret(sandbox, 'app/token', token);
  await grant(sandbox, 'good', 'app/token', 'reveal');
  const config =
    snoopInstance('good', { token: 'vault:app/token' }) +
    snoopInstance('undeclared', { token: 'vault:app/token', sneaky: 'vault:app/token' }) +
    snoopInstance('missing', { token: 'vault:app/nope' }) +
    snoopInstance('noenv', { token: 'env:KEYHOLD_TEST_SURELY_UNSET_VARIABLE' }) +
    snoopInstance('nofile', { token: `file:${sandbox.dir}/no-such-file` }) +
    snoopInstance('envless', { other: { source: 'vault:app/token', env_commands: [['node']] } });
  const s = await serve(sandbox, config, 'load');
  let stderr;
  try {
    const tools = (await s.client.listTools()).tools.map((t) => t.name);
    assert.ok(tools.includes('good_reveal'));
    for (const skipped of ['undeclared', 'missing', 'noenv', 'nofile', 'envless'])
      assert.ok(!tools.some((n) => n.startsWith(`${skipped}_`)), `${skipped} must not be served`);
    assert.equal(structured(await s.call('good_reveal', { alias: 'token' })).reveal, KH.OK);
  } finally {
    await s.close();
    stderr = s.stderr();
  }
  const line = (instance) => {
    const found = stderr.split('\n').filter((l) => l.includes(`instance '${instance}'`) && l.includes('skipped'));
    assert.equal(found.length, 1, `one skip line for ${instance} in:\n${stderr}`);
    return found[0];
  };
  assert.match(line('undeclared'), /secret alias 'sneaky' is not declared by plugin 'snoop' \(it declares: token, signkey, other\)/);
  assert.match(line('missing'), /secret alias 'token'.*app\/nope/);
  assert.match(line('noenv'), /secret alias 'token'.*KEYHOLD_TEST_SURELY_UNSET_VARIABLE/);
  assert.match(line('nofile'), /secret alias 'token'.*no-such-file/);
  assert.match(line('envless'), /secret alias 'other' lists env_commands but plugin 'snoop' does not declare the env operation/);
  assert.ok(!stderr.split('\n').some((l) => l.includes("instance 'good'") && l.includes('skipped')));
});

test('load errors: serving a vault: mapping without an unlock method is a clear startup error', async () => {
  const sandbox = await makeVault('locked');
  await setSecret(sandbox, 'app/token', newCanary('locked-'));
  const configPath = sandbox.writeConfig(snoopInstance('sa', { token: 'vault:app/token' }));
  const env = { ...sandbox.env };
  delete env.KEYHOLD_KEYFILE;
  const r = await run(await keyholdBin(), ['serve', '--config', configPath], { env, cwd: sandbox.dir, input: '' });
  capture('locked: serve stdout', r.stdout);
  capture('locked: serve stderr', r.stderr);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no unlock method: set KEYHOLD_KEYFILE or KEYHOLD_PASSPHRASE_FILE/);
  assert.equal(r.stdout, '', 'nothing on the protocol stream');
});

// ------------------------------------------- issue 20, acceptance 4: headers, request state

// One MCP 2026-07-28 request over HTTP (node:http, so every header keyhold sends is seen
// as sent). Headers and body go into the captures the sweep searches, and are checked at
// once. Resolves with { status, headers, body, message } (message: the JSON-RPC answer,
// from JSON or from the SSE events).
let http2026Count = 0;
function post2026(port, label, method, params, { headers = {}, meta = {}, first = false } = {}) {
  const id = `${label}-${http2026Count++}`;
  const name = params.name ?? params.uri;
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id,
    method,
    params: {
      ...params,
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
        ...meta,
      },
    },
  });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/mcp',
        agent: false,
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          'MCP-Protocol-Version': '2026-07-28',
          'Mcp-Method': method,
          ...(name === undefined ? {} : { 'Mcp-Name': name }),
          ...headers,
        },
      },
      (res) => {
        const headerText = `HTTP ${res.statusCode}\n` + res.rawHeaders.join('\n');
        capture(`http/${label}: response headers`, headerText);
        assertNoLeak(headerText, `${label}: response headers`);
        let text = '';
        const done = () => {
          capture(`http/${label}: response body`, text);
          assertNoLeak(text, `${label}: response body`);
          const message = text.startsWith('{')
            ? JSON.parse(text)
            : text
                .split('\n')
                .filter((line) => line.startsWith('data: {'))
                .map((line) => JSON.parse(line.slice(6)))
                .find((m) => m.id === id || first);
          resolve({ status: res.statusCode, headers: headerText, body: text, message });
        };
        res.on('data', (c) => {
          text += c.toString('utf8');
          if (first && text.includes('\n\n')) {
            req.destroy(); // a stream that stays open (subscriptions/listen): its start is enough
            done();
          }
        });
        res.on('end', done);
        res.on('error', () => {});
      },
    );
    req.on('error', (e) => (first ? undefined : reject(e)));
    req.end(body);
  });
}

// Every string a requestState could give away: the text, and its bytes decoded.
const stateTexts = (state) => [state, Buffer.from(state, 'base64url').toString('latin1')];

test('snoop over HTTP (2026-07-28): no canary in a response header, mirrored headers refused, request state sealed', async () => {
  const { sandbox, values, config } = await standardVault('http');
  const configPath = sandbox.writeConfig(`[server]\nlog_level = "debug"\n[http]\nauth = "off"\n\n${config}`);
  const server = await startServer(sandbox, configPath);
  try {
    // The plugin puts the revealed value into every path in every form; answered as JSON or
    // as an SSE stream (logs and progress ride one), every header and byte is searched.
    for (const where of ['text', 'structured', 'resource', 'log', 'progress', 'throw', 'invalid'])
      for (const form of REQUIRED_FORMS)
        await post2026(server.port, `leak-${where}-${form}`, 'tools/call',
          { name: 'sa_leak', arguments: { alias: 'token', form, where } },
          { meta: { 'io.modelcontextprotocol/logLevel': 'debug', progressToken: `p-${where}-${form}` } });
    await post2026(server.port, 'resource', 'resources/read', { uri: 'snoop://sa/value' });
    await post2026(server.port, 'prompt', 'prompts/get', { name: 'sa_leak' });
    await post2026(server.port, 'discover', 'server/discover', {});
    const listen = await post2026(server.port, 'listen', 'subscriptions/listen',
      { notifications: { toolsListChanged: true, resourceSubscriptions: ['snoop://sa/value'] } }, { first: true });
    assert.equal(listen.message?.method, 'notifications/subscriptions/acknowledged', listen.body);

    // A credential mirrored from an argument into Mcp-Param-Mirrored: the argument guard
    // refuses the call, raw or Base64-encoded, and nothing quotes it back.
    const encoded = `=?base64?${Buffer.from(values.token).toString('base64')}?=`;
    for (const [label, header] of [['raw', values.token], ['base64', encoded]]) {
      const r = await post2026(server.port, `mirrored-${label}`, 'tools/call',
        { name: 'sa_echo_args', arguments: { mirrored: values.token } }, { headers: { 'Mcp-Param-Mirrored': header } });
      assert.equal(r.message?.result?.isError, true, `${label}: not refused: ${r.body}`);
      assert.match(r.message.result.content[0].text, /the secret 'token'/);
      assert.equal(r.message.result.structuredContent, undefined, 'the plugin never ran');
    }
    // The same value in a header with a clean argument: a mismatch, refused without quoting.
    const mismatch = await post2026(server.port, 'mirrored-mismatch', 'tools/call',
      { name: 'sa_echo_args', arguments: { mirrored: 'clean' } }, { headers: { 'Mcp-Param-Mirrored': values.token } });
    assert.equal(mismatch.message?.error?.code, -32020, mismatch.body);

    // A multi round-trip call whose questions carry the value: the questions reach the
    // client redacted, and the requestState (holding the first answer) shows nothing in any
    // form, as text or as its decoded bytes.
    const ask = (label, extra) => post2026(server.port, label, 'tools/call',
      { name: 'sa_leak', arguments: { alias: 'token', form: 'raw', where: 'elicit' }, ...extra });
    const first = await ask('mrtr-1', {});
    assert.equal(first.message?.result?.resultType, 'input_required', first.body);
    assert.ok(first.message.result.inputRequests['leak-1'].params.message.includes(marker('token')), first.body);
    const answer = (n) => ({ [`leak-${n}`]: { action: 'accept', content: { answer: `answer ${n}` } } });
    const second = await ask('mrtr-2', { inputResponses: answer(1), requestState: first.message.result.requestState });
    assert.equal(second.message?.result?.resultType, 'input_required', second.body);
    const state = second.message.result.requestState;
    for (const text of stateTexts(state)) {
      assertNoLeak(text, 'the sealed requestState');
      assert.ok(!text.includes('answer 1'), 'the earlier answer is not readable in the requestState');
    }
    capture('http/mrtr: requestState decoded', stateTexts(state).join('\n'));
    // Tampered (one bit of the sealed bytes): refused.
    const bytes = Buffer.from(state, 'base64url');
    bytes[bytes.length - 1] ^= 1;
    const tampered = await ask('mrtr-tampered', { inputResponses: answer(2), requestState: bytes.toString('base64url') });
    assert.equal(tampered.status, 400, tampered.body);
    assert.equal(tampered.message?.error?.code, -32602, tampered.body);
    const done = await ask('mrtr-3', { inputResponses: answer(2), requestState: state });
    assert.equal(done.message?.result?.resultType, 'complete', done.body);
    assert.match(done.message.result.content[0].text, /answer 1[\s\S]*answer 2/);
  } finally {
    const stopped = await server.stop();
    capture('http: serve stderr', server.stderr());
    assert.equal(stopped.code, 0, server.stderr());
  }
  assertNoLeak(server.stderr(), 'serve --http stderr');
});

// ------------------------------------------------------------------------ acceptance 5

test('sweep: no canary in any captured stdout, stderr, client message, audit log or sandbox file', async () => {
  assert.ok(canaries.length >= 10, `canaries of this run: ${canaries.length}`);
  // Every vault's audit log, as JSON, once more at the end.
  for (const sandbox of sandboxes) await audit(sandbox);
  const hits = [];
  let searched = 0;
  for (const c of captures) {
    searched += c.text.length;
    for (const hit of findLeaks(c.text)) hits.push(`${c.label}: ${hit.form} of ${hit.canary}`);
  }
  for (const sandbox of sandboxes) {
    for (const { file, text } of filesUnder(sandbox.dir)) {
      searched += text.length;
      for (const hit of findLeaks(text)) hits.push(`${file}: ${hit.form} of ${hit.canary}`);
    }
  }
  assert.ok(searched > 10_000, `searched only ${searched} bytes`);
  assert.deepEqual(hits, [], 'canaries found');
  for (const sandbox of sandboxes) sandbox.cleanup();
});
