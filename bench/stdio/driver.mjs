// stdio round-trip benchmark: keyhold vs a minimal echo server built with the official
// TypeScript SDK, measured by one driver in the same run.
//
// The driver speaks raw newline-delimited JSON-RPC over the child's stdin/stdout (no SDK
// client), so its own cost per call is the same for both servers. It is a report, not a
// test: it prints figures and PASS/MISS against the targets of issue 2 and exits 0 unless
// a server misbehaves (error, wrong answer, hang, early exit).
//
// Usage: node driver.mjs --keyhold BIN --config FILE [--n 20000] [--window 64]
//                        [--starts 7] [--warmup 1000] [--sdk-server FILE]
// run.sh sets all of this up; see bench/README.md.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

const args = parseArgs(process.argv.slice(2));
const N = int(args.n ?? '20000', 'n');
const WINDOW = args.window === 'all' || args.window === '0' ? Infinity : int(args.window ?? '64', 'window');
const STARTS = int(args.starts ?? '7', 'starts');
const WARMUP = int(args.warmup ?? '1000', 'warmup');
const STALL_MS = int(args['stall-ms'] ?? '30000', 'stall-ms');
const TEXT = 'hello from the keyhold stdio bench';

if (!args.keyhold || !args.config || !args['sdk-server']) {
  fail('usage: driver.mjs --keyhold BIN --config FILE --sdk-server FILE [--n N] [--window W|all]');
}

const servers = [
  {
    label: 'keyhold',
    cmd: args.keyhold,
    argv: ['serve', '--config', args.config],
    tool: args.tool ?? 'echo_echo',
  },
  {
    label: 'ts-sdk',
    cmd: process.execPath,
    argv: [args['sdk-server']],
    tool: 'echo',
  },
];
const floorServer = args['floor-server']
  ? { label: 'floor', cmd: process.execPath, argv: [args['floor-server']], tool: 'echo' }
  : null;

// ---------------------------------------------------------------------------------------
// A child server with line framing and id -> waiter dispatch.

class Child {
  constructor(server) {
    this.server = server;
    this.waiters = new Map(); // id -> {resolve, reject, expect}
    this.buf = '';
    this.stderrTail = '';
    this.notifications = 0;
    this.lastActivity = Date.now();
    this.exited = null;
    this.proc = spawn(server.cmd, server.argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.pid = this.proc.pid;
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (chunk) => this.onData(chunk));
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (chunk) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
    });
    this.proc.stdin.on('error', () => {}); // EPIPE after an early exit surfaces via 'exit'
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = { code, signal };
        const why = new Error(
          `${server.label} exited (code ${code}, signal ${signal}) with ${this.waiters.size} ` +
            `request(s) unanswered; stderr tail:\n${this.stderrTail}`,
        );
        for (const w of this.waiters.values()) w.reject(why);
        this.waiters.clear();
        resolve(this.exited);
      });
    });
    this.proc.on('error', (e) => fail(`${server.label}: cannot spawn ${server.cmd}: ${e.message}`));
  }

  onData(chunk) {
    this.lastActivity = Date.now();
    this.buf += chunk;
    let start = 0;
    let nl;
    while ((nl = this.buf.indexOf('\n', start)) >= 0) {
      const line = this.buf.slice(start, nl);
      start = nl + 1;
      if (line.length) this.onLine(line);
    }
    this.buf = start ? this.buf.slice(start) : this.buf;
  }

  onLine(line) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      fail(`${this.server.label} wrote a line that is not JSON: ${line.slice(0, 200)}`);
    }
    if (msg.id === undefined || msg.id === null) {
      if (typeof msg.method === 'string') {
        this.notifications++;
        return;
      }
      fail(`${this.server.label} sent a message without id: ${line.slice(0, 200)}`);
    }
    if (msg.method !== undefined) {
      fail(`${this.server.label} sent an unexpected request: ${line.slice(0, 200)}`);
    }
    const w = this.waiters.get(msg.id);
    if (!w) fail(`${this.server.label} answered unknown or repeated id ${msg.id}`);
    this.waiters.delete(msg.id);
    if (msg.error) {
      w.reject(new Error(`${this.server.label} error for id ${msg.id}: ${JSON.stringify(msg.error)}`));
      return;
    }
    if (w.expect !== undefined) {
      const got = msg.result?.content?.[0]?.text;
      if (got !== w.expect || msg.result.isError) {
        w.reject(new Error(`${this.server.label} wrong answer for id ${msg.id}: ${line.slice(0, 300)}`));
        return;
      }
    }
    w.resolve(msg);
  }

  // Writes raw text; registers waiters for the ids it carries.
  expect(id, expectText) {
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { resolve, reject, expect: expectText });
    });
  }

  write(text) {
    this.proc.stdin.write(text);
  }

  // Rejects when nothing arrived for STALL_MS while requests are outstanding.
  watchdog() {
    const timer = setInterval(() => {
      if (this.waiters.size && Date.now() - this.lastActivity > STALL_MS) {
        const why = new Error(
          `${this.server.label}: no output for ${STALL_MS} ms with ${this.waiters.size} ` +
            `request(s) outstanding (hang); stderr tail:\n${this.stderrTail}`,
        );
        for (const w of this.waiters.values()) w.reject(why);
        this.waiters.clear();
      }
    }, 1000);
    timer.unref();
    return timer;
  }

  // utime + stime of the server process (all its threads), in seconds.
  cpuSeconds() {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  }

  peakRssKiB() {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) : NaN;
  }

  async close() {
    this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
    const result = await this.exitPromise;
    clearTimeout(timer);
    return result;
  }
}

