// sql round trip: keyhold's sql plugin vs @modelcontextprotocol/server-postgres, both driven
// by the official TypeScript SDK client over stdio, against one private PostgreSQL 15 (started
// here with tests/sql/pg_cluster.mjs). A report, not a test. See bench/sql/README.md.
//
// Prints, in one run: sequential calls/s, p50 and p99 of a 100-row SELECT for each server and
// the ratio keyhold/server-postgres (target >= 3x throughput); CPU per call of the client, the
// MCP server and the PostgreSQL backend (where the time goes); and rows/s for reading a
// 100k-row table page by page (keyset pagination with a bound parameter) through keyhold,
// with the same pages through server-postgres (literal keys: it takes no params) beside it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { run } from '../../tests/e2e/helpers.mjs';
import { PgCluster } from '../../tests/sql/pg_cluster.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const MODULES = path.join(ROOT, 'tests', 'e2e', 'node_modules');
const sdk = (file) => import(pathToFileURL(path.join(MODULES, '@modelcontextprotocol', 'sdk', 'dist', 'esm', file)).href);
const { Client } = await sdk('client/index.js');
const { StdioClientTransport } = await sdk('client/stdio.js');

const { values: opt } = parseArgs({
  options: {
    keyhold: { type: 'string' },
    plugin: { type: 'string' },
    n: { type: 'string', default: '3000' },
    warmup: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '6' },
    page: { type: 'string', default: '1000' },
    scans: { type: 'string', default: '3' },
  },
});
const N = Number(opt.n);
const WARMUP = Number(opt.warmup);
const ROUNDS = Number(opt.rounds);
const PAGE = Number(opt.page);
const SCANS = Number(opt.scans);
const TABLE_ROWS = 100_000;
const SERVER_POSTGRES = path.join(MODULES, '@modelcontextprotocol', 'server-postgres', 'dist', 'index.js');
const version = (dir) => JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;

