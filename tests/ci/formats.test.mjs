// ci connector, issue 8 acceptance 1: real fixture projects with passing, failing and
// skipped tests, run through `keyhold serve` in every report format; counts, names,
// failure messages and locations must be exact. Also progress notifications, get_run,
// get_run_log and filters reaching the runner.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { buildCtestFixture, ciInstance, ciSandbox, ciSandboxPolicy, copyFixture, mkdirSync, NODE, path, serveCi, structured } from './ci_lib.mjs';

let sandbox;
let session;
let nodeProject;

before(async () => {
  sandbox = await ciSandbox('formats');
  nodeProject = copyFixture(sandbox, 'ci-node');
  mkdirSync(path.join(nodeProject, 'reports'), { recursive: true });
  const tapProject = copyFixture(sandbox, 'ci-tap');
  const ctestBuild = await buildCtestFixture(sandbox);
  const config = ciInstance('ci', {
    options: { history_path: sandbox.historyPath },
    suites: {
      'node-junit': {
        description: 'node:test with its JUnit reporter',
        argv: [NODE, '--test', '--test-reporter=junit', '--test-reporter-destination=reports/junit.xml',
          '--test-reporter=spec', '--test-reporter-destination=stdout'],
        cwd: nodeProject,
        report: { format: 'junit', path: 'reports/junit.xml' },
      },
      'node-tap': {
        argv: [NODE, '--test', '--test-reporter=tap'],
        cwd: nodeProject,
        report: { format: 'tap' },
        filter_arg: '--test-name-pattern',
      },
      'perl-tap': { argv: ['perl', 't/basics.t'], cwd: tapProject, report: { format: 'tap' } },
      ctest: {
        argv: ['ctest', '--output-on-failure'],
        cwd: ctestBuild,
        report: { format: 'ctest' },
        filter_arg: '-R',
      },
      'exit-pass': { argv: [NODE, '-e', 'console.log("fine")'], cwd: nodeProject },
      'exit-fail': { argv: [NODE, '-e', 'console.error("broken"); process.exit(3)'], cwd: nodeProject },
    },
    // The three projects: reports and ctest's Testing/ folder are written in them.
    sandbox: ciSandboxPolicy(sandbox, { projects: [nodeProject, tapProject, ctestBuild] }),
  });
  session = await serveCi(sandbox, config, 'formats');
});

after(async () => {
  await session?.close();
  sandbox?.cleanup();
});

const counts = (passed, failed, skipped) => ({ passed, failed, skipped });

// The progress notifications the server sent for a run, from the raw stdout bytes. (The
// SDK client runs notification handlers a microtask later than it settles a response, so
// a notification written right before the result can miss the onprogress callback.)
function progressSent(runId) {
  return session
    .received()
    .split('\n')
    .filter((line) => line.includes('"notifications/progress"'))
    .map((line) => JSON.parse(line).params)
    .filter((p) => p.message?.startsWith(`${runId}: `));
}

test('tools: list_suites, run_suite, get_run, get_run_log with outputSchema on run tools', async () => {
  const { tools } = await session.client.listTools();
  const names = tools.map((t) => t.name).sort();
  assert.deepEqual(names, ['ci_get_run', 'ci_get_run_log', 'ci_list_suites', 'ci_run_suite']);
  const run = tools.find((t) => t.name === 'ci_run_suite');
  assert.deepEqual(run.outputSchema.properties.status.enum, ['passed', 'failed', 'error', 'timeout', 'cancelled']);
  assert.deepEqual(run.inputSchema.properties.suite.enum, ['ctest', 'exit-fail', 'exit-pass', 'node-junit', 'node-tap', 'perl-tap']);
  const suites = structured(await session.call('ci_list_suites')).suites;
  assert.deepEqual(
    suites.map((s) => [s.name, s.format, s.filter]),
    [['ctest', 'ctest', true], ['exit-fail', 'exit-code', false], ['exit-pass', 'exit-code', false],
      ['node-junit', 'junit', false], ['node-tap', 'tap', true], ['perl-tap', 'tap', false]],
  );
});

test('junit (node:test JUnit reporter): exact counts, names, messages, locations', async () => {
  const progress = [];
  const result = await session.call('ci_run_suite', { suite: 'node-junit' }, { onprogress: (p) => progress.push(p) });
  const r = structured(result);
  assert.equal(r.status, 'failed', r.summary);
  assert.deepEqual(r.counts, counts(3, 2, 1));
  assert.deepEqual(r.failures, [
    { name: 'math > multiplies wrongly', message: 'two times three is seven6 !== 7', location: 'test/math.test.mjs:13:12' },
    { name: 'throws an error', message: 'boom: the widget is broken', location: 'test/math.test.mjs:23:9' },
  ]);
  assert.deepEqual(r.auth_errors, []);
  assert.equal(r.exit_code, 1);
  assert.equal(r.queue_position, 0);
  assert.match(r.run_id, /^run-\d{8}T\d{6}Z-[0-9a-f]{8}$/);
  assert.ok(r.duration > 0);
  assert.match(r.output_tail, /multiplies wrongly/); // the spec reporter's lines
  assert.ok(!result.isError);
  // Progress by output lines (JUnit arrives only at the end).
  const sent = progressSent(r.run_id);
  assert.ok(sent.length >= 1, 'progress notifications');
  assert.match(sent[0].message, new RegExp(`^${r.run_id}: \\d+ lines of output$`));

  const again = structured(await session.call('ci_get_run', { run_id: r.run_id }));
  assert.deepEqual({ ...again, summary: undefined }, { ...r, summary: undefined });
  const log = structured(await session.call('ci_get_run_log', { run_id: r.run_id, offset: 0, limit: 100000 }));
  assert.equal(log.total_bytes, r.log_bytes);
  assert.equal(log.complete, true);
  assert.match(log.text, /boom: the widget is broken/);
  // Offsets count bytes; a slice never splits a UTF-8 character (the spec reporter prints ✔).
  const part = structured(await session.call('ci_get_run_log', { run_id: r.run_id, offset: 10, limit: 20 }));
  const bytes = Buffer.from(log.text, 'utf8');
  assert.ok(part.offset >= 10 && part.next_offset <= 30 && part.next_offset > part.offset);
  assert.equal(part.text, bytes.subarray(part.offset, part.next_offset).toString('utf8'));
});