// ---------------------------------------------------------------------------------------
// Messages, pre-serialized the same way for both servers.

const CLK_TCK = 100; // USER_HZ on Linux
const driverCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const INIT_ID = 'init';
const initLine =
  JSON.stringify({
    jsonrpc: '2.0',
    id: INIT_ID,
    method: 'initialize',
    params: {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'keyhold-stdio-bench', version: '1.0.0' },
    },
  }) + '\n';
const initializedLine = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n';
const callLine = (tool, id) =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${tool}","arguments":{"text":"${TEXT}"}}}\n`;

async function initialize(child) {
  const answer = child.expect(INIT_ID);
  child.write(initLine);
  const msg = await answer;
  if (!msg.result?.protocolVersion) fail(`${child.server.label}: bad initialize result`);
  child.write(initializedLine);
}

// spawn -> initialize result, one sample.
async function coldStart(server) {
  const t0 = process.hrtime.bigint();
  const child = new Child(server);
  const dog = child.watchdog();
  const answer = child.expect(INIT_ID);
  child.write(initLine);
  await answer;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  clearInterval(dog);
  await child.close();
  return ms;
}

async function sequential(child, firstId, count) {
  const tool = child.server.tool;
  const lat = new Float64Array(count);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const id = firstId + i;
    const answer = child.expect(id, TEXT);
    const s = process.hrtime.bigint();
    child.write(callLine(tool, id));
    await answer;
    lat[i] = Number(process.hrtime.bigint() - s) / 1e3; // microseconds
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, lat };
}

