// ci connector: the JUnit report is read through the host (`cat` as a child), and that
// read is bounded like the run itself. A suite that leaves a FIFO at its report path
// (cat would block in open() for ever) ends as timeout by the suite's deadline (at least
// 5 s after the suite exits), or as cancelled when the client cancels; the reader child
// is killed either way and the host keeps answering.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';

import { ciInstance, ciSandbox, ciSandboxPolicy, copyFixture, NODE, path, serveCi, structured, until } from './ci_lib.mjs';

let sandbox;
let session;
let project;

before(async () => {
  sandbox = await ciSandbox('report-read');
  project = copyFixture(sandbox, 'ci-node');
  const fifoSuite = (report, extra = {}) => ({
    argv: [NODE, 'scripts/fifo-report.mjs', report],
    cwd: project,
    report: { format: 'junit', path: report },
    ...extra,
  });
  const config = ciInstance('ci', {
    options: { history_path: sandbox.historyPath },
    suites: {
      'fifo-timeout': fifoSuite('reports/timeout.xml', { timeout: '2s' }),
      'fifo-cancel': fifoSuite('reports/cancel.xml'),
    },
    sandbox: ciSandboxPolicy(sandbox, { projects: [project] }), // the FIFOs are made in it
  });
  session = await serveCi(sandbox, config, 'report-read');
});

after(async () => {
  await session?.close();
  sandbox?.cleanup();
});

// Live `cat` processes reading the report at path.
function readers(report) {
  const out = execFileSync('ps', ['-eo', 'stat=,args='], { encoding: 'utf8' });
  return out.split('\n').map((l) => l.trim()).filter((l) => !l.startsWith('Z') && l.endsWith(`cat -- ${report}`));
}

test('a FIFO at the report path: the read ends at the deadline, status timeout', { timeout: 60_000 }, async () => {
  const started = Date.now();
  const r = structured(await session.call('ci_run_suite', { suite: 'fifo-timeout' }));
  const seconds = (Date.now() - started) / 1000;
  assert.equal(r.status, 'timeout', r.summary);
  assert.equal(r.exit_code, 0);
  const report = path.join(project, 'reports/timeout.xml');
  assert.equal(r.error, `the suite exited with status 0, but reading the JUnit report ${report} did not finish in time (the suite's timeout is 2 s)`);
  assert.ok(seconds < 30, `took ${seconds} s`);
  await until('the reader child to end', () => readers(report).length === 0, 10_000);
  await session.client.ping();
});

test('a FIFO at the report path: cancel over MCP ends the read, status cancelled', { timeout: 60_000 }, async () => {
  const report = path.join(project, 'reports/cancel.xml');
  const controller = new AbortController();
  let runId = null;
  const call = session.call('ci_run_suite', { suite: 'fifo-cancel' }, {
    signal: controller.signal,
    onprogress: (p) => {
      runId ??= p.message.split(':')[0];
    },
  });
  call.catch(() => {});
  await until('cat to wait on the FIFO', () => readers(report).length > 0, 30_000);
  await until('the run id from a progress notification', () => runId, 30_000);
  controller.abort('the user changed their mind');
  await assert.rejects(call);
  const run = await until('the run to end', async () => {
    const r = structured(await session.call('ci_get_run', { run_id: runId }));
    return r.status !== 'running' ? r : null;
  }, 30_000);
  assert.equal(run.status, 'cancelled', run.summary);
  await until('the reader child to end', () => readers(report).length === 0, 10_000);
});
