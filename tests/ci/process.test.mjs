// ci connector, issue 8 acceptance 3-5 and the run machinery: cancel over MCP and the
// timeout end the whole process group (checked with ps), hostile filters are refused or
// arrive as one literal argv element, a 50 MiB output is capped while the host stays
// responsive with bounded memory, runs beyond the concurrency cap queue and say their
// position, and the history survives a host restart.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import {
  ciInstance, ciSandbox, ciSandboxPolicy, copyFixture, existsSync, mkdirSync, NODE, path, pidAlive, processesInGroup, SANITIZE, serveCi, sleep,
  structured, until,
} from './ci_lib.mjs';

let sandbox;
let session;
let project;
let config;
// The suites' signal files (pids, started/done markers, releases), in a folder of their own
// that the instance's sandbox may write.
const file = (name) => path.join(sandbox.dir, 'signals', name);

before(async () => {
  sandbox = await ciSandbox('process');
  project = copyFixture(sandbox, 'ci-node');
  mkdirSync(path.dirname(file('x')), { recursive: true });
  config = ciInstance('ci', {
    options: { history_path: sandbox.historyPath, kill_grace: '1s', max_concurrent_runs: 1, max_queued_runs: 1 },
    suites: {
      hang: { argv: [NODE, 'scripts/hang.mjs', file('hang.json')], cwd: project },
      'hang-timeout': { argv: [NODE, 'scripts/hang.mjs', file('timeout.json')], cwd: project, timeout: '4s' },
      argv: { argv: [NODE, 'scripts/print-argv.mjs', 'fixed'], cwd: project, filter_arg: '--filter' },
      big: {
        argv: [NODE, 'scripts/big-output.mjs', '50', file('big.done'), file('big.release')],
        cwd: project,
      },
      gate: { argv: [NODE, 'scripts/wait-file.mjs', file('gate.started'), file('gate.release')], cwd: project },
      stuck: { argv: [NODE, 'scripts/wait-file.mjs', file('stuck.started'), file('stuck.release')], cwd: project },
    },
    sandbox: ciSandboxPolicy(sandbox, { projects: [project], write: [path.dirname(file('x'))] }),
  });
  session = await serveCi(sandbox, config, 'process');
});

after(async () => {
  await session?.close();
  // A failed test may leave a fixture's process group behind: end it so CI stays clean.
  const leaders = [];
  for (const name of ['hang.json', 'timeout.json']) {
    if (existsSync(file(name))) leaders.push(JSON.parse(readFileSync(file(name), 'utf8')).leader);
  }
  for (const name of ['gate.started', 'stuck.started']) {
    if (existsSync(file(name))) leaders.push(...readFileSync(file(name), 'utf8').trim().split('\n').map(Number));
  }
  for (const pgid of leaders) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone (the normal case)
    }
  }
  sandbox?.cleanup();
});

// The group's processes as ps sees them, until none is left (or give up after 30 s).
async function groupGone(pgid) {
  return until(`process group ${pgid} to end`, () => processesInGroup(pgid).length === 0, 30_000);
}

test('cancel over MCP: status cancelled and no process of the group remains', async () => {
  const controller = new AbortController();
  let runId = null;
  const call = session.call('ci_run_suite', { suite: 'hang' }, {
    signal: controller.signal,
    onprogress: (p) => {
      runId ??= p.message.split(':')[0];
    },
  });
  call.catch(() => {});
  const pids = JSON.parse(await until('hang.json', () => existsSync(file('hang.json')) && readFileSync(file('hang.json'), 'utf8')));
  await until('the run id from a progress notification', () => runId);
  assert.equal(processesInGroup(pids.leader).length, 3, 'leader, sleep and the stubborn child run in one group');
  controller.abort('the user changed their mind');
  await assert.rejects(call);
  const run = await until('the run to end', async () => {
    const r = structured(await session.call('ci_get_run', { run_id: runId }));
    return r.status !== 'running' ? r : null;
  });
  assert.equal(run.status, 'cancelled');
  await groupGone(pids.leader);
  for (const pid of [pids.leader, ...pids.children]) assert.equal(pidAlive(pid), false, `pid ${pid} survived`);
  // It ignored SIGTERM: only the SIGKILL after the grace period ended it.
  const log = structured(await session.call('ci_get_run_log', { run_id: runId }));
  assert.match(log.text, /leader got SIGTERM and ignores it/);
  assert.equal(run.signal, 9);
});