async function pipelined(child, firstId, count, window) {
  const tool = child.server.tool;
  const t0 = process.hrtime.bigint();
  if (window >= count) {
    const answers = [];
    let text = '';
    for (let i = 0; i < count; i++) {
      answers.push(child.expect(firstId + i, TEXT));
      text += callLine(tool, firstId + i);
    }
    child.write(text);
    await Promise.all(answers);
  } else {
    let next = 0;
    await new Promise((resolve, reject) => {
      let done = 0;
      const send = () => {
        const id = firstId + next++;
        child.expect(id, TEXT).then(() => {
          if (++done === count) resolve();
          else if (next < count) send();
        }, reject);
        child.write(callLine(tool, id));
      };
      for (let i = 0; i < window && next < count; i++) send();
    });
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function measure(server, coldMs) {
  const child = new Child(server);
  child.watchdog();
  await initialize(child);
  let id = 1;
  await sequential(child, id, WARMUP); // let each runtime (V8 JIT, caches) settle first
  id += WARMUP;
  let c0 = child.cpuSeconds();
  let d0 = driverCpu();
  const seq = await sequential(child, id, N);
  const seqCpu = { server: child.cpuSeconds() - c0, driver: driverCpu() - d0 };
  id += N;
  c0 = child.cpuSeconds();
  d0 = driverCpu();
  const pipeSeconds = await pipelined(child, id, N, WINDOW);
  const pipeCpu = { server: child.cpuSeconds() - c0, driver: driverCpu() - d0, wall: pipeSeconds };
  id += N;
  const rssKiB = child.peakRssKiB(); // before closing stdin
  const notifications = child.notifications;
  const exit = await child.close();
  const sorted = Array.from(seq.lat).sort((a, b) => a - b);
  return {
    label: server.label,
    seqRate: N / seq.seconds,
    pipeRate: N / pipeSeconds,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    cold: median(coldMs),
    coldMs,
    rssMiB: rssKiB / 1024,
    seqCpu: { ...seqCpu, wall: seq.seconds },
    pipeCpu,
    extraLinesPerCall: notifications / (WARMUP + 2 * N),
    exit,
  };
}

// ---------------------------------------------------------------------------------------

async function main() {
  // Cold starts, alternating the two servers so drift on a shared machine hits both.
  const cold = servers.map(() => []);
  for (let i = 0; i < STARTS; i++) {
    for (let s = 0; s < servers.length; s++) cold[s].push(await coldStart(servers[s]));
  }
  const results = [];
  for (let s = 0; s < servers.length; s++) results.push(await measure(servers[s], cold[s]));
  const floor = floorServer ? await measure(floorServer, [NaN]) : null;
  report(results, floor);
}

function report([kh, sdk], floor) {
  const cpu = (/^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8')) || [])[1];
  const sdkVersion = JSON.parse(
    readFileSync(new URL('../../tests/e2e/node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url)),
  ).version;
  const w = WINDOW === Infinity ? 'all' : String(WINDOW);
  const lines = [];
  lines.push(`machine: ${os.availableParallelism()} CPUs (nproc), ${cpu ?? os.cpus()[0]?.model}, ` +
    `${os.type()} ${os.release()}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  lines.push(`driver: node ${process.version}, raw JSON-RPC over stdio; ts-sdk server: ` +
    `@modelcontextprotocol/sdk ${sdkVersion} (McpServer + StdioServerTransport)`);
  lines.push(`N=${N} calls per mode, pipelined window=${w}, warmup=${WARMUP} sequential calls, ` +
    `cold start = median of ${STARTS} spawns`);
  lines.push('');
  const fmtRate = (x) => `${Math.round(x)}`;
  const fmtUs = (x) => x.toFixed(1);
  // --compare mount (bench/mount/run.sh): keyhold mounts the ts-sdk server (issue 17's
  // targets: at most +50 us p50, at least 80% of the direct pipelined throughput).
  const rows = args.compare === 'mount' ? [
    ['', 'through keyhold', 'direct', 'keyhold/direct', 'target', ''],
    ratioRow('pipelined calls/s', kh.pipeRate, sdk.pipeRate, fmtRate, '>= 0.8', (r) => r >= 0.8),
    ratioRow('sequential calls/s', kh.seqRate, sdk.seqRate, fmtRate),
    deltaRow('p50 latency (us)', kh.p50, sdk.p50, fmtUs, '<= +50 us', (d) => d <= 50),
    deltaRow('p99 latency (us)', kh.p99, sdk.p99, fmtUs),
    ratioRow('cold start (ms)', kh.cold, sdk.cold, (x) => x.toFixed(1)),
  ] : [
    ['', 'keyhold', 'ts-sdk', 'keyhold/sdk', 'target', ''],
    ratioRow('pipelined calls/s', kh.pipeRate, sdk.pipeRate, fmtRate, '>= 5', (r) => r >= 5),
    ratioRow('sequential calls/s', kh.seqRate, sdk.seqRate, fmtRate),
    ratioRow('p50 latency (us)', kh.p50, sdk.p50, fmtUs, '<= 0.333', (r) => r <= 1 / 3),
    ratioRow('p99 latency (us)', kh.p99, sdk.p99, fmtUs),
    ratioRow('cold start (ms)', kh.cold, sdk.cold, (x) => x.toFixed(1), '<= 0.1', (r) => r <= 0.1),
    ratioRow('peak RSS (MiB)', kh.rssMiB, sdk.rssMiB, (x) => x.toFixed(1), '<= 0.25', (r) => r <= 0.25),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) {
    lines.push(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd());
  }
  lines.push('');
  lines.push(`cold start samples (ms): keyhold ${kh.coldMs.map((x) => x.toFixed(1)).join(' ')}; ` +
    `ts-sdk ${sdk.coldMs.map((x) => x.toFixed(1)).join(' ')}`);
  const cpuLine = (mode, key) =>
    `${mode}: server CPU per call keyhold ${((kh[key].server / N) * 1e6).toFixed(1)} us, ` +
    `ts-sdk ${((sdk[key].server / N) * 1e6).toFixed(1)} us; driver busy ` +
    `${pct(kh[key].driver / kh[key].wall)} (keyhold run), ${pct(sdk[key].driver / sdk[key].wall)} (ts-sdk run)`;
  lines.push(cpuLine('pipelined', 'pipeCpu'));
  lines.push(cpuLine('sequential', 'seqCpu'));
  if (floor) {
    lines.push(`floor (driver + pipes + kernel; raw Node responder, no MCP library): ` +
      `pipelined ${fmtRate(floor.pipeRate)} calls/s, sequential ${fmtRate(floor.seqRate)} calls/s, ` +
      `p50 ${fmtUs(floor.p50)} us, p99 ${fmtUs(floor.p99)} us`);
  }
  lines.push(`server notifications per call (not requested, read and skipped by the driver): ` +
    `keyhold ${kh.extraLinesPerCall.toFixed(2)}, ts-sdk ${sdk.extraLinesPerCall.toFixed(2)}`);
  for (const r of [kh, sdk]) {
    if (r.exit.code !== 0) lines.push(`note: ${r.label} exited with code ${r.exit.code}, signal ${r.exit.signal}`);
  }
  console.log(lines.join('\n'));
}

// The difference a - b instead of the ratio (shown as +x us).
function deltaRow(name, a, b, fmt, target = '', pass) {
  const d = a - b;
  return [name, fmt(a), fmt(b), `${d >= 0 ? '+' : ''}${d.toFixed(1)} us`, target, pass ? (pass(d) ? 'PASS' : 'MISS') : ''];
}

function ratioRow(name, a, b, fmt, target = '', pass) {
  const r = a / b;
  return [name, fmt(a), fmt(b), r.toFixed(3), target, pass ? (pass(r) ? 'PASS' : 'MISS') : ''];
}

function pct(x) {
  return `${Math.round(x * 100)}%`;
}

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function median(xs) {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) fail(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else out[a.slice(2)] = argv[++i];
  }
  return out;
}

function int(text, name) {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 0) fail(`--${name} must be a non-negative integer, got ${text}`);
  return v;
}

function fail(message) {
  console.error(`stdio bench: ${message}`);
  process.exit(1);
}

main().catch((e) => fail(e.stack || String(e)));
