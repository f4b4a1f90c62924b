// Isolation cost: the echo connector in-process vs in its own sandboxed runner, measured
// by one driver in one run (raw newline-delimited JSON-RPC over stdio, no SDK client).
// Prints sequential p50/p99, pipelined calls/s, runner RSS, and the cold start of a host
// with 10 instances, with the targets of the sandbox issue. A report, not a test.
//
// Usage: node driver.mjs --keyhold BIN --plugin ECHO_SO --dir TMP [--n 20000] [--seq 5000]
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const N = Number(args.n ?? 20000);
const SEQ = Number(args.seq ?? 5000);
const WINDOW = 64;
const STARTS = 7;

function config(isolation, instances) {
  let text = '';
  for (let i = 0; i < instances; ++i)
    text += `[instances.echo${i}]\nplugin = "${args.plugin}"\nisolation = "${isolation}"\n` +
      (i === 0 ? 'prefix = ""\n' : '');
  const file = path.join(args.dir, `${isolation}-${instances}.toml`);
  writeFileSync(file, text);
  return file;
}

function start(configFile) {
  const child = spawn(args.keyhold, ['serve', '--config', configFile], { stdio: ['pipe', 'pipe', 'ignore'] });
  let buffer = '';
  const waiters = new Map();
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      const m = JSON.parse(line);
      if (m.id !== undefined && waiters.has(m.id)) {
        waiters.get(m.id)(m);
        waiters.delete(m.id);
      }
    }
  });
  const send = (id, method, params) =>
    new Promise((resolve) => {
      waiters.set(id, resolve);
      child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    });
  return { child, send };
}

const call = (s, id) => s.send(id, 'tools/call', { name: 'echo', arguments: { text: 'hello from the isolation bench' } });

// Both hosts run side by side and the sequential calls alternate between them in blocks,
// so a change of load on the machine during the run (this VM is shared) falls on both.
const BLOCKS = 10;

async function open(isolation) {
  const s = start(config(isolation, 1));
  await s.send(0, 'initialize', { protocolVersion: '2025-11-25', capabilities: {} });
  s.id = 1;
  s.lat = [];
  for (let i = 0; i < 1000; ++i) await call(s, s.id++);
  return s;
}

async function sequential(s, calls) {
  for (let i = 0; i < calls; ++i) {
    const t = process.hrtime.bigint();
    const r = await call(s, s.id++);
    s.lat.push(Number(process.hrtime.bigint() - t) / 1000);
    if (r.result?.content?.[0]?.text === undefined) throw new Error(JSON.stringify(r));
  }
}

async function pipelined(s) {
  const t0 = process.hrtime.bigint();
  let next = 0;
  let done = 0;
  await new Promise((resolve) => {
    const pump = () => {
      while (next < N && next - done < WINDOW) {
        next += 1;
        call(s, s.id++).then(() => {
          done += 1;
          if (done === N) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  return N / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function finish(s, isolation, rate) {
  const lat = [...s.lat].sort((a, b) => a - b);
  let rss = null;
  let pss = null;
  let uss = null;
  let forkServerRss = null;
  if (isolation === 'process') {
    // The runners are the children of the host's fork server (keyhold-runner
    // --fork-server=3), itself a child of the host.
    const table = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
      .split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 3);
    const below = (pid) => table.filter(([, ppid]) => ppid === String(pid));
    const servers = below(s.child.pid).filter((f) => f.includes('--fork-server=3'));
    const runners = servers.flatMap(([pid]) => below(pid)).filter((f) => f.includes('--channel-fd=3'));
    forkServerRss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${servers[0][0]}/status`, 'utf8'))[1]) / 1024;
    const status = readFileSync(`/proc/${runners[0][0]}/status`, 'utf8');
    rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
    // RSS counts every mapped page of the shared libraries (libc, libstdc++), which exist
    // once in memory for all runners; PSS shares them out, USS is the runner's own.
    const rollup = readFileSync(`/proc/${runners[0][0]}/smaps_rollup`, 'utf8');
    const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(rollup)[1]);
    pss = kib('Pss') / 1024;
    uss = (kib('Private_Clean') + kib('Private_Dirty')) / 1024;
  }
  const hostRss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${s.child.pid}/status`, 'utf8'))[1]) / 1024;
  s.child.kill('SIGTERM');
  return { p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)], rate, rss, pss, uss, hostRss, forkServerRss };
}

async function startOnce(file) {
  const t = process.hrtime.bigint();
  const s = start(file);
  await s.send(0, 'initialize', { protocolVersion: '2025-11-25', capabilities: {} });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  s.child.kill('SIGTERM');
  await new Promise((r) => s.child.on('exit', r));
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const inHost = await open('in-process');
const isoHost = await open('process');
for (let b = 0; b < BLOCKS; ++b) {
  await sequential(inHost, Math.ceil(SEQ / BLOCKS));
  await sequential(isoHost, Math.ceil(SEQ / BLOCKS));
}
const inRate = await pipelined(inHost);
const isoRate = await pipelined(isoHost);
const inproc = finish(inHost, 'in-process', inRate);
const isolated = finish(isoHost, 'process', isoRate);
// Cold starts alternate too: in-process, isolated, in-process, ...
const coldFiles = { in: config('in-process', 10), iso: config('process', 10) };
const coldTimes = { in: [], iso: [] };
for (let i = 0; i < STARTS; ++i) {
  coldTimes.in.push(await startOnce(coldFiles.in));
  coldTimes.iso.push(await startOnce(coldFiles.iso));
}
const coldIn = median(coldTimes.in);
const coldIso = median(coldTimes.iso);
const f = (x, d = 1) => x.toFixed(d);
const verdict = (ok) => (ok ? 'PASS' : 'MISS');
console.log(`| | in-process | process | target |`);
console.log(`| --- | ---: | ---: | --- |`);
console.log(`| sequential p50 | ${f(inproc.p50)} us | ${f(isolated.p50)} us | +${f(isolated.p50 - inproc.p50)} us, <= +20 us: ${verdict(isolated.p50 - inproc.p50 <= 20)} |`);
console.log(`| sequential p99 | ${f(inproc.p99)} us | ${f(isolated.p99)} us | |`);
console.log(`| pipelined calls/s (window ${WINDOW}) | ${f(inproc.rate, 0)} | ${f(isolated.rate, 0)} | ${f((100 * isolated.rate) / inproc.rate, 0)}%, >= 60%: ${verdict(isolated.rate >= 0.6 * inproc.rate)} |`);
console.log(`| runner RSS (one echo instance) | - | ${f(isolated.rss, 2)} MiB | <= 4 MiB: ${verdict(isolated.rss <= 4)} |`);
console.log(`| runner PSS / USS (shared pages shared out / its own) | - | ${f(isolated.pss, 2)} / ${f(isolated.uss, 2)} MiB | |`);
console.log(`| host RSS | ${f(inproc.hostRss, 1)} MiB | ${f(isolated.hostRss, 1)} MiB | |`);
console.log(`| fork server RSS (one per host, forks every runner) | - | ${f(isolated.forkServerRss, 2)} MiB | |`);
console.log(`| cold start, 10 instances (median of ${STARTS}) | ${f(coldIn)} ms | ${f(coldIso)} ms | ${f(coldIso / coldIn, 2)}x, <= 2x: ${verdict(coldIso <= 2 * coldIn)} |`);