test('timeout: status timeout, the SIGTERM-ignoring group is killed, nothing remains', async () => {
  const r = structured(await session.call('ci_run_suite', { suite: 'hang-timeout' }));
  assert.equal(r.status, 'timeout', r.summary);
  assert.equal(r.error, 'the suite ran longer than its timeout of 4 s');
  // 9 when the leader had installed its SIGTERM handler (it has, unless node took over 4 s
  // to start on a loaded machine).
  assert.ok(r.signal === 9 || r.signal === 15, `signal ${r.signal}`);
  const pids = JSON.parse(readFileSync(file('timeout.json'), 'utf8'));
  await groupGone(pids.leader);
  for (const pid of [pids.leader, ...pids.children]) assert.equal(pidAlive(pid), false, `pid ${pid} survived`);
});

test('filters: shell syntax, line breaks and leading dashes are refused before anything starts', async () => {
  const refused = {
    '; rm -rf /': "the filter contains ';'; allowed are letters, digits, space and _ . : / @ + , = * # -",
    '$(id)': "the filter contains '$'; allowed are letters, digits, space and _ . : / @ + , = * # -",
    '`id`': "the filter contains '`'; allowed are letters, digits, space and _ . : / @ + , = * # -",
    'adds\nrm -rf /': 'the filter contains a line break',
    '-rf': "the filter starts with '-' (it would read as an option)",
    '--inspect=0.0.0.0:9229': "the filter starts with '-' (it would read as an option)",
    'a && b': "the filter contains '&'; allowed are letters, digits, space and _ . : / @ + , = * # -",
    'x | y': "the filter contains '|'; allowed are letters, digits, space and _ . : / @ + , = * # -",
    "it's": "the filter contains '''; allowed are letters, digits, space and _ . : / @ + , = * # -",
    // Non-ASCII: the whole character is quoted (one byte of it would not be UTF-8, and the
    // client would get a JSON-RPC error instead of this refusal).
    'café': "the filter contains 'é' (U+00E9); allowed are letters, digits, space and _ . : / @ + , = * # -",
    'ｔｅｓｔ': "the filter contains 'ｔ' (U+FF54); allowed are letters, digits, space and _ . : / @ + , = * # -",
    'adds\u2028two': 'the filter contains a line break (U+2028)',
    'adds\u202etwo': 'the filter contains an invisible formatting or control character (U+202E)',
  };
  for (const [filter, why] of Object.entries(refused)) {
    const r = await session.call('ci_run_suite', { suite: 'argv', filter });
    assert.equal(r.isError, true, JSON.stringify(filter));
    assert.equal(r.content[0].text, `filter refused: ${why}`);
  }
  assert.equal(existsSync(path.join(project, 'argv.json')), false, 'no refused filter started the suite');
});

test('filters: an accepted filter with spaces and * is exactly one literal argv element', async () => {
  const r = structured(await session.call('ci_run_suite', { suite: 'argv', filter: 'adds two * x #1' }));
  assert.equal(r.status, 'passed', r.summary);
  assert.deepEqual(JSON.parse(readFileSync(path.join(project, 'argv.json'), 'utf8')), ['fixed', '--filter', 'adds two * x #1']);
});

function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))[1]);
  return { rss: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 };
}