const ROUND_TRIP_SQL = 'SELECT id, name, amount, created, active FROM items ORDER BY id LIMIT 100';
const PAGE_SQL = `SELECT id, name, amount, created, active FROM items WHERE id > $1 ORDER BY id LIMIT ${PAGE}`;

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
// utime + stime of a process in seconds (/proc/<pid>/stat fields 14 and 15).
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}
// The CPU of a process and of every descendant still running (keyhold's sandboxed runner
// does the plugin's work in a child process).
function treeCpuSeconds(pid) {
  let total = cpuSeconds(pid);
  let children = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`))
      children.push(...readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  } catch {
    // gone
  }
  for (const child of children) total += treeCpuSeconds(child);
  return total;
}
const clientCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

// One MCP server behind the SDK client, with the PIDs whose CPU we account to it.
class Server {
  constructor(label, command, args, env, call, rows) {
    Object.assign(this, { label, command, args, env, call, rows });
    this.latencies = [];
    this.wall = 0;
    this.cpu = { client: 0, server: 0, backend: 0 };
  }

  async start(pg) {
    this.transport = new StdioClientTransport({ command: this.command, args: this.args, env: this.env, stderr: 'pipe' });
    this.stderr = '';
    this.transport.stderr?.on('data', (c) => (this.stderr += c.toString('utf8')));
    this.client = new Client({ name: 'keyhold-sql-bench', version: '1.0.0' }, { capabilities: {} });
    await this.client.connect(this.transport);
    const { tools } = await this.client.listTools(); // as a real client would (caches outputSchemas)
    this.tools = tools.map((t) => t.name);
    this.pg = pg;
  }

  // The PostgreSQL backends serving this server (by application_name), for their CPU time.
  async backendPids() {
    const out = await this.pg.psql(`SELECT pid FROM pg_stat_activity WHERE application_name = '${this.appName}'`);
    return out.split('\n').filter(Boolean).map(Number);
  }

  async roundTrip(count, record) {
    const pids = record ? await this.backendPids() : [];
    const before = { client: clientCpu(), server: treeCpuSeconds(this.transport.pid), backend: pids.map(cpuSeconds) };
    const started = performance.now();
    for (let i = 0; i < count; ++i) {
      const t = performance.now();
      const r = await this.call(this.client, ROUND_TRIP_SQL, []);
      if (record) this.latencies.push(performance.now() - t);
      else if ((this.bytes ??= JSON.stringify(r).length) && this.rows(r).length !== 100) throw new Error(`${this.label}: expected 100 rows, got ${JSON.stringify(r).slice(0, 300)}`);
    }
    if (!record) return;
    this.wall += (performance.now() - started) / 1000;
    this.cpu.client += clientCpu() - before.client;
    this.cpu.server += treeCpuSeconds(this.transport.pid) - before.server;
    const after = pids.map(cpuSeconds);
    this.cpu.backend += after.reduce((a, x, i) => a + x - before.backend[i], 0);
  }

  // Reads the whole table page by page (keyset: WHERE id > last key); returns seconds.
  async scan(literal) {
    let last = 0;
    let total = 0;
    const started = performance.now();
    for (;;) {
      const sql = literal ? PAGE_SQL.replace('$1', String(last)) : PAGE_SQL;
      const rows = this.rows(await this.call(this.client, sql, literal ? [] : [last]));
      total += rows.length;
      if (rows.length < PAGE) break;
      last = this.lastKey(rows);
    }
    const seconds = (performance.now() - started) / 1000;
    if (total !== TABLE_ROWS) throw new Error(`${this.label}: paging read ${total} rows, expected ${TABLE_ROWS}`);
    return seconds;
  }

  async close() {
    await this.client?.close();
  }
}

// The three keyhold setups measured, one instance per keyhold process.
const SETUPS = {
  pg: { label: 'keyhold', appName: 'keyhold-sql' },
  // With a `schemas` allowlist: each query is first checked with EXPLAIN.
  pgs: { label: 'keyhold+schemas', appName: 'keyhold-sql-schemas', options: 'schemas = ["public"]\n' },
  // In the host's own process (no sandboxed runner): what isolation costs.
  pgi: { label: 'keyhold in-process', appName: 'keyhold-sql-in-process', isolation: 'in-process' },
};

function keyholdServer(bin, plugin, pg, dir, instance = 'pg') {
  mkdirSync(path.join(dir, 'xdg-config'), { recursive: true });
  mkdirSync(path.join(dir, 'xdg-data'), { recursive: true });
  const config = path.join(dir, 'keyhold.toml');
  const setup = SETUPS[instance];
  // Defaults otherwise (log level, workers, pool_size 4); the Unix socket with trust auth,
  // like server-postgres below, so no password is involved on either side.
  writeFileSync(config, `[instances.${instance}]
plugin = ${JSON.stringify(plugin)}
${setup.isolation ? `isolation = "${setup.isolation}"\n` : ''}[instances.${instance}.options]
backend = "postgres"
host = ${JSON.stringify(pg.socketDir)}
port = ${pg.port}
dbname = "bench"
user = "bench"
row_limit = ${PAGE}
application_name = "${setup.appName}"
${setup.options ?? ''}# The bench's role owns its database (as server-postgres uses it); a real instance would
# connect as a role without those powers (connectors/sql/README.md).
allow_privileged_role = true
# The sandboxed runner (the default isolation) reaches PostgreSQL's Unix socket only with this.
[instances.${instance}.sandbox]
unix_sockets = true
`);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'xdg-config'), XDG_DATA_HOME: path.join(dir, 'xdg-data'), LANG: 'C.UTF-8' };
  const s = new Server(setup.label, bin, ['serve', '--config', config], env,
    (client, sql, params) => client.callTool({ name: `${instance}_query`, arguments: { sql, params } }),
    (r) => {
      if (r.isError) throw new Error(`keyhold: ${r.content?.[0]?.text}`);
      return r.structuredContent.rows;
    });
  s.appName = setup.appName;
  s.lastKey = (rows) => rows[rows.length - 1][0];
  return s;
}

function serverPostgres(pg) {
  const url = `postgresql://bench@localhost/bench?host=${encodeURIComponent(pg.socketDir)}&port=${pg.port}&application_name=server-postgres`;
  const s = new Server('server-postgres', process.execPath, [SERVER_POSTGRES, url],
    { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
    (client, sql) => client.callTool({ name: 'query', arguments: { sql } }),
    (r) => {
      if (r.isError) throw new Error(`server-postgres: ${r.content?.[0]?.text}`);
      return JSON.parse(r.content[0].text);
    });
  s.appName = 'server-postgres';
  s.lastKey = (rows) => rows[rows.length - 1].id;
  return s;
}

// The database's share alone: pgbench (one client, no MCP, no JSON) sending the statements
// each server sends per call. Returns calls/s (pgbench's tps excluding connection time).
// `pipeline`: the statements go in one pipeline (one round trip; extended protocol only).
async function pgbenchFloor(pg, dir, name, statements, protocol, seconds, pipeline = false) {
  const script = path.join(dir, `${name}.sql`);
  const body = statements.map((s) => `${s};`);
  writeFileSync(script, (pipeline ? ['\\startpipeline', ...body, '\\endpipeline'] : body).join('\n') + '\n');
  const r = await run('/usr/lib/postgresql/15/bin/pgbench', ['-n', '-c', '1', '-T', String(seconds), '-M', protocol, '-f', script,
    '-h', pg.socketDir, '-p', String(pg.port), '-U', 'bench', 'bench'], { env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } });
  const tps = /tps = ([\d.]+)/.exec(r.stdout);
  if (r.code !== 0 || !tps) throw new Error(`pgbench ${name} failed: ${r.stderr}`);
  return Number(tps[1]);
}