test('tap (node:test TAP reporter, nested subtests and YAML): exact results, progress per test', async () => {
  const progress = [];
  const r = structured(await session.call('ci_run_suite', { suite: 'node-tap' }, { onprogress: (p) => progress.push(p) }));
  assert.equal(r.status, 'failed', r.summary);
  assert.deepEqual(r.counts, counts(3, 2, 1));
  assert.deepEqual(r.failures, [
    { name: 'multiplies wrongly', message: 'two times three is seven\n\n6 !== 7', location: 'test/math.test.mjs:12:3' },
    { name: 'throws an error', message: 'boom: the widget is broken', location: 'test/math.test.mjs:22:1' },
  ]);
  assert.ok(progress.length >= 1, 'the client saw progress');
  const sent = progressSent(r.run_id);
  assert.match(sent.at(-1).message, new RegExp(`^${r.run_id}: 3 passed, 2 failed, 1 skipped; last: throws an error$`));
  assert.equal(sent.at(-1).progress, 6);
  for (let i = 1; i < sent.length; ++i) assert.ok(sent[i].progress > sent[i - 1].progress);
});

test('tap (Perl Test::More): plan, # diagnostics, skip and TODO', async () => {
  const r = structured(await session.call('ci_run_suite', { suite: 'perl-tap' }));
  assert.equal(r.status, 'failed', r.summary);
  assert.deepEqual(r.counts, counts(3, 2, 2));
  assert.deepEqual(r.failures, [
    { name: 'multiplies', message: "Failed test 'multiplies'\ngot: '6'\nexpected: '7'", location: 't/basics.t:14' },
    { name: 'fails plainly', message: "Failed test 'fails plainly'", location: 't/basics.t:20' },
  ]);
  assert.equal(r.exit_code, 2);
});

test('ctest (a CMake project): passed, failed with output as message, skipped and disabled', async () => {
  const progress = [];
  const r = structured(await session.call('ci_run_suite', { suite: 'ctest' }, { onprogress: (p) => progress.push(p) }));
  assert.equal(r.status, 'failed', r.summary);
  assert.deepEqual(r.counts, counts(2, 2, 2));
  assert.deepEqual(r.failures, [
    { name: 'multiplies', message: 'check.c:12: expected 2 * 3 == 7, got 6', location: 'check.c:12' },
    { name: 'divides_by_zero', message: 'refusing to divide by zero', location: '' },
  ]);
  assert.ok(progress.length >= 1, 'the client saw progress');
  const sent = progressSent(r.run_id);
  assert.equal(sent.at(-1).total, 6);
  assert.equal(sent.at(-1).progress, 6);
  assert.match(sent.at(-1).message, new RegExp(`^${r.run_id}: 2 passed, 2 failed, 2 skipped; last: disabled_one$`));
});

test('filters reach the runner as their own argv element (node --test-name-pattern, ctest -R)', async () => {
  const tap = structured(await session.call('ci_run_suite', { suite: 'node-tap', filter: 'adds' }));
  assert.equal(tap.status, 'passed', tap.summary);
  assert.deepEqual(tap.counts, counts(1, 0, 0));
  assert.equal(tap.filter, 'adds');
  const ctest = structured(await session.call('ci_run_suite', { suite: 'ctest', filter: 'multiplies' }));
  assert.equal(ctest.status, 'failed');
  assert.deepEqual(ctest.counts, counts(0, 1, 0));
  assert.equal(ctest.failures[0].name, 'multiplies');
});

test('exit-code: the suite is one test; passed, or failed with the exit status', async () => {
  const pass = structured(await session.call('ci_run_suite', { suite: 'exit-pass' }));
  assert.equal(pass.status, 'passed');
  assert.deepEqual(pass.counts, counts(1, 0, 0));
  assert.equal(pass.output_tail, 'fine\n');
  const fail = structured(await session.call('ci_run_suite', { suite: 'exit-fail' }));
  assert.equal(fail.status, 'failed');
  assert.deepEqual(fail.counts, counts(0, 1, 0));
  assert.deepEqual(fail.failures, [{ name: 'exit-fail', message: 'the suite exited with status 3', location: '' }]);
  assert.equal(fail.output_tail, 'broken\n');
});

test('unknown suites, unknown runs and filters on a suite without filter_arg are tool errors', async () => {
  const unknown = await session.call('ci_run_suite', { suite: 'nope' });
  assert.equal(unknown.isError, true);
  const noFilter = await session.call('ci_run_suite', { suite: 'perl-tap', filter: 'adds' });
  assert.equal(noFilter.isError, true);
  assert.equal(noFilter.content[0].text, 'suite perl-tap takes no filter (the administrator set no filter_arg)');
  const noRun = await session.call('ci_get_run', { run_id: 'run-none' });
  assert.equal(noRun.isError, true);
  assert.equal(noRun.content[0].text, 'no run run-none (the last 50 runs are kept)');
});
