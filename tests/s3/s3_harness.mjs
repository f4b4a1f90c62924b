// Test harness of the s3 connector: s3rver (npm) on loopback in a temp dir, and a
// verifying proxy in front of it. s3rver does not check SigV4 signatures, so the proxy
// recomputes every request's signature with the official signer @smithy/signature-v4
// and the real secret, answers 403 SignatureDoesNotMatch (S3's XML) on a mismatch, and
// forwards correct requests to s3rver. It also counts what reached it and can inject
// failures (503 SlowDown, connection resets) to exercise the client's retries.
import { spawn } from 'node:child_process';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

// npm packages live in tests/e2e/node_modules (one package.json for every e2e test).
export const requireE2E = createRequire(path.join(import.meta.dirname, '..', 'e2e', 'package.json'));
const { escapeUri } = requireE2E('@smithy/core/protocols');
const { SignatureV4 } = requireE2E('@smithy/signature-v4');

// The hash constructor @smithy/signature-v4 wants (what @smithy/hash-node does).
export class Sha256 {
  constructor(secret) {
    this.hash = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(data) {
    this.hash.update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

// The path AWS SDKs send for a key: each segment RFC 3986-encoded, '/' kept.
export const encodeKeyPath = (bucket, key) =>
  '/' + bucket + (key === undefined ? '' : '/' + key.split('/').map(escapeUri).join('/'));

// s3rver (s3rver_main.mjs, a child process) in a fresh temp dir on a free loopback port.
// accessKeyIds are registered with s3rver's dummy account (it refuses unknown key ids).
export async function startS3rver({ buckets = [], accessKeyIds = [] } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyhold-s3rver-'));
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', path.join(import.meta.dirname, 's3rver_main.mjs'), dir, buckets.join(','), accessKeyIds.join(',')],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)).port);
    });
    child.on('exit', (code) => reject(new Error(`s3rver exited (${code}) before listening: ${stderr}`)));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    async close() {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const s3ErrorXml = (code, message) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

function parseQuery(raw) {
  const query = {};
  if (!raw) return query;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    if (k in query) query[k] = [].concat(query[k], v);
    else query[k] = v;
  }
  return query;
}

// Verifies one request; resolves { ok: true } or { ok: false, status, code, message }.
export async function verifySigV4(req, body, { accessKeyId, secretAccessKey, sessionToken, region }) {
  const auth = req.headers.authorization;
  if (!auth) return { ok: false, status: 403, code: 'AccessDenied', message: 'Anonymous requests are refused' };
  const m = AUTH.exec(auth);
  if (!m) return { ok: false, status: 400, code: 'AuthorizationHeaderMalformed', message: 'Malformed Authorization header' };
  const [, keyId, date, scopeRegion, service, signedHeaders, provided] = m;
  if (keyId !== accessKeyId)
    return { ok: false, status: 403, code: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.' };
  if (scopeRegion !== region || service !== 's3')
    return { ok: false, status: 400, code: 'AuthorizationHeaderMalformed', message: `wrong scope ${scopeRegion}/${service}` };
  const amzDate = req.headers['x-amz-date'] ?? '';
  const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!dm || amzDate.slice(0, 8) !== date)
    return { ok: false, status: 403, code: 'AccessDenied', message: 'x-amz-date is missing or does not match the credential scope' };
  const signingDate = new Date(Date.UTC(+dm[1], +dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6]));
  if (Math.abs(Date.now() - signingDate.getTime()) > 15 * 60 * 1000)
    return { ok: false, status: 403, code: 'RequestTimeTooSkewed', message: 'The difference between the request time and the current time is too large.' };
  const names = signedHeaders.split(';');
  for (const required of ['host', 'x-amz-date', 'x-amz-content-sha256'])
    if (!names.includes(required)) return { ok: false, status: 403, code: 'AccessDenied', message: `${required} is not signed` };
  const contentSha = req.headers['x-amz-content-sha256'];
  if (contentSha !== 'UNSIGNED-PAYLOAD' && createHash('sha256').update(body).digest('hex') !== contentSha)
    return { ok: false, status: 400, code: 'XAmzContentSHA256Mismatch', message: 'The provided x-amz-content-sha256 header does not match what was computed.' };
  if (sessionToken !== undefined && req.headers['x-amz-security-token'] !== sessionToken)
    return { ok: false, status: 403, code: 'InvalidToken', message: 'The provided token is malformed or otherwise invalid.' };
  const headers = {};
  for (const name of names) {
    if (req.headers[name] === undefined) return { ok: false, status: 403, code: 'AccessDenied', message: `signed header ${name} is missing` };
    headers[name] = String(req.headers[name]);
  }
  const q = req.url.indexOf('?');
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey },
    region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false, // S3 signs the path as sent
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: String(req.headers.host).split(':')[0],
      path: q < 0 ? req.url : req.url.slice(0, q),
      query: parseQuery(q < 0 ? '' : req.url.slice(q + 1)),
      headers,
    },
    { signingDate, signableHeaders: new Set(names) },
  );
  const expected = /Signature=([0-9a-f]{64})$/.exec(signed.headers.authorization)[1];
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(provided)))
    return {
      ok: false,
      status: 403,
      code: 'SignatureDoesNotMatch',
      message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    };
  return { ok: true };
}

// The verifying proxy in front of target (an s3rver). credentials: the real key id and
// secret the signatures must come from. Returns { endpoint, stats, inject, close }.
export async function startVerifyingProxy(target, credentials) {
  const stats = { requests: 0, forwarded: 0, rejected: 0, injected: 0, log: [] };
  const pending = []; // injected failures: 'slowdown' | 'reset' | 'hang'
  const hanging = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      stats.requests += 1;
      const entry = { method: req.method, url: req.url, status: 0 };
      stats.log.push(entry);
      const failure = pending.shift();
      if (failure === 'hang') {
        // Never answers: the client's timeout must end the attempt.
        stats.injected += 1;
        entry.status = 'hang';
        hanging.push(res);
        res.on('close', () => (entry.closedByClient = true));
        return;
      }
      if (failure === 'reset') {
        stats.injected += 1;
        entry.status = 'reset';
        req.socket.destroy();
        return;
      }
      if (failure === 'slowdown') {
        stats.injected += 1;
        entry.status = 503;
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end(s3ErrorXml('SlowDown', 'Please reduce your request rate.'));
        return;
      }
      const body = Buffer.concat(chunks);
      let verdict;
      try {
        verdict = await verifySigV4(req, body, credentials);
      } catch (e) {
        verdict = { ok: false, status: 400, code: 'InvalidRequest', message: String(e?.message ?? e) };
      }
      if (!verdict.ok) {
        stats.rejected += 1;
        entry.status = verdict.status;
        entry.code = verdict.code;
        res.writeHead(verdict.status, { 'content-type': 'application/xml' });
        res.end(s3ErrorXml(verdict.code, verdict.message));
        return;
      }
      stats.forwarded += 1;
      const upstream = http.request(
        { host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          entry.status = up.statusCode;
          res.writeHead(up.statusCode, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', (e) => {
        entry.status = 502;
        res.writeHead(502);
        res.end(String(e.message));
      });
      upstream.end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    // Makes the next requests fail: kinds is a list of 'slowdown' | 'reset' | 'hang'.
    inject(...kinds) {
      pending.push(...kinds);
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
