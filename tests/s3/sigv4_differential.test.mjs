// Differential test: the plugin's SigV4 signer (through the s3_sigv4_cli test binary)
// against the official AWS signer @smithy/signature-v4 on 1,200 randomized S3 requests:
// keys and paths with spaces, unicode and reserved characters, query parameters (repeated
// names, empty values), header values with runs of whitespace, session tokens, payload
// hashes and UNSIGNED-PAYLOAD, dates and regions. Every Authorization header must match.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

import { BUILD_DIR, waitForFile } from '../e2e/helpers.mjs';
import { encodeKeyPath, requireE2E, Sha256 } from './s3_harness.mjs';

const { SignatureV4 } = requireE2E('@smithy/signature-v4');
const CLI = process.env.KEYHOLD_S3_SIGV4_CLI ?? path.join(BUILD_DIR, 'bin', 's3_sigv4_cli');
const COUNT = 1200;

// A small seeded PRNG (mulberry32), so a failure can be replayed with the same seed.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.KEYHOLD_S3_DIFF_SEED ?? Date.now() % 1_000_000);

function generator(random) {
  const int = (n) => Math.floor(random() * n);
  const pick = (list) => list[int(list.length)];
  const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const PIECES = [
    ...ALNUM.split(''), ' ', ' ', '-', '_', '.', '~', '!', '#', '$', '&', "'", '(', ')', '*', '+', ',', ';', '=',
    ':', '@', '?', '[', ']', '%', '%20', '^', '`', '{', '}', '|', '"', '<', '>', '\\',
    'é', 'ü', 'ß', 'Ω', 'ሴ', '日本', '語', '😀', '\u00a0', 'ç',
  ];
  const text = (min, max) => {
    let s = '';
    const n = min + int(max - min + 1);
    for (let i = 0; i < n; i++) s += pick(PIECES);
    return s;
  };
  const hex64 = () => Array.from({ length: 64 }, () => '0123456789abcdef'[int(16)]).join('');
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return () => {
    const bucket = pick(['docs', 'my-bucket', 'a.b.c', 'bucket-0123']);
    const segments = Array.from({ length: 1 + int(4) }, () => text(1, 12));
    if (random() < 0.1) segments.push(''); // trailing slash
    const key = random() < 0.08 ? undefined : segments.join('/');
    const query = [];
    const names = ['list-type', 'prefix', 'continuation-token', 'max-keys', 'delimiter', 'uploads', 'partNumber', 'x-id'];
    for (let i = int(5); i > 0; i--) {
      const name = random() < 0.5 ? pick(names) : text(1, 8);
      query.push([name, random() < 0.15 ? '' : text(0, 16)]);
    }
    if (query.length > 0 && random() < 0.2) query.push([query[0][0], text(0, 6)]); // repeated name
    const headers = [['host', random() < 0.5 ? `${bucket}.s3.amazonaws.com` : `127.0.0.1:${1024 + int(60000)}`]];
    const payloadHash = random() < 0.2 ? 'UNSIGNED-PAYLOAD' : hex64();
    headers.push(['x-amz-content-sha256', payloadHash]);
    if (random() < 0.3) headers.push(['range', `bytes=${int(1000)}-${1000 + int(1000)}`]);
    if (random() < 0.3) headers.push(['content-type', pick(['text/plain; charset=utf-8', 'application/json', 'application/pdf'])]);
    for (let i = int(3); i > 0; i--) {
      const value = pick(['', ' ', '  ', '\t']) + ALNUM.slice(int(20), 20 + int(30)).split('').join(pick(['', ' ', '   ', ' \t '])) + pick(['', ' ', '\t ']);
      headers.push([`x-amz-meta-${ALNUM.slice(0, 3 + int(10)).toLowerCase()}${i}`, value]);
    }
    const sessionToken = random() < 0.2 ? `FwoGZXIvYXdzE${text(10, 30).replace(/[^A-Za-z0-9]/g, 'Q')}` : undefined;
    const date = new Date(Date.UTC(2000 + int(36), int(12), 1 + int(28), int(24), int(60), int(60)));
    const amzDate = `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}T${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
    const region = pick(['us-east-1', 'eu-west-1', 'ap-southeast-2', 'us-gov-west-1', 'auto']);
    const secret = text(30, 40).replace(/[^\x21-\x7e]/g, '/');
    return { method: pick(['GET', 'HEAD', 'PUT', 'DELETE', 'POST']), bucket, key, query, headers, payloadHash, sessionToken, date, amzDate, region, secret, accessKeyId: `AKID${int(1e9)}` };
  };
}

// The official signer's Authorization header for one generated request.
async function smithyAuthorization(r) {
  const signer = new SignatureV4({
    credentials: { accessKeyId: r.accessKeyId, secretAccessKey: r.secret, sessionToken: r.sessionToken },
    region: r.region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const query = {};
  for (const [k, v] of r.query) query[k] = k in query ? [].concat(query[k], v) : v;
  const signed = await signer.sign(
    {
      method: r.method,
      protocol: 'https:',
      hostname: r.headers[0][1],
      path: encodeKeyPath(r.bucket, r.key),
      query,
      headers: Object.fromEntries(r.headers),
    },
    { signingDate: r.date },
  );
  return signed.headers.authorization;
}

// Runs the CLI on every request at once; resolves with one parsed answer per request.
async function pluginSignatures(requests) {
  await waitForFile(CLI);
  const child = spawn(CLI, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const done = new Promise((resolve) => child.on('close', resolve));
  for (const r of requests) {
    const headers = [...r.headers, ['x-amz-date', r.amzDate]];
    if (r.sessionToken) headers.push(['x-amz-security-token', r.sessionToken]);
    child.stdin.write(
      JSON.stringify({
        method: r.method,
        path: '/' + r.bucket + (r.key === undefined ? '' : '/' + r.key),
        query: r.query,
        headers,
        payload_hash: r.payloadHash,
        amz_date: r.amzDate,
        region: r.region,
        service: 's3',
        access_key_id: r.accessKeyId,
        secret: r.secret,
      }) + '\n',
    );
  }
  child.stdin.end();
  const code = await done;
  assert.equal(code, 0, `s3_sigv4_cli failed: ${err}`);
  return out.trim().split('\n').map((line) => JSON.parse(line));
}

test(`the plugin's signer matches @smithy/signature-v4 on ${COUNT} randomized requests (seed ${SEED})`, async () => {
  const next = generator(prng(SEED));
  const requests = Array.from({ length: COUNT }, next);
  const ours = await pluginSignatures(requests);
  assert.equal(ours.length, COUNT);
  const mismatches = [];
  for (let i = 0; i < COUNT; i++) {
    const theirs = await smithyAuthorization(requests[i]);
    if (theirs !== ours[i].authorization)
      mismatches.push({ i, request: requests[i], theirs, ours: ours[i].authorization, canonical: ours[i].canonical_request });
  }
  assert.equal(
    mismatches.length,
    0,
    `${mismatches.length} of ${COUNT} signatures differ (replay with KEYHOLD_S3_DIFF_SEED=${SEED}); first:\n` +
      JSON.stringify(mismatches[0], null, 2),
  );
  // The generator really produced the hard cases.
  const keys = requests.map((r) => r.key ?? '');
  assert.ok(keys.some((k) => k.includes(' ')), 'a key with a space');
  assert.ok(keys.some((k) => /[^\x00-\x7f]/.test(k)), 'a key with unicode');
  assert.ok(keys.some((k) => /[!*'()+&=%]/.test(k)), 'a key with reserved characters');
  assert.ok(requests.some((r) => r.query.length > 2), 'several query parameters');
  assert.ok(requests.some((r) => r.payloadHash === 'UNSIGNED-PAYLOAD'), 'an unsigned payload');
  assert.ok(requests.some((r) => r.sessionToken), 'a session token');
});

test('the comparison can fail: a one-character change in the path changes the signature', async () => {
  const r = generator(prng(SEED + 1))();
  r.key = 'a/b c.txt';
  const [ours] = await pluginSignatures([{ ...r, key: 'a/b d.txt' }]);
  assert.notEqual(await smithyAuthorization(r), ours.authorization);
  const [same] = await pluginSignatures([r]);
  assert.equal(await smithyAuthorization(r), same.authorization);
});
