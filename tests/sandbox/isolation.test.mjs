// Acceptance of the sandbox issue: from inside its sandbox, the hostile `escape` fixture
// tries to read the vault and the host, trace or signal the host and a sibling runner,
// load modules, mount, write to the protocol stream, reach unlisted ports, and repeats
// from a forked child; it crashes, aborts, spins and allocates 20 GiB. Every attempt
// fails, the echo instance keeps answering, and a crashed instance answers the next
// call after a restart. One host serves all of it over stdio through the official SDK.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { assertLogMatches, connectSdk, keyholdBin, makeSandbox, PLUGIN_DIR, run, tomlString } from '../e2e/helpers.mjs';

let sandbox;
let conn;
let hostPid;
let listeners = [];
let allowedPort;
let deniedPort;
let keyFile;
let vaultFile;
let configPath;
const forged = [];

// The processes under the host: pid, parent pid and arguments of each.
function processTable() {
  return execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3)
    .map(([pid, ppid, ...args]) => ({ pid: Number(pid), ppid: Number(ppid), args: args.join(' ') }));
}

// A host's fork server: a child of the host that forks every runner.
function forkServerPids(host = hostPid) {
  return processTable()
    .filter((p) => p.ppid === host && p.args === 'keyhold-runner --fork-server=3')
    .map((p) => p.pid);
}

// A host's runners: children of its fork server.
function runnerPids(host = hostPid) {
  const servers = forkServerPids(host);
  return processTable()
    .filter((p) => servers.includes(p.ppid) && p.args === 'keyhold-runner --channel-fd=3')
    .map((p) => p.pid);
}

async function attempt(what, args = {}) {
  const r = await conn.client.callTool({ name: 'esc_attempt', arguments: { what, ...args } });
  assert.ok(r.structuredContent, JSON.stringify(r));
  return r.structuredContent;
}

async function assertRefused(what, args = {}) {
  const r = await attempt(what, args);
  assert.equal(r.ok, false, `${what} ${JSON.stringify(args)} succeeded: ${r.detail}`);
  const child = await attempt('child', { inner: what, ...args });
  assert.equal(child.ok, false, `${what} from a forked child succeeded: ${child.detail}`);
}

async function echoAnswers() {
  const r = await conn.client.callTool({ name: 'echo_echo', arguments: { text: 'still here' } });
  assert.equal(r.content[0].text, 'still here');
}

