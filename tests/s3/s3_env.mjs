// One end-to-end environment for the s3 tests and the benchmark: s3rver and the verifying
// proxy (s3_harness.mjs), a keyfile vault with canary credentials, instances granted
// only `sign` on the secret access key, and `keyhold serve` behind the official SDK client.
// Every output the test sees is kept for the final canary sweep.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

import { connectSdk, keyholdBin, makeSandbox, pluginPath, run, tomlString, waitForFile } from '../e2e/helpers.mjs';
import { forms } from '../secrets/lib.mjs';
import { requireE2E, startS3rver, startVerifyingProxy } from './s3_harness.mjs';

export const REGION = 'us-east-1';

// Canary credentials of one run: '/', '+' and '=' make every encoded form differ.
export function canaryCredentials() {
  return {
    accessKeyId: `AKID${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: `kh-s3-canary-${randomBytes(12).toString('hex')}/${randomBytes(4).toString('hex')}+=`,
    wrongSecret: `kh-s3-wrong-${randomBytes(12).toString('hex')}/${randomBytes(4).toString('hex')}+=`,
  };
}

const tomlValue = (v) =>
  Array.isArray(v) ? `[${v.map(tomlValue).join(', ')}]` : typeof v === 'string' ? tomlString(v) : String(v);

// One [instances.NAME] table of the s3 plugin; secrets: { alias: "vault:NAME" }.
// The instance runs in its own sandboxed keyhold-runner (the default isolation) that may
// open TCP connections to its endpoint's port and nothing else: no files to write, no
// DNS (the endpoints are loopback addresses). `sandbox` replaces that table's keys.
export function s3InstanceToml(name, options, secrets, sandbox) {
  let text = `[instances.${name}]\nplugin = ${tomlString(pluginPath('s3'))}\n[instances.${name}.options]\n`;
  for (const [k, v] of Object.entries(options)) text += `${k} = ${tomlValue(v)}\n`;
  text += `[instances.${name}.secrets]\n`;
  for (const [k, v] of Object.entries(secrets)) text += `${k} = ${tomlString(v)}\n`;
  const endpoint = new URL(options.endpoint);
  const port = endpoint.port || (endpoint.protocol === 'https:' ? '443' : '80');
  const policy = sandbox ?? { network: [`${endpoint.hostname}:${port}`] };
  text += `[instances.${name}.sandbox]\n`;
  for (const [k, v] of Object.entries(policy)) text += `${k} = ${tomlValue(v)}\n`;
  return text + '\n';
}

export class S3Env {
  constructor({ buckets, label = 'keyhold-s3-' }) {
    this.buckets = buckets;
    this.label = label;
    this.creds = canaryCredentials();
    this.outputs = []; // everything the client or the CLI printed
  }

  async start() {
    this.s3 = await startS3rver({ buckets: this.buckets, accessKeyIds: [this.creds.accessKeyId] });
    this.proxy = await startVerifyingProxy(this.s3, {
      accessKeyId: this.creds.accessKeyId,
      secretAccessKey: this.creds.secretAccessKey,
      region: REGION,
    });
    this.sandbox = makeSandbox(this.label);
    this.sandbox.env.KEYHOLD_VAULT = path.join(this.sandbox.dir, 'vault.db');
    this.sandbox.env.KEYHOLD_KEYFILE = path.join(this.sandbox.dir, 'vault.key');
    await this.kh(['vault', 'init', '--keyfile', this.sandbox.env.KEYHOLD_KEYFILE]);
    await this.kh(['vault', 'set', 's3/key-id'], this.creds.accessKeyId);
    await this.kh(['vault', 'set', 's3/secret'], this.creds.secretAccessKey);
    await this.kh(['vault', 'set', 's3/wrong-secret'], this.creds.wrongSecret);
    return this;
  }

  // A client of s3rver itself (not through keyhold), for seeding objects.
  directClient() {
    const { S3Client } = requireE2E('@aws-sdk/client-s3');
    return new S3Client({
      endpoint: this.s3.endpoint,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: this.creds.accessKeyId, secretAccessKey: this.creds.secretAccessKey },
    });
  }

  async put(client, Bucket, Key, Body, ContentType = 'application/octet-stream', Metadata) {
    const { PutObjectCommand } = requireE2E('@aws-sdk/client-s3');
    await client.send(new PutObjectCommand({ Bucket, Key, Body, ContentType, Metadata }));
  }

  // Runs `keyhold ...args` in the sandbox; asserts exit 0 unless expect is given.
  async kh(args, input, expect = 0) {
    const r = await run(await keyholdBin(), args, { env: this.sandbox.env, cwd: this.sandbox.dir, input });
    this.outputs.push(r.stdout, r.stderr);
    if (expect !== null) assert.equal(r.code, expect, `keyhold ${args.join(' ')}: ${r.stderr}`);
    return r;
  }

  // Grants an instance reveal on the key id and ONLY sign on the secret access key.
  async grant(instance, secret = 's3/secret') {
    await this.kh(['vault', 'grant', instance, 's3/key-id', '--ops', 'reveal']);
    await this.kh(['vault', 'grant', instance, secret, '--ops', 'sign']);
  }

  // Instance options pointing at the verifying proxy.
  options(extra = {}) {
    return { endpoint: this.proxy.endpoint, region: REGION, path_style: true, retry_base_ms: 20, ...extra };
  }

  secrets(secret = 's3/secret') {
    return { access_key_id: 'vault:s3/key-id', secret_access_key: `vault:${secret}` };
  }

  async serve(instancesToml, { logLevel = 'debug' } = {}) {
    await waitForFile(pluginPath('s3'));
    const config = this.sandbox.writeConfig(`[server]\nlog_level = "${logLevel}"\n\n${instancesToml}`);
    this.conn = await connectSdk(this.sandbox, config);
    this.client = this.conn.client;
    return this.client;
  }

  // Calls a tool and keeps its result for the sweep (isError results are returned).
  async call(name, args = {}) {
    try {
      const r = await this.client.callTool({ name, arguments: args });
      this.outputs.push(JSON.stringify(r));
      return r;
    } catch (e) {
      this.outputs.push(String(e?.message), JSON.stringify(e?.data ?? null));
      throw e;
    }
  }

  async ok(name, args = {}) {
    const r = await this.call(name, args);
    assert.ok(!r.isError, `${name}(${JSON.stringify(args)}) failed: ${textOf(r)}`);
    return r.structuredContent ?? r;
  }

  async refused(name, args, pattern) {
    const r = await this.call(name, args);
    assert.equal(r.isError, true, `${name}(${JSON.stringify(args)}) should fail, got: ${textOf(r).slice(0, 500)}`);
    if (pattern) assert.match(textOf(r), pattern);
    return textOf(r);
  }

  // Asserts no secret of this run, in any encoded form, is in text.
  assertNoLeak(text, what, extra = {}) {
    for (const [name, value] of Object.entries({ secret: this.creds.secretAccessKey, wrong: this.creds.wrongSecret, ...extra }))
      for (const [form, encoded] of Object.entries(forms(value)))
        assert.ok(!text.includes(encoded), `${what}: the ${name} canary leaked (${form} form)`);
  }

  async stop() {
    await this.client?.close();
    if (this.conn) await Promise.race([this.conn.stderrEnded, new Promise((r) => setTimeout(r, 5000))]);
    // Under -DKEYHOLD_SANITIZE=ON a finding (also a leak, reported at exit) ends up here.
    this.sanitizerReport = /ERROR: (Address|Leak)Sanitizer|runtime error:/.test(this.conn?.stderr() ?? '')
      ? this.conn.stderr()
      : null;
    await this.proxy?.close();
    await this.s3?.close();
    this.sandbox?.cleanup();
  }
}

export const textOf = (result) => (result.content ?? []).map((c) => c.text ?? '').join('\n');
