// Drives echo tools/call over Streamable HTTP with C concurrent clients against each
// server in turn and prints requests/s, p50 and p99. Every client holds its own session
// and one keep-alive connection, sends a call, waits for the answer, checks it, repeats.
// Both servers answer with application/json (keyhold because the client accepts only
// JSON; the SDK server because it runs with enableJsonResponse, and the SDK requires the
// client to accept both).
import { readFileSync } from 'node:fs';
import http from 'node:http';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const targets = JSON.parse(args.targets); // [{ name, url, tokenEnv?, tool, accept, pid? }]
const clients = Number(args.clients ?? 64);
const perClient = Number(args.calls ?? 300);
const warmup = Number(args.warmup ?? 20);

function post(agent, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function runClient(target, index, latencies) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const base = {
    'Content-Type': 'application/json',
    Accept: target.accept,
    ...(target.tokenEnv ? { Authorization: `Bearer ${process.env[target.tokenEnv]}` } : {}),
  };
  const init = await post(agent, target.url, base, JSON.stringify({
    jsonrpc: '2.0', id: 0, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
  }));
  if (init.status !== 200) throw new Error(`${target.name}: initialize HTTP ${init.status} ${init.text}`);
  const headers = { ...base, 'Mcp-Session-Id': init.headers['mcp-session-id'], 'MCP-Protocol-Version': '2025-11-25' };
  const done = await post(agent, target.url, headers, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  if (done.status !== 202) throw new Error(`${target.name}: initialized HTTP ${done.status}`);
  for (let i = 0; i < warmup + perClient; i++) {
    const text = `client ${index} call ${i}`;
    const body = JSON.stringify({ jsonrpc: '2.0', id: i + 1, method: 'tools/call', params: { name: target.tool, arguments: { text } } });
    const started = process.hrtime.bigint();
    const res = await post(agent, target.url, headers, body);
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    if (res.status !== 200) throw new Error(`${target.name}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
    const answer = JSON.parse(res.text);
    if (answer.result?.content?.[0]?.text !== text) throw new Error(`${target.name}: wrong answer ${res.text.slice(0, 200)}`);
    if (i >= warmup) latencies.push(elapsed);
  }
  agent.destroy();
}

// utime + stime of a process in milliseconds (/proc/PID/stat, clock ticks of 10 ms).
function cpuMs(pid) {
  if (!pid) return NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function measure(target) {
  const latencies = [];
  const cpuBefore = cpuMs(target.pid);
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: clients }, (_, i) => runClient(target, i, latencies)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuPerCall = (cpuMs(target.pid) - cpuBefore) / (clients * (warmup + perClient + 2));
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  // Throughput over the measured calls only would need a barrier; the warm-up calls are
  // few and counted in, so requests/s slightly understates both servers alike.
  return {
    name: target.name,
    rps: (clients * (warmup + perClient)) / seconds,
    p50: pct(50),
    p99: pct(99),
    cpuUs: cpuPerCall * 1000,
  };
}

const results = [];
for (const target of targets) results.push(await measure(target));
const fmt = (x, d = 2) => x.toFixed(d);
console.log(`\n${clients} concurrent clients, ${perClient} measured calls each (+${warmup} warm-up)`);
console.log('server        requests/s    p50 ms    p99 ms   server CPU us/request');
for (const r of results)
  console.log(
    `${r.name.padEnd(12)}  ${fmt(r.rps, 0).padStart(10)}  ${fmt(r.p50).padStart(8)}  ${fmt(r.p99).padStart(8)}   ${fmt(r.cpuUs, 0).padStart(8)}`,
  );
const [k, s] = results;
if (k && s) {
  const speedup = k.rps / s.rps;
  const p99Ratio = k.p99 / s.p99;
  console.log(`\nthroughput keyhold/ts-sdk: ${fmt(speedup)}x  (target >= 5x)   ${speedup >= 5 ? 'PASS' : 'MISS'}`);
  console.log(`p99 keyhold/ts-sdk:        ${fmt(p99Ratio, 3)}   (target <= 0.333) ${p99Ratio <= 1 / 3 ? 'PASS' : 'MISS'}`);
  console.log(`server CPU per request ts-sdk/keyhold: ${fmt(s.cpuUs / k.cpuUs)}x (steadier than wall-clock figures on a shared machine)`);
}