function listen() {
  return new Promise((resolve) => {
    const server = net.createServer((s) => s.end());
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

before(async () => {
  sandbox = makeSandbox('keyhold-isolation-');
  listeners = [await listen(), await listen()];
  allowedPort = listeners[0].address().port;
  deniedPort = listeners[1].address().port;
  // Stand-ins for the vault files at their real default paths, owned by the host's user.
  const dataDir = path.join(sandbox.env.XDG_DATA_HOME, 'keyhold');
  execFileSync('mkdir', ['-p', dataDir]);
  keyFile = path.join(dataDir, 'vault.key');
  vaultFile = path.join(dataDir, 'vault.db');
  writeFileSync(keyFile, 'not a real key', { mode: 0o600 });
  writeFileSync(vaultFile, 'not a real vault', { mode: 0o600 });
  configPath = sandbox.writeConfig(
    `[server]\nplugin_dirs = [${tomlString(PLUGIN_DIR)}]\n` +
      `[instances.echo]\nplugin = "echo"\n` +
      `[instances.esc]\nplugin = "escape"\noptions = { create_delay_ms = 200 }\n` +
      `[instances.esc.sandbox]\nnetwork = ["127.0.0.1:${allowedPort}"]\ncall_timeout = "3s"\n` +
      // Frozen under a burst of calls: an instance of its own (its own restart budget).
      `[instances.burst]\nplugin = "escape"\n[instances.burst.sandbox]\ncall_timeout = "3s"\n` +
      // More slow calls at once than its task limit allows threads.
      `[instances.few]\nplugin = "echo"\n[instances.few.sandbox]\nmax_processes = 8\n` +
      // Stuck in describe, and in create: each is ended at call_timeout and skipped.
      `[instances.hang_describe]\nplugin = "escape"\noptions = { hang_in = "describe" }\n` +
      `[instances.hang_describe.sandbox]\ncall_timeout = "1s"\n` +
      `[instances.hang_create]\nplugin = "escape"\noptions = { hang_in = "create" }\n` +
      `[instances.hang_create.sandbox]\ncall_timeout = "1s"\n`,
  );
  conn = await connectSdk(sandbox, configPath);
  conn.client.fallbackNotificationHandler = async (n) => {
    if (JSON.stringify(n).includes('FORGED-BY-ESCAPE')) forged.push(n);
  };
  hostPid = conn.transport.pid;
  assert.ok(hostPid > 0);
});

after(async () => {
  if (process.env.SHOW_STDERR) console.error(conn?.stderr());
  await conn?.client.close();
  for (const l of listeners) l.close();
  // Host shutdown ends every runner: no orphan survives.
  await new Promise((r) => setTimeout(r, 300));
  const left = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('keyhold-runner') && /--channel-fd|--fork-server/.test(l));
  const ours = left.filter((l) => !l.includes('grep'));
  sandbox?.cleanup();
  assert.ok(conn.stderr().includes("instance 'esc' loaded"), conn.stderr());
  for (const l of ours) {
    const pid = Number(l.trim().split(/\s+/)[0]);
    let ppid = '';
    try {
      ppid = readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[3];
    } catch {}
    assert.notEqual(ppid, '1', `an orphaned runner survived: ${l}`);
  }
});

test("each instance runs in its own runner process, forked by the host's fork server", async () => {
  const servers = forkServerPids();
  assert.equal(servers.length, 1, `fork servers: ${servers}`);
  const pids = runnerPids();
  assert.equal(pids.length, 4, `runners: ${pids}`);  // echo, esc, burst, few
  assert.ok(!pids.includes(hostPid) && !pids.includes(servers[0]));
  // Each in its own process group, none in the host's.
  const group = (pid) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[2]);
  for (const pid of pids) assert.equal(group(pid), pid);
  assert.equal(group(servers[0]), servers[0]);
});

test('the vault, its key file, the config and the host are out of reach', async () => {
  for (const file of [keyFile, vaultFile, configPath, `/proc/${hostPid}/mem`, `/proc/${hostPid}/environ`])
    await assertRefused('read', { path: file });
  const sibling = runnerPids().find((p) => p !== undefined);
  for (const pid of [...forkServerPids(), ...runnerPids()])
    await assertRefused('read', { path: `/proc/${pid}/mem` });
  await assertRefused('write', { path: path.join(path.dirname(keyFile), 'planted') });
  assert.ok(!existsSync(path.join(path.dirname(keyFile), 'planted')));
  // The keyhold binary itself cannot be run to reveal or grant.
  const bin = await keyholdBin();
  await assertRefused('exec', { argv: [bin, 'vault', 'list'] });
  assert.ok(sibling > 0);
  await echoAnswers();
});

test('ptrace, process_vm_readv and signals to the host, the fork server or a sibling runner are refused', async () => {
  for (const pid of [hostPid, ...forkServerPids(), ...runnerPids()]) {
    await assertRefused('ptrace', { pid });
    await assertRefused('vm_read', { pid });
  }
  await assertRefused('kill', { pid: hostPid });
  for (const pid of forkServerPids()) await assertRefused('kill', { pid });
  await echoAnswers();
});

test('no kernel module, no mount', async () => {
  await assertRefused('module');
  await assertRefused('mount');
});

test("fd 1 of a plugin leads to the host's log, never to the protocol stream", async () => {
  const r = await attempt('stdout');
  assert.equal(r.ok, true, 'the write itself succeeds (into the log pipe)');
  await echoAnswers();
  assert.deepEqual(forged, [], 'a forged notification reached the client');
  await new Promise((resolve) => setTimeout(resolve, 200));
  await assertLogMatches(conn.stderr, /\[esc\] \(runner output\) .*FORGED-BY-ESCAPE/);
  await assertLogMatches(conn.stderr, /\[esc\] \(runner output\) ESCAPE-STDERR/);
});

test('network: the listed port connects, an unlisted one does not (also from a child)', async () => {
  const ok = await attempt('connect', { port: allowedPort });
  assert.equal(ok.ok, true, ok.detail);
  await assertRefused('connect', { port: deniedPort });
});

test('20 GiB cannot be mapped; the host and the instance survive', async (t) => {
  if (!/RLIMIT_AS = /.test(conn.stderr())) {
    // AddressSanitizer builds never set RLIMIT_AS (the host log says so).
    t.skip('RLIMIT_AS is not applied in this build');
    return;
  }
  const r = await attempt('alloc', { gib: 20 });
  assert.equal(r.ok, false, r.detail);
  await echoAnswers();
});

for (const how of ['segv', 'abort']) {
  test(`${how} in a tool call: an error result, a restart, the next call works`, async () => {
    const before = runnerPids();
    const r = await conn.client.callTool({ name: 'esc_crash', arguments: { how } });
    assert.equal(r.isError, true);
    // A sanitizer build's runner reports the crash itself and exits instead of dying of it.
    assert.match(r.content[0].text, /instance 'esc' stopped: (killed by signal|exited with status)/);
    await echoAnswers();
    // Calls that keep coming while the runner restarts (one every millisecond, most of
    // them in flight together) all wait until the new runner has created its plugin
    // (which takes 200 ms here: create_delay_ms).
    const during = [];
    for (let i = 0; i < 40; ++i) {
      during.push(attempt('read', { path: '/etc/hostname' }));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    for (const next of await Promise.all(during)) assert.equal(typeof next.ok, 'boolean');
    assert.notDeepEqual(runnerPids().sort(), before.sort(), 'a new runner was started');
    // The ended runner was a zombie until the host had done with its pid, then reaped.
    const [server] = forkServerPids();
    const zombies = () => processTable().filter((p) => p.ppid === server && processState(p.pid) === 'Z');
    for (let i = 0; i < 50 && zombies().length > 0; ++i) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(zombies(), [], 'the fork server reaped every ended runner');
  });
}

test('the fork server killed: its runners end with it, a new one starts them again, calls work', async () => {
  // A host of its own: the restarts here must not count against the instances above.
  const config = sandbox.writeConfig(
    `[server]\nplugin_dirs = [${tomlString(PLUGIN_DIR)}]\n` +
      `[instances.one]\nplugin = "echo"\n[instances.two]\nplugin = "echo"\n`,
    'fork-server.toml',
  );
  const own = await connectSdk(sandbox, config);
  try {
    const host = own.transport.pid;
    const echo = async (name, lost = false) => {
      let r = await own.client.callTool({ name, arguments: { text: 'after' } });
      // A call that reaches a runner the host has not yet seen end gets the clear error.
      if (lost && r.isError) {
        assert.match(r.content[0].text, /stopped: .*it ended with its fork server; how is not known/);
        r = await own.client.callTool({ name, arguments: { text: 'after' } });
      }
      assert.equal(r.content[0].text, 'after', JSON.stringify(r));
    };
    await echo('one_echo');
    const [server] = forkServerPids(host);
    assert.ok(server, 'a fork server runs');
    const before = runnerPids(host);
    assert.equal(before.length, 2, `runners: ${before}`);
    process.kill(server, 'SIGKILL');
    // The runners die with it (PR_SET_PDEATHSIG); the host notices their channels close.
    for (let i = 0; i < 100 && before.some((pid) => !['', 'Z'].includes(processState(pid))); ++i)
      await new Promise((resolve) => setTimeout(resolve, 20));
    for (const pid of before) assert.ok(['', 'Z'].includes(processState(pid)), `runner ${pid} outlived its fork server`);
    await echo('one_echo', true);
    await echo('two_echo', true);
    const [again] = forkServerPids(host);
    assert.ok(again && again !== server, `a new fork server: ${forkServerPids(host)}`);
    const after = runnerPids(host);
    assert.equal(after.length, 2, `runners: ${after}`);
    assert.ok(after.every((pid) => !before.includes(pid)));
    await assertLogMatches(own.stderr, /it ended with its fork server; how is not known/);
  } finally {
    await own.client.close();
  }
});

// The process state letter of a pid, or '' when it is gone ('Z': ended, not yet reaped).
function processState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return '';
  }
}