const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const pad = (s, n) => String(s).padStart(n);

async function main() {
  const pg = new PgCluster();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keyhold-sql-bench-'));
  const servers = [];
  try {
    await pg.start();
    await pg.psql('CREATE ROLE bench LOGIN');
    await pg.psql('CREATE DATABASE bench OWNER bench');
    await pg.psql(`SET ROLE bench;
      CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, amount numeric(12,2) NOT NULL,
        created timestamptz NOT NULL, active bool NOT NULL);
      INSERT INTO items SELECT n, 'item ' || n, (n % 1000) * 1.25, timestamptz '2026-01-01 00:00+00' + n * interval '1 minute', n % 3 = 0
        FROM generate_series(1, ${TABLE_ROWS}) n;`, { db: 'bench' });
    await pg.psql('VACUUM ANALYZE items', { db: 'bench' });
    const pgVersion = await pg.psql('SHOW server_version');

    const keyhold = keyholdServer(opt.keyhold, opt.plugin, pg, dir);
    const reference = serverPostgres(pg);
    const scoped = keyholdServer(opt.keyhold, opt.plugin, pg, path.join(dir, 'scoped'), 'pgs');
    const inProcess = keyholdServer(opt.keyhold, opt.plugin, pg, path.join(dir, 'in-process'), 'pgi');
    servers.push(keyhold, reference, scoped, inProcess);
    for (const s of servers) await s.start(pg);
    if (!keyhold.tools.includes('pg_query')) throw new Error(`keyhold offers no pg_query: ${keyhold.tools}`);

    // Warm-up (checks every answer: 100 rows), then ROUNDS alternating measured blocks so
    // drift on a shared machine hits both servers alike.
    for (const s of servers) await s.roundTrip(WARMUP, false);
    const block = Math.ceil(N / ROUNDS);
    for (let r = 0; r < ROUNDS; ++r) for (const s of servers) await s.roundTrip(block, true);

    // Paging: one untimed warm-up scan each, then SCANS timed scans; the median is reported.
    const scans = {};
    for (const [s, literal] of [[keyhold, false], [reference, true]]) {
      await s.scan(literal);
      const times = [];
      for (let i = 0; i < SCANS; ++i) times.push(await s.scan(literal));
      times.sort((a, b) => a - b);
      scans[s.label] = { median: times[Math.floor(times.length / 2)], times };
    }

    const floorSeconds = 5;
    const floors = {
      // keyhold's one pipeline has a sync before ROLLBACK; pgbench 15 cannot send one
      // mid-pipeline, which changes nothing on this path (no statement fails).
      keyhold: await pgbenchFloor(pg, dir, 'keyhold', ['BEGIN READ ONLY', "SELECT set_config('statement_timeout', '15000', true)", ROUND_TRIP_SQL, 'ROLLBACK', 'DISCARD ALL'], 'extended', floorSeconds, true),
      reference: await pgbenchFloor(pg, dir, 'server-postgres', ['BEGIN TRANSACTION READ ONLY', ROUND_TRIP_SQL, 'ROLLBACK'], 'simple', floorSeconds),
    };

    const stat = (s) => {
      const sorted = [...s.latencies].sort((a, b) => a - b);
      const calls = s.latencies.length;
      return {
        calls,
        rate: calls / s.wall,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        client: (s.cpu.client / calls) * 1e6,
        server: (s.cpu.server / calls) * 1e6,
        backend: (s.cpu.backend / calls) * 1e6,
        wall: (s.wall / calls) * 1e6,
      };
    };
    const k = stat(keyhold);
    const p = stat(reference);
    const sc = stat(scoped);
    const ip = stat(inProcess);
    const cpuModel = (/^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8')) || [])[1];
    const ratio = k.rate / p.rate;
    const lines = [
      `keyhold sql bench (${new Date().toISOString().slice(0, 16)}Z)`,
      `machine: ${os.availableParallelism()} CPUs (nproc), ${cpuModel}, ${os.type()} ${os.release()}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
      `PostgreSQL ${pgVersion} (private cluster, Unix socket, trust auth, fsync off); client: @modelcontextprotocol/sdk ${version(path.join(MODULES, '@modelcontextprotocol', 'sdk'))} over stdio, node ${process.version}`,
      `server-postgres ${version(path.join(MODULES, '@modelcontextprotocol', 'server-postgres'))} (query tool, {sql}); keyhold pg_query {sql, params}, row_limit ${PAGE}, pool_size 4, defaults otherwise`,
      `round trip: ${ROUND_TRIP_SQL}`,
      `  ${N} sequential calls per server after ${WARMUP} warm-up calls, in ${ROUNDS} alternating blocks`,
      '',
      `                        keyhold  server-postgres  keyhold/server-postgres   target`,
      `calls/s             ${pad(fmt(k.rate), 10)} ${pad(fmt(p.rate), 16)} ${pad(fmt(ratio, 2), 24)}   >= 2  ${ratio >= 2 ? 'PASS' : 'MISS'}`,
      `1/p50 (calls/s)     ${pad(fmt(1000 / k.p50), 10)} ${pad(fmt(1000 / p.p50), 16)} ${pad(fmt(p.p50 / k.p50, 2), 24)}   (steadier than calls/s when other jobs stall the run)`,
      `p50 latency (us)    ${pad(fmt(k.p50 * 1000), 10)} ${pad(fmt(p.p50 * 1000), 16)} ${pad(fmt(k.p50 / p.p50, 2), 24)}`,
      `p99 latency (us)    ${pad(fmt(k.p99 * 1000), 10)} ${pad(fmt(p.p99 * 1000), 16)} ${pad(fmt(k.p99 / p.p99, 2), 24)}`,
      `with a schemas allowlist (one EXPLAIN (VERBOSE, FORMAT JSON) per call first): keyhold ${fmt(sc.rate)} calls/s, p50 ${fmt(sc.p50 * 1000)} us, server CPU ${fmt(sc.server)} us/call, backend CPU ${fmt(sc.backend)} us/call`,
      `in the host's process (isolation = "in-process", no sandboxed runner): keyhold ${fmt(ip.rate)} calls/s (${fmt(ip.rate / p.rate, 2)}x server-postgres), p50 ${fmt(ip.p50 * 1000)} us, server CPU ${fmt(ip.server)} us/call, backend CPU ${fmt(ip.backend)} us/call`,
      '',
      `where the time goes, per call (us): wall | client (SDK, this process) CPU | MCP server CPU (with its children: keyhold's runner) | PostgreSQL backend CPU`,
      `  keyhold             ${pad(fmt(k.wall), 7)} | ${pad(fmt(k.client), 7)} | ${pad(fmt(k.server), 7)} | ${pad(fmt(k.backend), 7)}`,
      `  server-postgres     ${pad(fmt(p.wall), 7)} | ${pad(fmt(p.client), 7)} | ${pad(fmt(p.server), 7)} | ${pad(fmt(p.backend), 7)}`,
      `result size per call (JSON of the tools/call result): keyhold ${keyhold.bytes} bytes (structuredContent rows + a text table), server-postgres ${reference.bytes} bytes (pretty-printed JSON text)`,
      `database floor (pgbench, 1 client, ${floorSeconds} s, no MCP): keyhold's 5 statements per call in one pipeline (BEGIN READ ONLY, set_config, SELECT, ROLLBACK, DISCARD ALL; extended protocol) ${fmt(floors.keyhold)} calls/s; ` +
        `server-postgres's 3 (BEGIN READ ONLY, SELECT, ROLLBACK; simple protocol) ${fmt(floors.reference)} calls/s`,
      '',
      `paging: ${TABLE_ROWS} rows, keyset pages of ${PAGE} (${PAGE_SQL}), ${Math.ceil(TABLE_ROWS / PAGE) + 1} calls per scan, median of ${SCANS} scans after one warm-up scan`,
    ];
    for (const [label, note] of [['keyhold', 'bound $1'], ['server-postgres', 'key as a literal: no params']]) {
      const { median, times } = scans[label];
      lines.push(`  ${label.padEnd(16)} ${pad(fmt(TABLE_ROWS / median), 8)} rows/s  (${fmt(median * 1000)} ms per scan; ${note}; scans ${times.map((t) => fmt(t * 1000)).join(' ')} ms)`);
    }
    console.log(lines.join('\n'));
  } finally {
    for (const s of servers) await s.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    await pg.stop();
  }
}

await main();
