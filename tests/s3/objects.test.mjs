// The s3 connector end to end: `keyhold serve` with the s3 plugin, the official SDK
// client, s3rver behind the verifying proxy (every signature recomputed with
// @smithy/signature-v4 and the real secret). Each instance is granted only `sign` on the
// secret access key (issue 7, acceptance 5). Covers acceptance 2 and 3: correct requests
// pass, a wrong secret gets a clear 403, a revoked grant is refused by the host;
// pagination over 2,500 keys, ranges, head, the size cap, a missing key, buckets and
// prefixes outside the allowlists (refused before any request reaches the proxy),
// retries on 503 SlowDown and connection resets, resources, put_object, and a canary
// sweep over everything the run printed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { startVerifyingProxy } from './s3_harness.mjs';
import { REGION, S3Env, s3InstanceToml, textOf } from './s3_env.mjs';

const MANY = 2500;
const CAP = 1024 * 1024;
const UNICODE_KEY = 'keys/with space & ünïcode ሴ (1)+=.txt';
const BINARY = randomBytes(3000);
const BIG = Buffer.alloc(2 * CAP, 7);
const SESSION_TOKEN = `kh-s3-token-${randomBytes(16).toString('base64')}`;

describe('s3 connector: objects through keyhold serve, signatures verified by a proxy', () => {
  const env = new S3Env({ buckets: ['docs', 'archive', 'other'], label: 'keyhold-s3-objects-' });
  const manyKeys = [];
  let stsProxy; // a second verifying proxy that also requires the session token

  before(async () => {
    await env.start();
    const direct = env.directClient();
    await env.put(direct, 'docs', 'notes/hello.txt', 'Hello, wörld! 0123456789', 'text/plain; charset=utf-8', { owner: 'ada' });
    await env.put(direct, 'docs', 'data/report.json', JSON.stringify({ total: 42, name: 'Grüße' }), 'application/json');
    await env.put(direct, 'docs', UNICODE_KEY, 'unicode key body', 'text/plain');
    await env.put(direct, 'docs', 'bin/blob.bin', BINARY, 'application/octet-stream');
    await env.put(direct, 'docs', 'big/large.bin', BIG, 'application/octet-stream');
    for (const k of ['nested/a/one.txt', 'nested/a/two.txt', 'nested/b/three.txt', 'nested/top.txt'])
      await env.put(direct, 'docs', k, k, 'text/plain');
    await env.put(direct, 'other', 'secret.txt', 'not for this instance', 'text/plain');
    for (let i = 0; i < MANY; i++) manyKeys.push(`many/item-${String(i).padStart(5, '0')}.txt`);
    for (let i = 0; i < MANY; i += 50)
      await Promise.all(manyKeys.slice(i, i + 50).map((k) => env.put(direct, 'docs', k, k, 'text/plain')));

    stsProxy = await startVerifyingProxy(env.s3, {
      accessKeyId: env.creds.accessKeyId,
      secretAccessKey: env.creds.secretAccessKey,
      sessionToken: SESSION_TOKEN,
      region: REGION,
    });
    await env.kh(['vault', 'set', 's3/session-token'], SESSION_TOKEN);
    await env.kh(['vault', 'grant', 'sts', 's3/session-token', '--ops', 'reveal']);
    for (const name of ['docs', 'rev', 'rw', 'scoped', 'slow', 'down', 'cancel', 'sts', 'nosts']) await env.grant(name);
    await env.grant('bad', 's3/wrong-secret');
    await env.serve(
      s3InstanceToml('docs', env.options({ buckets: ['docs', 'archive'], max_object_bytes: CAP }), env.secrets()) +
        s3InstanceToml('bad', env.options({ buckets: ['docs'], resources: false }), env.secrets('s3/wrong-secret')) +
        s3InstanceToml('rev', env.options({ buckets: ['docs'], resources: false }), env.secrets()) +
        s3InstanceToml('rw', env.options({ buckets: ['archive'], read_only: false, resources: false }), env.secrets()) +
        s3InstanceToml('scoped', env.options({ buckets: ['docs'], prefixes: ['notes/'], resources: false }), env.secrets()) +
        s3InstanceToml('slow', env.options({ buckets: ['docs'], resources: false, timeout_ms: 1500, max_retries: 1 }), env.secrets()) +
        s3InstanceToml('down', env.options({ endpoint: 'http://127.0.0.1:1', buckets: ['docs'], resources: false, retry_base_ms: 1, connect_timeout_ms: 1000 }), env.secrets()) +
        s3InstanceToml('cancel', env.options({ buckets: ['docs'], resources: false, timeout_ms: 60000, max_retries: 0 }), env.secrets()) +
        s3InstanceToml('sts', env.options({ endpoint: stsProxy.endpoint, buckets: ['docs'], resources: false }), {
          ...env.secrets(),
          session_token: 'vault:s3/session-token',
        }) +
        s3InstanceToml('nosts', env.options({ endpoint: stsProxy.endpoint, buckets: ['docs'], resources: false }), env.secrets()),
    );
  });

  after(async () => {
    await stsProxy?.close();
    await env.stop();
    assert.equal(env.sanitizerReport, null, 'keyhold serve reported a sanitizer finding');
  });

  test('tools: read-only instances have no put_object; read_only = false adds it', async () => {
    const { tools } = await env.client.listTools();
    const names = tools.map((t) => t.name);
    for (const t of ['list_buckets', 'list_objects', 'head_object', 'get_object', 'get_pdf_text'])
      assert.ok(names.includes(`docs_${t}`), `docs_${t} listed`);
    assert.ok(!names.includes('docs_put_object'));
    assert.ok(names.includes('rw_put_object'));
    const getObject = tools.find((t) => t.name === 'docs_get_object');
    assert.ok(getObject.outputSchema, 'get_object has an outputSchema');
  });

  test('list_buckets shows only allowlisted buckets', async () => {
    const { buckets } = await env.ok('docs_list_buckets');
    assert.deepEqual(buckets.map((b) => b.name).sort(), ['archive', 'docs']);
  });

  test(`list_objects pages through ${MANY} keys with continuation tokens`, async () => {
    const seen = [];
    let token;
    let pages = 0;
    do {
      const page = await env.ok('docs_list_objects', { bucket: 'docs', prefix: 'many/', max_keys: 1000, ...(token ? { continuation_token: token } : {}) });
      seen.push(...page.objects.map((o) => o.key));
      token = page.next_continuation_token;
      assert.equal(page.is_truncated, token !== null);
      pages += 1;
      assert.ok(pages <= 4, 'pagination terminates');
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(seen, manyKeys);
  });

  test('list_objects with a delimiter groups common prefixes', async () => {
    const r = await env.ok('docs_list_objects', { bucket: 'docs', prefix: 'nested/', delimiter: '/' });
    assert.deepEqual(r.common_prefixes.sort(), ['nested/a/', 'nested/b/']);
    assert.deepEqual(r.objects.map((o) => o.key), ['nested/top.txt']);
  });

  test('head_object: size, content type, user metadata', async () => {
    const h = await env.ok('docs_head_object', { bucket: 'docs', key: 'notes/hello.txt' });
    assert.equal(h.size, Buffer.byteLength('Hello, wörld! 0123456789'));
    assert.match(h.content_type, /^text\/plain/);
    assert.equal(h.metadata.owner, 'ada');
  });

  test('get_object returns text for text/* and JSON, also under a unicode key with reserved characters', async () => {
    const t = await env.call('docs_get_object', { bucket: 'docs', key: 'notes/hello.txt' });
    assert.equal(textOf(t), 'Hello, wörld! 0123456789');
    assert.equal(t.structuredContent.encoding, 'text');
    const j = await env.call('docs_get_object', { bucket: 'docs', key: 'data/report.json' });
    assert.deepEqual(JSON.parse(textOf(j)), { total: 42, name: 'Grüße' });
    assert.equal(j.structuredContent.content_type, 'application/json');
    const u = await env.call('docs_get_object', { bucket: 'docs', key: UNICODE_KEY });
    assert.equal(textOf(u), 'unicode key body');
  });

  test('concurrent calls each get their own signed request and the right object', async () => {
    const keys = manyKeys.slice(100, 140);
    const results = await Promise.all(keys.map((key) => env.call('docs_get_object', { bucket: 'docs', key })));
    results.forEach((r, i) => assert.equal(textOf(r), keys[i]));
  });

  test('get_object with a byte range returns exactly those bytes', async () => {
    const r = await env.call('docs_get_object', { bucket: 'docs', key: 'notes/hello.txt', range_start: 7, range_end: 12 });
    assert.equal(textOf(r), Buffer.from('Hello, wörld! 0123456789').subarray(7, 13).toString());
    assert.equal(r.structuredContent.range, 'bytes=7-12');
    assert.equal(r.structuredContent.bytes, 6);
  });

  test('binary objects come back as base64 within the cap', async () => {
    const r = await env.call('docs_get_object', { bucket: 'docs', key: 'bin/blob.bin' });
    assert.ok(!r.isError, textOf(r));
    assert.equal(r.structuredContent.encoding, 'base64');
    assert.equal(r.content[0].type, 'resource');
    assert.deepEqual(Buffer.from(r.content[0].resource.blob, 'base64'), BINARY);
    assert.equal(r.structuredContent.bytes, BINARY.length);
  });

  test('an object above max_object_bytes is refused after a HEAD, before any GET', async () => {
    const before = env.proxy.stats.log.length;
    await env.refused('docs_get_object', { bucket: 'docs', key: 'big/large.bin' }, /2097152 bytes, above this instance's max_object_bytes of 1048576; nothing was downloaded/);
    const sent = env.proxy.stats.log.slice(before).map((e) => e.method);
    assert.deepEqual(sent, ['HEAD']);
    // A range within the cap is fine.
    const r = await env.call('docs_get_object', { bucket: 'docs', key: 'big/large.bin', range_start: 0, range_end: 99 });
    assert.deepEqual(Buffer.from(r.content[0].resource.blob, 'base64'), BIG.subarray(0, 100));
  });

  test('a missing key is a clear isError', async () => {
    await env.refused('docs_get_object', { bucket: 'docs', key: 'nope/missing.txt' }, /no such object: s3:\/\/docs\/nope\/missing\.txt \(404 Not Found\)/);
    await env.refused('docs_head_object', { bucket: 'docs', key: 'nope/missing.txt' }, /no such object/);
  });

  test('a bucket or prefix outside the allowlist is refused without any request reaching the proxy', async () => {
    const before = env.proxy.stats.requests;
    await env.refused('docs_list_objects', { bucket: 'other' }, /bucket "other" is not on this instance's allowlist \(allowed: docs, archive\)/);
    await env.refused('docs_get_object', { bucket: 'other', key: 'secret.txt' }, /not on this instance's allowlist/);
    await env.refused('docs_head_object', { bucket: 'other', key: 'secret.txt' }, /not on this instance's allowlist/);
    await env.refused('docs_get_pdf_text', { bucket: 'other', key: 'secret.txt' }, /not on this instance's allowlist/);
    await env.refused('scoped_get_object', { bucket: 'docs', key: 'data/report.json' }, /outside the allowed prefixes/);
    await env.refused('scoped_list_objects', { bucket: 'docs' }, /outside the allowed prefixes/);
    assert.equal(env.proxy.stats.requests, before, 'no request reached the proxy');
    assert.equal(textOf(await env.call('scoped_get_object', { bucket: 'docs', key: 'notes/hello.txt' })), 'Hello, wörld! 0123456789');
  });

  test('with a wrong secret in the vault the proxy answers 403 and the call fails clearly', async () => {
    const rejected = env.proxy.stats.rejected;
    const text = await env.refused('bad_list_objects', { bucket: 'docs' }, /S3 answered 403 SignatureDoesNotMatch/);
    assert.match(text, /secret_access_key/);
    assert.equal(env.proxy.stats.rejected, rejected + 1, 'the proxy rejected exactly that request (403 is not retried)');
    await env.refused('bad_head_object', { bucket: 'docs', key: 'notes/hello.txt' }, /403/);
  });

  test('503 SlowDown and a connection reset are retried with backoff', async () => {
    const injected = env.proxy.stats.injected;
    env.proxy.inject('slowdown', 'reset');
    const r = await env.call('docs_get_object', { bucket: 'docs', key: 'notes/hello.txt' });
    assert.equal(textOf(r), 'Hello, wörld! 0123456789');
    assert.equal(env.proxy.stats.injected, injected + 2);
    // More failures than retries (3): a clear error, not a hang.
    env.proxy.inject('slowdown', 'slowdown', 'slowdown', 'slowdown');
    await env.refused('docs_head_object', { bucket: 'docs', key: 'notes/hello.txt' }, /503/);
  });

  test('a server that never answers hits the total timeout on every attempt, then a clear error', async () => {
    const injected = env.proxy.stats.injected;
    env.proxy.inject('hang', 'hang');
    await env.refused('slow_head_object', { bucket: 'docs', key: 'notes/hello.txt' }, /after 2 attempt\(s\): Timeout was reached/);
    assert.equal(env.proxy.stats.injected, injected + 2, 'the first attempt and one retry');
    assert.equal(textOf(await env.call('slow_get_object', { bucket: 'docs', key: 'notes/hello.txt' })), 'Hello, wörld! 0123456789');
  });

  test('an unreachable endpoint is retried, then reported with the address', async () => {
    await env.refused('down_list_objects', { bucket: 'docs' }, /cannot reach http:\/\/127\.0\.0\.1:1 after 4 attempt\(s\): Couldn't connect to server/);
  });

  test('cancelling a call aborts its transfer in the plugin', async () => {
    env.proxy.inject('hang');
    const before = env.proxy.stats.log.length;
    const controller = new AbortController();
    const pending = env.client.callTool({ name: 'cancel_head_object', arguments: { bucket: 'docs', key: 'notes/hello.txt' } }, undefined, { signal: controller.signal });
    while (env.proxy.stats.log.length === before) await new Promise((r) => setTimeout(r, 20));
    controller.abort('test cancels');
    await assert.rejects(pending);
    const entry = env.proxy.stats.log[before];
    for (let i = 0; i < 100 && !entry.closedByClient; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(entry.closedByClient, 'the plugin closed the hanging request after the cancel');
    assert.equal(textOf(await env.call('cancel_get_object', { bucket: 'docs', key: 'notes/hello.txt' })), 'Hello, wörld! 0123456789');
  });

  test('a session token from the vault is sent and signed; without it the server refuses', async () => {
    const r = await env.ok('sts_list_objects', { bucket: 'docs', prefix: 'notes/' });
    assert.deepEqual(r.objects.map((o) => o.key), ['notes/hello.txt']);
    await env.refused('nosts_list_objects', { bucket: 'docs', prefix: 'notes/' }, /403 InvalidToken/);
    assert.equal(stsProxy.stats.forwarded, 1);
    assert.equal(stsProxy.stats.rejected, 1);
  });

  test('objects are resources at s3://<bucket>/<key> through the s3://<bucket>/{+key} templates', async () => {
    const { resourceTemplates } = await env.client.listResourceTemplates();
    assert.deepEqual(resourceTemplates.map((t) => t.uriTemplate).sort(), ['s3://archive/{+key}', 's3://docs/{+key}']);
    const r = await env.client.readResource({ uri: 's3://docs/notes/hello.txt' });
    env.outputs.push(JSON.stringify(r));
    assert.equal(r.contents[0].text, 'Hello, wörld! 0123456789');
    // '/' percent-encoded names the same object.
    const encoded = await env.client.readResource({ uri: 's3://docs/notes%2Fhello.txt' });
    assert.equal(encoded.contents[0].text, 'Hello, wörld! 0123456789');
    await assert.rejects(env.client.readResource({ uri: 's3://docs/nope/missing.txt' }), /no such object/);
  });

  test('put_object writes (read_only = false) and the object reads back', async () => {
    const w = await env.ok('rw_put_object', { bucket: 'archive', key: 'written/ü note.txt', text: 'written by keyhold' });
    assert.equal(w.bytes, 'written by keyhold'.length);
    assert.equal(textOf(await env.call('docs_get_object', { bucket: 'archive', key: 'written/ü note.txt' })), 'written by keyhold');
  });

  test('after revoking the sign grant mid-session the next call is refused by the host', async () => {
    await env.ok('rev_list_objects', { bucket: 'docs', prefix: 'notes/' });
    await env.kh(['vault', 'revoke', 'rev', 's3/secret']);
    const before = env.proxy.stats.requests;
    await env.refused('rev_list_objects', { bucket: 'docs', prefix: 'notes/' }, /the host refused the secret access key of instance rev \(not granted, or the grant was revoked\)/);
    assert.equal(env.proxy.stats.requests, before, 'nothing was sent after the revoke');
  });

  test('only sign was ever granted or used on the secret access key', async () => {
    const grants = JSON.parse((await env.kh(['vault', 'grants', '--json'])).stdout);
    const onSecret = grants.filter((g) => /s3\/(wrong-)?secret$/.test(g.secret));
    assert.equal(onSecret.length, 9, 'every instance but rev still holds its grant');
    for (const g of onSecret) assert.equal(g.ops, 'sign', JSON.stringify(g));
    // The host writes audit rows from a background queue: wait for the refusal's row.
    let audit = [];
    const refusedAfterRevoke = (e) => e.instance === 'rev' && /s3\/secret/.test(e.secret ?? '') && e.outcome === 'denied';
    for (let i = 0; i < 50 && !audit.some(refusedAfterRevoke); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      audit = JSON.parse((await env.kh(['vault', 'audit', '--json'])).stdout);
    }
    assert.ok(audit.some(refusedAfterRevoke), 'the host audited its refusal after the revoke');
    const uses = audit.filter((e) => /s3\/(wrong-)?secret/.test(e.secret ?? '') && e.action.startsWith('handle.'));
    assert.ok(uses.some((e) => e.action === 'handle.sign' && e.outcome === 'ok'), 'signatures were audited');
    assert.ok(!uses.some((e) => e.action === 'handle.reveal'), 'the secret access key was never revealed');
  });

  test('the canary secrets never appear in results, errors, logs, stderr or audit rows', async () => {
    const audit = await env.kh(['vault', 'audit', '--json']);
    const everything = [...env.outputs, env.conn.stderr(), audit.stdout, JSON.stringify(env.proxy.stats.log), JSON.stringify(stsProxy.stats.log)].join('\n');
    assert.ok(everything.length > 100_000, 'the sweep covers the run');
    env.assertNoLeak(everything, 'outputs, stderr and audit', { sessionToken: SESSION_TOKEN });
  });
});