test("a fork bomb is capped and a setsid() grandchild ends with its runner (the instance's pids cgroup)", async (t) => {
  if (!/pids cgroup v[12] \(/.test(conn.stderr())) {
    // Needs root or a delegated cgroup subtree; the startup log names what is missing.
    await assertLogMatches(conn.stderr, /pids cgroup \(task cap for the whole tree/);
    t.skip('no writable pids cgroup on this machine');
    return;
  }
  const bomb = await attempt('fork_bomb');
  assert.equal(bomb.ok, false, bomb.detail);
  const daemon = await attempt('daemon');
  assert.equal(daemon.ok, true, daemon.detail);
  const pid = Number(daemon.detail);
  assert.notEqual(processState(pid), '', 'the grandchild runs');
  const r = await conn.client.callTool({ name: 'esc_crash', arguments: { how: 'segv' } });
  assert.equal(r.isError, true);
  for (let i = 0; i < 100 && !['', 'Z'].includes(processState(pid)); ++i)
    await new Promise((resolve) => setTimeout(resolve, 20));
  assert.ok(['', 'Z'].includes(processState(pid)), `the setsid() grandchild ${pid} survived its runner`);
  await echoAnswers();
});

test('calls to one isolated instance run side by side, with live progress and cancellation', async () => {
  // The runner runs a call inline on the thread that read it; one that runs on (here a
  // 10 s count) must not hold up the instance's next calls or its own progress.
  const progress = [];
  const controller = new AbortController();
  let slowSettled = false;
  const slow = conn.client
    .callTool({ name: 'echo_slow', arguments: { steps: 100, delay_ms: 100 } }, undefined, {
      signal: controller.signal,
      onprogress: (p) => progress.push(p),
    })
    .finally(() => {
      slowSettled = true;
    });
  while (progress.length < 2) await new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < 5; ++i) await echoAnswers();
  assert.equal(slowSettled, false, 'the echo calls were answered while the slow call ran');
  controller.abort();
  await assert.rejects(slow);
  await echoAnswers();
});

test('a call spinning past call_timeout is ended and the host says so', async () => {
  // Sent together with another call, so most likely in one read: then no host thread
  // waits on the spinning call (the host sends it, and the thread that reads the runner's
  // replies finishes it), and that reader keeps its call_timeout. The stall test below
  // covers a call that a host thread waits on.
  const started = Date.now();
  const [r, echoed] = await Promise.all([
    conn.client.callTool({ name: 'esc_crash', arguments: { how: 'spin' } }),
    conn.client.callTool({ name: 'echo_echo', arguments: { text: 'alongside' } }),
  ]);
  assert.equal(echoed.content[0].text, 'alongside');
  assert.equal(r.isError, true);
  assert.match(r.content[0].text, /call_timeout/);
  assert.ok(Date.now() - started < 15_000);
  await echoAnswers();
});

test('a runner that stops inside a frame is ended at call_timeout, not waited on forever', async () => {
  // The call writes half a frame onto its channel and then waits forever: the host's
  // thread reading that channel must still see the call's limits.
  const started = Date.now();
  const r = await conn.client.callTool({ name: 'esc_crash', arguments: { how: 'stall' } });
  assert.equal(r.isError, true);
  assert.match(r.content[0].text, /call_timeout/);
  assert.ok(Date.now() - started < 15_000);
  await echoAnswers();
});

test("a plugin flooding the host's log gets its budget, and the log says how much it lost", async () => {
  const count = (re) => (conn.stderr().match(re) ?? []).length;
  for (let round = 0; round < 2; ++round) {
    const r = await conn.client.callTool({ name: 'esc_crash', arguments: { how: 'flood' } });
    assert.equal(r.content[0].text, 'flooded', JSON.stringify(r));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await echoAnswers();
  // 40,000 lines each way; a budget of 2,000 at once and 200 a second lets a few thousand by.
  await assertLogMatches(conn.stderr, /\[esc\] \d+ log lines dropped/);
  await assertLogMatches(conn.stderr, /\[esc\] \d+ lines of runner output dropped/);
  const logged = count(/FLOOD-LOG/g), output = count(/FLOOD-OUT/g);
  assert.ok(logged > 0 && logged < 6000, `plugin log lines in the host log: ${logged}`);
  assert.ok(output > 0 && output < 6000, `runner output lines in the host log: ${output}`);
});

test('a runner that stops reading its channel is ended, not written to forever', async () => {
  const frozen = await conn.client.callTool({ name: 'esc_crash', arguments: { how: 'freeze' } });
  assert.equal(frozen.content[0].text, 'freezing');
  await new Promise((r) => setTimeout(r, 500));
  // 4 MB of arguments fill the stopped runner's socket buffer many times over.
  const started = Date.now();
  const r = await conn.client.callTool({ name: 'esc_crash', arguments: { how: 'x'.repeat(4_000_000) } });
  assert.equal(r.isError, true);
  assert.match(r.content[0].text, /stopped reading its channel \(a frame could not leave in 3 s\)/);
  assert.ok(Date.now() - started < 15_000);
  await echoAnswers();
});

test('a burst of calls to a runner that stops reading never holds up the host', async () => {
  const frozen = await conn.client.callTool({ name: 'burst_crash', arguments: { how: 'freeze' } });
  assert.equal(frozen.content[0].text, 'freezing');
  await new Promise((r) => setTimeout(r, 500));
  // 48 calls of 8 KB sent at once: the host holds a burst's frames to write them together
  // (loader/runner_channel.hpp); more than the frozen runner's socket buffer takes stays
  // held or waits for a worker. The client's reader is held up by none of it.
  const started = Date.now();
  const burst = Array.from({ length: 48 }, (_, i) =>
    conn.client.callTool({ name: 'burst_crash', arguments: { how: `${i}:${'x'.repeat(8000)}` } }),
  );
  await echoAnswers();
  const echoed = Date.now() - started;
  assert.ok(echoed < 2000, `another instance answered only after ${echoed} ms`);
  // Calls the frozen runner had are ended with it; one still waiting for a worker when it
  // ended may run on its successor.
  let ended = 0;
  for (const r of await Promise.all(burst)) {
    if (!r.isError) {
      assert.equal(r.content[0].text, 'survived', JSON.stringify(r).slice(0, 300));
      continue;
    }
    assert.match(r.content[0].text, /stopped reading its channel|call_timeout/);
    ++ended;
  }
  assert.ok(ended > 0, 'no call was ended with the frozen runner');
  assert.ok(Date.now() - started < 15_000);
  // The next call starts a new runner.
  const again = await conn.client.callTool({ name: 'burst_crash', arguments: { how: 'fine' } });
  assert.equal(again.content[0].text, 'survived');
});

test('more slow calls at once than the runner may start threads: each answers, none ends it', async () => {
  // A thread per call that runs long, up to max_processes tasks (8 here): past it the calls
  // wait in the channel for a thread to come free instead of ending the runner.
  const pidsBefore = runnerPids();
  const calls = Array.from({ length: 24 }, () =>
    conn.client.callTool({ name: 'few_slow', arguments: { steps: 1, delay_ms: 300 } }),
  );
  for (const r of await Promise.all(calls)) {
    assert.equal(r.isError, undefined, JSON.stringify(r));
    assert.equal(r.content[0].text, 'completed 1 steps');
  }
  assert.deepEqual(runnerPids(), pidsBefore, 'a runner ended (or started) during the calls');
  assert.doesNotMatch(conn.stderr(), /instance 'few' stopped/);
});

test('a runner stuck in create or describe is ended at call_timeout and its instance skipped', async () => {
  for (const [name, step] of [['hang_describe', 'describe'], ['hang_create', 'create']]) {
    await assertLogMatches(() => conn.stderr(), new RegExp(`instance '${name}' .*skipped: .*${step} exceeded call_timeout \\(1 s\\)`));
  }
  const { tools } = await conn.client.listTools();
  assert.ok(!tools.some((t) => t.name.startsWith('hang_')), JSON.stringify(tools.map((t) => t.name)));
  await echoAnswers();
});

test('plugins inspect runs the plugin in a sandboxed runner, not in the CLI', async () => {
  const bin = await keyholdBin();
  const plugin = path.join(PLUGIN_DIR, 'escape.so');
  const shown = await run(bin, ['plugins', 'inspect', '--json', plugin], { env: sandbox.env });
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(JSON.parse(shown.stdout).name, 'escape');
  // Without a runner it cannot show anything: the plugin never entered the CLI's process.
  const env = { ...sandbox.env, KEYHOLD_RUNNER: '/nonexistent/keyhold-runner' };
  const refused = await run(bin, ['plugins', 'inspect', plugin], { env });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cannot run \/nonexistent\/keyhold-runner/);
  const trusted = await run(bin, ['plugins', 'inspect', '--in-process', '--json', plugin], { env });
  assert.equal(trusted.code, 0, trusted.stderr);
});
