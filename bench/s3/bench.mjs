// s3 throughput: keyhold's s3 plugin (through `keyhold serve` and the official MCP SDK
// client over stdio) vs the official AWS SDK for JavaScript v3 (@aws-sdk/client-s3),
// both against the same s3rver on loopback, in one run. A report, not a test. See
// bench/s3/README.md.
//
// Prints: keys/s listing 10,000 keys (ListObjectsV2, 1,000 per page), MiB/s fetching 100
// objects of 1 MiB (binary: base64 in the MCP result), each with the ratio keyhold/SDK
// (median of ROUNDS alternating rounds); and PDF text pages/s on a 200-page PDF.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { run } from '../../tests/e2e/helpers.mjs';
import { requireE2E } from '../../tests/s3/s3_harness.mjs';
import { S3Env, s3InstanceToml } from '../../tests/s3/s3_env.mjs';

const { values: opt } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000' },
    objects: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    pdfruns: { type: 'string', default: '5' },
  },
});
const KEYS = Number(opt.keys);
const OBJECTS = Number(opt.objects);
const ROUNDS = Number(opt.rounds);
const PDF_RUNS = Number(opt.pdfruns);
const MIB = 1024 * 1024;
const { ListObjectsV2Command, GetObjectCommand } = requireE2E('@aws-sdk/client-s3');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => performance.now();
const fmt = (x, d = 1) => x.toFixed(d);

