// Issue 17, acceptance 2 (TLS): a remote server behind HTTPS with a certificate from a
// private CA made here with openssl. keyhold verifies certificates: without server.ca_file
// the instance does not start and says the certificate could not be verified; with the
// CA's file it serves the server's tools. The bearer canary never appears in any output.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { assertLogMatches, connectSdk, tomlString } from '../e2e/helpers.mjs';
import { assertNoLeak, capture, captures, grant, makeVault, newCanary, setSecret } from '../secrets/lib.mjs';
import { listen, startEverythingHttp, stopChild } from './lib.mjs';

let sandbox, canary, everything, everythingPort, tlsPort, front, caFile;
let authorized = 0;
let refused = 0;

// A CA and a server certificate for 127.0.0.1 signed by it.
function makeCertificates(dir) {
  const file = (name) => path.join(dir, name);
  const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=keyhold test CA');
  openssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-out', file('server.pem'), '-days', '2', '-extfile', file('server.ext'));
  return { ca: file('ca.pem'), key: file('server.key'), cert: file('server.pem') };
}

before(async () => {
  sandbox = await makeVault('mount-remote-tls');
  canary = newCanary('tls');
  await setSecret(sandbox, 'team/remote-token', canary);
  await grant(sandbox, 'remote', 'team/remote-token', 'env');
  const certs = makeCertificates(sandbox.dir);
  caFile = certs.ca;
  everything = await startEverythingHttp();
  everythingPort = everything.port;
  // The HTTPS front: checks the bearer, then forwards to server-everything.
  const { readFileSync } = await import('node:fs');
  front = https.createServer({ key: readFileSync(certs.key), cert: readFileSync(certs.cert) }, (req, res) => {
    if (req.headers.authorization !== `Bearer ${canary}`) {
      refused += 1;
      res.writeHead(401).end();
      return;
    }
    authorized += 1;
    const upstream = http.request(
      { host: '127.0.0.1', port: everythingPort, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  tlsPort = await listen(front);
});

after(async () => {
  for (const { label, text } of captures) assertNoLeak(text, label);
  await new Promise((resolve) => {
    front?.close(resolve);
    front?.closeAllConnections();
  });
  await stopChild(everything);
  sandbox?.cleanup();
});

function config(name, { withCa }) {
  return sandbox.writeConfig(
    `[instances.remote]\n` +
      `server.url = ${tomlString(`https://127.0.0.1:${tlsPort}/mcp`)}\n` +
      `server.headers = { Authorization = "Bearer {secret:api-token}" }\n` +
      (withCa ? `server.ca_file = ${tomlString(caFile)}\n` : '') +
      `[instances.remote.secrets]\n` +
      `api-token = "vault:team/remote-token"\n`,
    name,
  );
}

async function serveAndList(configPath, label) {
  const session = await connectSdk(sandbox, configPath);
  try {
    const { tools } = await session.client.listTools();
    const echo = tools.some((t) => t.name === 'remote_echo')
      ? await session.client.callTool({ name: 'remote_echo', arguments: { message: 'over tls' } })
      : null;
    return { tools, echo, session };
  } finally {
    await session.client.close();
    await session.stderrEnded;
    capture(label, session.stderr());
  }
}

test('without server.ca_file the private CA is not trusted: the instance does not start', async () => {
  const before = authorized + refused;
  const { tools, session } = await serveAndList(config('no-ca.toml', { withCa: false }), 'keyhold without ca_file');
  assert.deepEqual(tools.filter((t) => t.name.startsWith('remote_')), []);
  await assertLogMatches(session.stderr, /instance 'remote' \(server\.url https:\/\/127\.0\.0\.1:\d+\/mcp\) skipped: .*cannot reach https:\/\/127\.0\.0\.1:\d+: .*certificate/i);
  assert.equal(authorized + refused, before, 'a request got past an unverified certificate');
});

test('with server.ca_file naming the CA, the tools are served over TLS', async () => {
  const { tools, echo } = await serveAndList(config('with-ca.toml', { withCa: true }), 'keyhold with ca_file');
  assert.ok(tools.some((t) => t.name === 'remote_echo'), tools.map((t) => t.name).join(', '));
  assert.match(echo.content.map((c) => c.text).join('\n'), /over tls/);
  assert.ok(authorized > 0);
  assert.equal(refused, 0);
});