test('50 MiB of output: capped log and tail, bounded host memory, host responsive meanwhile', async () => {
  const before = memory(session.pid);
  const call = session.call('ci_run_suite', { suite: 'big' });
  await until('the suite to print 50 MiB', () => existsSync(file('big.done')), 240_000);
  // The run is alive (it waits for the release file): the host still answers.
  await session.client.ping();
  const suites = structured(await session.call('ci_list_suites')).suites;
  assert.equal(suites.length, 6);
  const during = memory(session.pid);
  writeFileSync(file('big.release'), 'go');
  const r = structured(await call);
  assert.equal(r.status, 'passed', r.summary);
  const total = 50 * 1024 * 1024 + 'released\n'.length;
  assert.equal(r.log_bytes, total);
  assert.equal(r.log_truncated, true);
  assert.ok(r.output_tail.length <= 4096, `tail of ${r.output_tail.length} bytes`);
  assert.ok(r.output_tail.endsWith(`line 00409599 ${'x'.repeat(113)}\nreleased\n`), r.output_tail.slice(-200));
  const head = structured(await session.call('ci_get_run_log', { run_id: r.run_id, offset: 0, limit: 256 }));
  assert.equal(head.text, `line 00000000 ${'x'.repeat(113)}\nline 00000001 ${'x'.repeat(113)}\n`);
  const middle = structured(await session.call('ci_get_run_log', { run_id: r.run_id, offset: 20 * 1024 * 1024, limit: 128 }));
  // The first half of log_bytes (1 MiB) is kept, and at least the last half.
  assert.equal(middle.dropped.from, 512 * 1024);
  assert.ok(middle.dropped.to <= total - 512 * 1024 && middle.dropped.to > 20 * 1024 * 1024, JSON.stringify(middle.dropped));
  assert.equal(middle.offset, middle.dropped.to);
  const end = structured(await session.call('ci_get_run_log', { run_id: r.run_id, offset: total - 9, limit: 100 }));
  assert.equal(end.text, 'released\n');
  // Memory: the 50 MiB never lived in the host. Under ASan the figure is the allocator's
  // (quarantine, per-size-class caches: 60-180 MiB whatever the plugin keeps), so the
  // bound is checked in normal builds only; the caps above are checked in both.
  const grown = during.peak - before.rss;
  if (!SANITIZE)
    assert.ok(grown < 24 * 1024 * 1024, `host peak memory grew by ${(grown / 1048576).toFixed(1)} MiB during the run`);
  console.log(`# host memory: RSS before ${(before.rss / 1048576).toFixed(1)} MiB, peak during ${(during.peak / 1048576).toFixed(1)} MiB`);
});

test('concurrency cap: a second run queues, says its position, then runs; a full queue refuses', async () => {
  const progressB = [];
  const a = session.call('ci_run_suite', { suite: 'gate' });
  await until('run A to start', () => existsSync(file('gate.started')));
  const b = session.call('ci_run_suite', { suite: 'gate' }, { onprogress: (p) => progressB.push(p) });
  await until('run B to say it is queued', () => progressB.some((p) => / is queued at position 1$/.test(p.message)));
  // The queue holds one run (max_queued_runs = 1): a third is refused at once.
  const c = await session.call('ci_run_suite', { suite: 'gate' });
  assert.equal(c.isError, true);
  assert.equal(c.content[0].text,
    'suite gate not started: 1 run(s) going and 1 queued (max_queued_runs); try again when one has finished');
  const lines = readFileSync(file('gate.started'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 1, 'B has not started while A runs');
  writeFileSync(file('gate.release'), 'go');
  const [ra, rb] = [structured(await a), structured(await b)];
  assert.equal(ra.status, 'passed');
  assert.equal(rb.status, 'passed');
  assert.equal(ra.queue_position, 0);
  assert.equal(rb.queue_position, 1);
  assert.equal(readFileSync(file('gate.started'), 'utf8').trim().split('\n').length, 2);
});

test('history: runs survive a host restart (get_run, get_run_log)', async () => {
  const r = structured(await session.call('ci_run_suite', { suite: 'argv', filter: 'after restart' }));
  await session.close();
  session = await serveCi(sandbox, config, 'process-restarted');
  const again = structured(await session.call('ci_get_run', { run_id: r.run_id }));
  assert.equal(again.status, 'passed');
  assert.equal(again.filter, 'after restart');
  const log = structured(await session.call('ci_get_run_log', { run_id: r.run_id }));
  assert.equal(log.text, 'arguments: ["fixed","--filter","after restart"]\n');
  assert.equal(log.complete, true);
});

test('history: a run cut short by a host crash is an error after the restart', async () => {
  let runId = null;
  const call = session.call('ci_run_suite', { suite: 'stuck' }, {
    onprogress: (p) => {
      runId ??= p.message.split(':')[0];
    },
  });
  call.catch(() => {});
  await until('the run to start', () => existsSync(file('stuck.started')) && runId);
  process.kill(session.pid, 'SIGKILL');
  await assert.rejects(call);
  await session.close().catch(() => {});
  // The host died without ending the group; end it here (a crash cannot clean up).
  const leader = Number(readFileSync(file('stuck.started'), 'utf8').trim());
  try {
    process.kill(-leader, 'SIGKILL');
  } catch {
    // already gone
  }
  session = await serveCi(sandbox, config, 'process-after-crash');
  const r = structured(await session.call('ci_get_run', { run_id: runId }));
  assert.equal(r.status, 'error');
  assert.equal(r.error, 'the host stopped before the run finished');
  assert.equal(r.suite, 'stuck');
});