const env = new S3Env({ buckets: ['bench'], label: 'keyhold-s3-bench-' });
await env.start();
try {
  const direct = env.directClient();
  process.stderr.write(`seeding ${KEYS} keys and ${OBJECTS} objects of 1 MiB into s3rver...\n`);
  const keys = Array.from({ length: KEYS }, (_, i) => `list/key-${String(i).padStart(6, '0')}.txt`);
  for (let i = 0; i < KEYS; i += 100) await Promise.all(keys.slice(i, i + 100).map((k) => env.put(direct, 'bench', k, 'x', 'text/plain')));
  const blobs = Array.from({ length: OBJECTS }, (_, i) => `blobs/blob-${String(i).padStart(3, '0')}.bin`);
  for (let i = 0; i < OBJECTS; i += 10)
    await Promise.all(blobs.slice(i, i + 10).map((k) => env.put(direct, 'bench', k, randomBytes(MIB), 'application/octet-stream')));
  let pdfText = '';
  for (let i = 1; i <= 200; i++) pdfText += `Page ${i}: ${'Grüße aus Köln, café à la crème. '.repeat(40)}\n\f`;
  writeFileSync(path.join(env.sandbox.dir, 'p.txt'), Buffer.from(pdfText, 'latin1'));
  assert.equal((await run('enscript', ['-q', '-B', '-X', 'latin1', '-o', path.join(env.sandbox.dir, 'p.ps'), path.join(env.sandbox.dir, 'p.txt')])).code, 0);
  assert.equal((await run('ps2pdf', [path.join(env.sandbox.dir, 'p.ps'), path.join(env.sandbox.dir, 'p.pdf')])).code, 0);
  const pdf = readFileSync(path.join(env.sandbox.dir, 'p.pdf'));
  await env.put(direct, 'bench', 'pdf/200.pdf', pdf, 'application/pdf');

  await env.grant('s3');
  // Straight to s3rver (no verifying proxy), as the SDK goes; info logging.
  await env.serve(
    s3InstanceToml('s3', env.options({ endpoint: env.s3.endpoint, buckets: ['bench'], max_object_bytes: 2 * MIB, max_pages_per_call: 200 }), env.secrets()),
    { logLevel: 'info' },
  );
  const sdk = direct;

  const listKeyhold = async () => {
    let token;
    let n = 0;
    do {
      const r = await env.client.callTool({ name: 's3_list_objects', arguments: { bucket: 'bench', prefix: 'list/', max_keys: 1000, ...(token ? { continuation_token: token } : {}) } });
      if (r.isError) assert.fail(JSON.stringify(r).slice(0, 300));
      n += r.structuredContent.objects.length;
      token = r.structuredContent.next_continuation_token;
    } while (token);
    assert.equal(n, KEYS);
  };
  const listSdk = async () => {
    let token;
    let n = 0;
    do {
      const r = await sdk.send(new ListObjectsV2Command({ Bucket: 'bench', Prefix: 'list/', MaxKeys: 1000, ContinuationToken: token }));
      n += r.Contents.length;
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    assert.equal(n, KEYS);
  };
  const fetchKeyhold = async () => {
    for (const k of blobs) {
      const r = await env.client.callTool({ name: 's3_get_object', arguments: { bucket: 'bench', key: k } });
      if (r.isError) assert.fail(JSON.stringify(r).slice(0, 300));
      assert.equal(r.structuredContent.bytes, MIB);
    }
  };
  const fetchSdk = async () => {
    for (const k of blobs) {
      const r = await sdk.send(new GetObjectCommand({ Bucket: 'bench', Key: k }));
      const bytes = await r.Body.transformToByteArray();
      assert.equal(bytes.length, MIB);
    }
  };

  const time = async (fn) => {
    const t0 = now();
    await fn();
    return (now() - t0) / 1000;
  };
  // Warm up both (connections, s3rver caches).
  await listKeyhold();
  await listSdk();
  await fetchKeyhold();
  await fetchSdk();
  const t = { listK: [], listS: [], fetchK: [], fetchS: [] };
  for (let r = 0; r < ROUNDS; r++) {
    t.listK.push(await time(listKeyhold));
    t.listS.push(await time(listSdk));
    t.fetchK.push(await time(fetchKeyhold));
    t.fetchS.push(await time(fetchSdk));
  }
  const pdfTimes = [];
  for (let r = 0; r < PDF_RUNS; r++)
    pdfTimes.push(
      await time(async () => {
        const x = await env.client.callTool({ name: 's3_get_pdf_text', arguments: { bucket: 'bench', key: 'pdf/200.pdf' } });
        if (x.isError) assert.fail(JSON.stringify(x).slice(0, 300));
        assert.equal(x.structuredContent.pages.length, 200);
      }),
    );

  const listK = KEYS / median(t.listK);
  const listS = KEYS / median(t.listS);
  const fetchK = OBJECTS / median(t.fetchK);
  const fetchS = OBJECTS / median(t.fetchS);
  const pdfPages = 200 / median(pdfTimes);

  // The client's own share: what the official SDK client spends on one 1 MiB get_object
  // result once its bytes are in (the pipe delivers 64 KiB reads; ReadBuffer, JSON.parse and
  // the message schema, then CallToolResultSchema with its base64 check). No MCP server can
  // be seen faster than the SDK's whole fetch plus this, hence the ceiling printed below.
  const { ReadBuffer } = requireE2E('@modelcontextprotocol/sdk/shared/stdio.js');
  const { CallToolResultSchema } = requireE2E('@modelcontextprotocol/sdk/types.js');
  const line = Buffer.from(
    `${JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      result: {
        content: [{ type: 'resource', resource: { uri: 's3://bench/blobs/blob-000.bin', mimeType: 'application/octet-stream', blob: randomBytes(MIB).toString('base64') } }],
        structuredContent: { bucket: 'bench', key: 'blobs/blob-000.bin', size: MIB, content_type: 'application/octet-stream', range: null, bytes: MIB, encoding: 'base64' },
      },
    })}\n`,
  );
  const clientTimes = [];
  for (let i = 0; i < 40; i++) {
    const t0 = now();
    const buffer = new ReadBuffer();
    for (let o = 0; o < line.length; o += 65536) buffer.append(line.subarray(o, o + 65536));
    CallToolResultSchema.parse(buffer.readMessage().result);
    clientTimes.push(now() - t0);
  }
  const clientMs = median(clientTimes.slice(10));
  const sdkMsPerObject = (median(t.fetchS) * 1000) / OBJECTS;
  console.log(`s3 bench: s3rver on loopback, median of ${ROUNDS} rounds (sequential requests)`);
  console.log(`list ${KEYS} keys     keyhold ${fmt(listK, 0)} keys/s (${fmt(median(t.listK), 2)} s)   aws-sdk ${fmt(listS, 0)} keys/s (${fmt(median(t.listS), 2)} s)   ratio keyhold/sdk ${fmt(listK / listS, 2)}`);
  console.log(`fetch ${OBJECTS} x 1 MiB   keyhold ${fmt(fetchK)} MiB/s (${fmt(median(t.fetchK), 2)} s)   aws-sdk ${fmt(fetchS)} MiB/s (${fmt(median(t.fetchS), 2)} s)   ratio keyhold/sdk ${fmt(fetchK / fetchS, 2)}`);
  console.log(`client share: the MCP SDK client spends ${fmt(clientMs, 2)} ms decoding one 1 MiB result; with the SDK's ${fmt(sdkMsPerObject, 2)} ms per object, no MCP server can exceed ratio ${fmt(sdkMsPerObject / (sdkMsPerObject + clientMs), 2)} through this client`);
  console.log(`pdf text 200 pages  ${fmt(pdfPages, 0)} pages/s (${fmt(median(pdfTimes) * 1000, 0)} ms per 200-page call, ${fmt(pdf.length / 1024, 0)} KiB PDF, median of ${PDF_RUNS})`);
} finally {
  await env.stop();
}
