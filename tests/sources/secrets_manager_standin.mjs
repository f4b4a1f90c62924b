// A loopback stand-in for AWS Secrets Manager's GetSecretValue: THE ONLY MOCK of the
// external-source tests (issue 19). There is no AWS here, so this small server plays the
// service's wire format (the JSON 1.1 protocol: POST /, X-Amz-Target
// secretsmanager.GetSecretValue, {"SecretId", "VersionStage" | "VersionId"} in, {"ARN",
// "Name", "VersionId", "SecretString" | "SecretBinary", "VersionStages"} out, errors as
// {"__type", "message"}) and checks what matters for keyhold: every request's SigV4
// signature is recomputed with the official signer @smithy/signature-v4 and the real
// secret access key, and a request whose signature differs is refused (403
// InvalidSignatureException) before anything else is looked at.
import http from 'node:http';

// The SHA-256 constructor the official signer wants, and the e2e package folder's require.
import { requireE2E, Sha256 } from '../s3/s3_harness.mjs';

const { SignatureV4 } = requireE2E('@smithy/signature-v4');

// "20261130T050000Z" -> Date.
const amzDateToDate = (s) =>
  new Date(Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(9, 11), +s.slice(11, 13), +s.slice(13, 15)));

// Starts the stand-in on a free loopback port.
//   keys:    { accessKeyId: { secretAccessKey, sessionToken? } } the service accepts
//   secrets: [{ name, arn, versions: [{ id, stages: [...], string? | binary? (Buffer) }] }]
// Returns { endpoint, region, log: [{ target, secretId, outcome }], close() }.
export async function startSecretsManager({ region, keys, secrets }) {
  const log = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const answer = (status, json, outcome) => {
        log.push({ target: req.headers['x-amz-target'], outcome, ...(answer.secretId ? { secretId: answer.secretId } : {}) });
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(json));
      };
      const fail = (status, type, message) => answer(status, { __type: type, message }, type);
      try {
        const verdict = await verify(req, body, { region, keys });
        if (verdict) return fail(verdict.status, verdict.type, verdict.message);
        if (req.method !== 'POST' || req.url !== '/' || req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue')
          return fail(400, 'UnknownOperationException', 'only GetSecretValue is played here');
        if (req.headers['content-type'] !== 'application/x-amz-json-1.1')
          return fail(400, 'SerializationException', 'content-type must be application/x-amz-json-1.1');
        const input = JSON.parse(body);
        answer.secretId = input.SecretId;
        const secret = secrets.find((s) => s.name === input.SecretId || s.arn === input.SecretId);
        if (!secret) return fail(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
        const version = input.VersionId
          ? secret.versions.find((v) => v.id === input.VersionId)
          : secret.versions.find((v) => v.stages.includes(input.VersionStage ?? 'AWSCURRENT'));
        if (!version)
          return fail(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret value for staging label: " + (input.VersionStage ?? input.VersionId));
        const out = { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: version.stages, CreatedDate: 1.7e9 };
        if (version.binary) out.SecretBinary = version.binary.toString('base64');
        else out.SecretString = version.string;
        return answer(200, out, 'ok');
      } catch (e) {
        return fail(500, 'InternalServiceError', String(e?.message ?? e));
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    log,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

// Recomputes the request's signature with @smithy/signature-v4; null when it matches, else
// the error the service would answer.
async function verify(req, body, { region, keys }) {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { status: 400, type: 'IncompleteSignatureException', message: 'Authorization header is malformed' };
  const [, accessKeyId, date, scopeRegion, service, signedHeaders] = m;
  const key = keys[accessKeyId];
  if (!key) return { status: 403, type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  if (scopeRegion !== region || service !== 'secretsmanager')
    return { status: 403, type: 'InvalidSignatureException', message: `Credential should be scoped to a valid region and service (${region}/secretsmanager)` };
  const amzDate = req.headers['x-amz-date'] ?? '';
  if (!amzDate.startsWith(date)) return { status: 403, type: 'InvalidSignatureException', message: 'x-amz-date does not match the credential scope' };
  const signedAt = amzDateToDate(amzDate);
  if (Math.abs(Date.now() - signedAt.getTime()) > 5 * 60 * 1000)
    return { status: 403, type: 'InvalidSignatureException', message: 'Signature expired' };
  const names = signedHeaders.split(';');
  for (const required of ['content-type', 'host', 'x-amz-date', 'x-amz-target'])
    if (!names.includes(required)) return { status: 403, type: 'InvalidSignatureException', message: `${required} must be signed` };
  if (key.sessionToken && req.headers['x-amz-security-token'] !== key.sessionToken)
    return { status: 403, type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  const headers = {};
  for (const name of names) headers[name] = req.headers[name] ?? '';
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: key.secretAccessKey, sessionToken: key.sessionToken },
    region,
    service: 'secretsmanager',
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    { method: req.method, protocol: 'http:', hostname: req.headers.host, path: req.url, query: {}, headers, body },
    { signingDate: signedAt },
  );
  if (signed.headers.authorization !== auth)
    return {
      status: 403,
      type: 'InvalidSignatureException',
      message: 'The request signature we calculated does not match the signature you provided.',
    };
  return null;
}
