// The sql connector over SQLite, through `keyhold serve` and the official SDK client:
// catalog tools, queries with params, types, row_limit, read-only enforcement (checked by
// a separate sqlite3 connection), timeout, cancellation, resources, the demo database.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { connectSdk, instanceToml, makeSandbox, pluginPath, run, waitForFile } from '../e2e/helpers.mjs';
import { assertPeakGrowthBelow, call, ok, PEAK_GROWTH_LIMIT, peakMemoryOfTree, refused, sandboxToml, textOf } from './sql_helpers.mjs';

const FIXTURE_SQL = `
CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, data BLOB, note TEXT);
INSERT INTO t (name, score, data, note) VALUES ('alpha', 1.5, x'0102ff', NULL), ('beta', -2.25, NULL, 'b');
CREATE TABLE big (n INTEGER NOT NULL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20) INSERT INTO big SELECT x FROM c;
CREATE VIRTUAL TABLE ft USING fts3(body, tokenize=simple);
INSERT INTO ft (body) VALUES ('keyhold vault'), ('sandboxed runner');
CREATE VIEW tokenizer_view AS SELECT hex(fts3_tokenizer('simple')) AS address;
`;

async function sqlite3(file, sql) {
  const r = await run('sqlite3', [file, sql]);
  assert.equal(r.code, 0, `sqlite3 ${sql}: ${r.stderr}`);
  return r.stdout.trim();
}

// Adds `schemas = [...]` to the options table an instanceToml() text ends with.
const withSchemas = (toml, schemas) => `${toml.trimEnd()}\nschemas = ${JSON.stringify(schemas)}\n\n`;

const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';

describe('sql connector: SQLite', () => {
  let sandbox;
  let conn;
  let client;
  let fixture;
  let writable;

  let demoDir;

  before(async () => {
    sandbox = makeSandbox('keyhold-sql-sqlite-');
    // Each instance runs in its own sandboxed keyhold-runner: the read-only ones may read
    // the fixture file and nothing else of the test's folder, the writable one may write
    // only the folder of its database (SQLite creates its journal next to it), the demo
    // only its data_dir (it creates demo.sqlite there).
    const dir = (name) => {
      const d = path.join(sandbox.dir, name);
      mkdirSync(d);
      return d;
    };
    fixture = path.join(dir('ro'), 'fixture.sqlite');
    const rwDir = dir('rw');
    writable = path.join(rwDir, 'writable.sqlite');
    demoDir = dir('demo');
    await sqlite3(fixture, FIXTURE_SQL);
    await sqlite3(writable, FIXTURE_SQL);
    await waitForFile(pluginPath('sql'));
    const readFixture = (name) => sandboxToml(name, { read: [fixture] });
    const config = sandbox.writeConfig(
      instanceToml('ro', pluginPath('sql'), {
        options: { backend: 'sqlite', path: fixture, row_limit: 5, statement_timeout: '1s' },
      }) +
        readFixture('ro') +
        instanceToml('slow', pluginPath('sql'), { options: { path: fixture, statement_timeout: 60 } }) +
        readFixture('slow') +
        instanceToml('rw', pluginPath('sql'), { options: { path: writable, read_only: false } }) +
        sandboxToml('rw', { write: [rwDir] }) +
        // A relative path resolves against data_dir: the runner's environment has no
        // XDG_DATA_HOME or HOME to resolve it against.
        instanceToml('demo', pluginPath('sql'), { options: { path: 'demo.sqlite', data_dir: demoDir, create_demo: true } }) +
        sandboxToml('demo', { write: [demoDir] }) +
        withSchemas(instanceToml('mainonly', pluginPath('sql'), { options: { path: fixture } }), ['main']) +
        readFixture('mainonly') +
        withSchemas(instanceToml('nomain', pluginPath('sql'), { options: { path: fixture } }), ['temp']) +
        readFixture('nomain') +
        // row_limit as high as it goes: only max_result_bytes (default 4 MiB) stands
        // between a 100 MB result and the host.
        instanceToml('bulk', pluginPath('sql'), { options: { path: fixture, row_limit: 100000, statement_timeout: '30s' } }) +
        readFixture('bulk'),
    );
    conn = await connectSdk(sandbox, config);
    client = conn.client;
  });

  after(async () => {
    await client?.close();
    sandbox?.cleanup();
  });

  test('read-only instances offer no execute tool; annotations are truthful', async () => {
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    for (const t of ['list_schemas', 'list_tables', 'describe_table', 'query', 'explain']) {
      assert.ok(byName[`ro_${t}`], `ro_${t} listed`);
      assert.equal(byName[`ro_${t}`].annotations.readOnlyHint, true);
      assert.equal(byName[`ro_${t}`].annotations.destructiveHint, false);
    }
    assert.equal(byName.ro_execute, undefined, 'read-only instance must not offer execute');
    assert.equal(byName.rw_execute.annotations.readOnlyHint, false);
    assert.equal(byName.rw_execute.annotations.destructiveHint, true);
    assert.ok(byName.ro_query.outputSchema, 'query declares an outputSchema');
    assert.match(byName.mainonly_query.description, /Reads only schemas main; statements that read other schemas are refused/);
    assert.doesNotMatch(byName.ro_query.description, /Reads only schemas/);
  });

  test('the demo database is created in data_dir and served', async () => {
    assert.ok(existsSync(path.join(demoDir, 'demo.sqlite')));
    const { schemas } = await ok(client, 'demo_list_schemas');
    assert.deepEqual(schemas, ['main']);
    const { tables } = await ok(client, 'demo_list_tables');
    const names = tables.map((t) => t.name);
    for (const n of ['customers', 'orders', 'order_items', 'products', 'order_totals']) assert.ok(names.includes(n), n);
  });

  test('describe_table shows columns, nullability, primary and foreign keys, indexes', async () => {
    const d = await ok(client, 'demo_describe_table', { table: 'orders' });
    assert.equal(d.schema, 'main');
    const col = Object.fromEntries(d.columns.map((c) => [c.name, c]));
    assert.equal(col.customer_id.type, 'INTEGER');
    assert.equal(col.customer_id.nullable, false);
    assert.equal(col.note.nullable, true);
    assert.deepEqual(d.primary_key, ['id']);
    assert.deepEqual(d.foreign_keys.map((f) => [f.columns, f.references_table, f.references_columns, f.on_delete]), [
      [['customer_id'], 'customers', ['id'], 'CASCADE'],
    ]);
    const idx = d.indexes.find((i) => i.name === 'orders_by_customer');
    assert.deepEqual(idx.columns, ['customer_id', 'ordered_at']);
    const items = await ok(client, 'demo_describe_table', { table: 'order_items', schema: 'main' });
    assert.deepEqual(items.primary_key, ['order_id', 'product_id']);
    await refused(client, 'demo_describe_table', { table: 'nosuch' }, /no such table/);
  });

  test('query binds params and returns structured rows plus a text table', async () => {
    const r = await call(client, 'demo_query', {
      sql: 'SELECT name, country FROM customers WHERE country = ? ORDER BY id',
      params: ['US'],
    });
    assert.ok(!r.isError, textOf(r));
    assert.deepEqual(r.structuredContent.columns, [
      { name: 'name', type: 'TEXT' },
      { name: 'country', type: 'TEXT' },
    ]);
    assert.deepEqual(r.structuredContent.rows, [
      ['Grace Hopper', 'US'],
      ['Barbara Liskov', 'US'],
    ]);
    assert.equal(r.structuredContent.truncated, false);
    assert.equal(r.structuredContent.row_count, 2);
    assert.match(textOf(r), /name\s+\| country\n-+-\+-+\nGrace Hopper\s+\| US/);
    assert.match(textOf(r), /\(2 rows\)/);
    // A parameter is a value, never SQL.
    const inj = await ok(client, 'demo_query', { sql: 'SELECT count(*) FROM customers WHERE name = ?', params: ["x' OR '1'='1"] });
    assert.deepEqual(inj.rows, [[0]]);
  });

  test('types: integer, float, text, null, blob (base64), and blob params', async () => {
    const r = await ok(client, 'ro_query', {
      sql: "SELECT 42 AS i, 1.5 AS f, 'txt' AS s, NULL AS n, x'0102ff' AS b, 9007199254740993 AS big",
    });
    assert.deepEqual(r.rows, [[42, 1.5, 'txt', null, { base64: 'AQL/' }, 9007199254740993]]);
    const rows = await ok(client, 'ro_query', { sql: 'SELECT name, score, data, note FROM t ORDER BY id' });
    assert.deepEqual(rows.rows, [
      ['alpha', 1.5, { base64: 'AQL/' }, null],
      ['beta', -2.25, null, 'b'],
    ]);
    const p = await ok(client, 'ro_query', { sql: 'SELECT name FROM t WHERE data = ?', params: [{ base64: 'AQL/' }] });
    assert.deepEqual(p.rows, [['alpha']]);
    const typed = await ok(client, 'ro_query', { sql: 'SELECT typeof(?), typeof(?), typeof(?), typeof(?)', params: [7, 2.5, 'x', null] });
    assert.deepEqual(typed.rows, [['integer', 'real', 'text', 'null']]);
  });

  test('row_limit cuts the result and says so', async () => {
    const r = await call(client, 'ro_query', { sql: 'SELECT n FROM big ORDER BY n' });
    assert.equal(r.structuredContent.truncated, true);
    assert.equal(r.structuredContent.row_count, 5);
    assert.deepEqual(r.structuredContent.rows, [[1], [2], [3], [4], [5]]);
    assert.match(textOf(r), /Truncated: .*first 5 \(row_limit\)/);
    const exact = await ok(client, 'ro_query', { sql: 'SELECT n FROM big WHERE n <= 5' });
    assert.equal(exact.truncated, false, 'exactly row_limit rows is not truncated');
  });

  test('read-only: every write attempt is refused and the data is unchanged', async () => {
    const before = await sqlite3(fixture, 'SELECT count(*) FROM t; SELECT count(*) FROM big;');
    const attacks = [
      ['COMMIT; DROP TABLE t', /not authorized|more than one statement/],
      ['SELECT 1; DELETE FROM t', /more than one statement/],
      ['SELECT 1; DROP TABLE t; --', /more than one statement/],
      ['ROLLBACK; DELETE FROM t', /not authorized|more than one statement/],
      ['DROP TABLE t', /read-only/],
      ['DELETE FROM t', /read-only/],
      ['INSERT INTO t (name) VALUES (\'x\')', /read-only/],
      ['WITH x AS (SELECT 1) DELETE FROM t', /read-only/],
      ['CREATE TABLE evil (x)', /read-only/],
      ["ATTACH DATABASE '" + path.join(sandbox.dir, 'other.sqlite') + "' AS other", /not authorized/],
      ['PRAGMA writable_schema = 1', /not authorized/],
      ['PRAGMA writable_schema', /not authorized/],
      ["PRAGMA journal_mode = DELETE", /not authorized/],
      ["SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so.0')", /load_extension\(\) is not allowed/],
      ['BEGIN', /not authorized/],
      ['VACUUM', /read-only|not authorized/],
    ];
    for (const [sql, pattern] of attacks) await refused(client, 'ro_query', { sql }, pattern);
    // execute is absent on a read-only instance.
    await assert.rejects(call(client, 'ro_execute', { sql: 'DELETE FROM t' }));
    assert.equal(await sqlite3(fixture, 'SELECT count(*) FROM t; SELECT count(*) FROM big;'), before);
    assert.ok(!existsSync(path.join(sandbox.dir, 'other.sqlite')), 'ATTACH created no file');
    // Informational pragmas still work.
    const info = await ok(client, 'ro_query', { sql: "SELECT name FROM pragma_table_info('t') ORDER BY cid" });
    assert.equal(info.rows[0][0], 'id');
  });

  test('SQL functions that reach past the statement are refused: fts3_tokenizer cannot leak or plant a pointer', async () => {
    // The known route from a read-only SELECT to a host crash: read a tokenizer's address,
    // overwrite it with bytes from SQL, then use a full-text table not opened yet.
    const pointer = /refused: the SQLite function fts3_tokenizer\(\) is not allowed on this connector: it returns the address/;
    const tokenizerAttacks = [
      "SELECT fts3_tokenizer('porter')",
      "SELECT hex(fts3_tokenizer('simple'))",
      "SELECT FTS3_Tokenizer('simple', x'4141414141414141')",
      "SELECT 1 WHERE fts3_tokenizer('simple', x'4141414141414141') IS NOT NULL",
      "SELECT (SELECT fts3_tokenizer('simple', x'4141414141414141'))",
    ];
    for (const sql of tokenizerAttacks) await refused(client, 'ro_query', { sql }, pointer);
    for (const sql of tokenizerAttacks) await refused(client, 'rw_execute', { sql }, pointer);
    await refused(client, 'ro_explain', { sql: "SELECT fts3_tokenizer('porter')" }, pointer);
    // Also through a view the database file defines (the view is the attacker's).
    await refused(client, 'ro_query', { sql: 'SELECT address FROM tokenizer_view' }, /fts3_tokenizer|unsafe use/);
    // The other refused functions of Debian's build, each with its reason.
    for (const [sql, why] of [
      ["SELECT rtreenode(2, x'00000000')", /rtreenode\(\) is not allowed on this connector: it parses a blob/],
      ['SELECT rtreedepth(x\'0000\')', /rtreedepth\(\) is not allowed/],
      ["SELECT rtreecheck('t')", /rtreecheck\(\) is not allowed/],
      ["SELECT sqlite_log(1, 'x')", /sqlite_log\(\) is not allowed/],
      ['SELECT optimize(ft) FROM ft', /optimize\(\) is not allowed/],
      ['SELECT fts5(NULL)', /fts5\(\) is not allowed/],
    ])
      await refused(client, 'ro_query', { sql }, why);
    // The full-text table still works, so the host and its tokenizers are intact.
    assert.deepEqual((await ok(client, 'ro_query', { sql: "SELECT body FROM ft WHERE ft MATCH 'vault'" })).rows, [['keyhold vault']]);
    assert.deepEqual((await ok(client, 'rw_query', { sql: "SELECT snippet(ft) FROM ft WHERE ft MATCH 'runner'" })).rows, [['sandboxed <b>runner</b>']]);
    // Ordinary functions are untouched, and the function list itself may be read.
    const fns = await ok(client, 'ro_query', { sql: "SELECT count(*) FROM pragma_function_list WHERE name IN ('abs', 'json_extract', 'fts3_tokenizer')" });
    assert.ok(fns.rows[0][0] >= 3);
    assert.deepEqual((await ok(client, 'ro_query', { sql: "SELECT abs(-2), json_extract('{\"a\":1}', '$.a'), upper('x')" })).rows, [[2, 1, 'X']]);
  });

  test('max_result_bytes: a 100 MB result is cut at 4 MiB, says so, and host memory stays bounded', async () => {
    const before = peakMemoryOfTree(conn.transport.pid);
    const started = Date.now();
    // 100,000 rows of about 1 KB each: 100 MB of JSON if nothing stopped it.
    const r = await call(client, 'bulk_query', {
      sql: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) SELECT x, hex(randomblob(500)) AS payload FROM c',
    });
    assert.ok(!r.isError, textOf(r));
    const s = r.structuredContent;
    assert.equal(s.truncated, true);
    assert.equal(s.truncated_by, 'max_result_bytes');
    const bytes = JSON.stringify(s.rows).length;
    assert.ok(bytes <= 4 * 1024 * 1024 && bytes > 4 * 1024 * 1024 - 2048, `rows take ${bytes} bytes as JSON`);
    assert.equal(s.row_count, s.rows.length);
    assert.deepEqual(s.rows.slice(0, 3).map((row) => row[0]), [1, 2, 3]);
    assert.match(textOf(r), new RegExp(`Truncated: the rows reached max_result_bytes \\(4194304 bytes as JSON\\) after ${s.row_count} rows; the rest were not read`));
    // One value larger than the whole budget: not copied, no rows, and said so.
    const one = await call(client, 'bulk_query', { sql: "SELECT printf('%.*c', 12000000, 'x') AS huge" });
    assert.ok(!one.isError, textOf(one));
    assert.deepEqual([one.structuredContent.row_count, one.structuredContent.truncated_by], [0, 'max_result_bytes']);
    // Nor can SQLite build a value past 8 x max_result_bytes (32 MiB here).
    await refused(client, 'bulk_query', { sql: 'SELECT length(zeroblob(100000000))' }, /string or blob too big \(one value may hold at most 33554432 bytes/);
    // The same 100 MB through GROUP BY and a wide row.
    const wide = await call(client, 'bulk_query', {
      sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000) SELECT x, printf('%.*c', 10000, 'y') FROM c GROUP BY x",
    });
    assert.equal(wide.structuredContent.truncated_by, 'max_result_bytes');
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
    // The host and each runner grew by far less than the 100 MB that were asked for.
    assertPeakGrowthBelow(before, peakMemoryOfTree(conn.transport.pid), PEAK_GROWTH_LIMIT, '100 MB SQLite results');
    await ok(client, 'bulk_query', { sql: 'SELECT 1' });
  });

  test('a statement past statement_timeout stops with an error', async () => {
    const started = Date.now();
    await refused(client, 'ro_query', { sql: RUNAWAY }, /statement timeout/);
    assert.ok(Date.now() - started < 10_000, 'stopped near the 1 s timeout');
    await ok(client, 'ro_query', { sql: 'SELECT 1' });
  });

  test('cancelling a running query over MCP stops it', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = call(client, 'slow_query', { sql: RUNAWAY }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await assert.rejects(pending);
    // The connection is free again at once (the statement really stopped).
    await ok(client, 'slow_query', { sql: 'SELECT 1' });
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  test('explain shows the plan', async () => {
    const r = await call(client, 'demo_explain', { sql: 'SELECT * FROM orders WHERE customer_id = ?', params: [1] });
    assert.ok(!r.isError, textOf(r));
    assert.match(textOf(r), /orders_by_customer/);
  });

  test('errors come back as isError results with the database message', async () => {
    await refused(client, 'ro_query', { sql: 'SELECT * FROM nosuch' }, /no such table: nosuch/);
    await refused(client, 'ro_query', { sql: 'SELECT ?', params: [] }, /1 parameter/);
    await refused(client, 'ro_query', { sql: '   ' }, /no SQL statement/);
  });

  test('resources: one per table with its schema as JSON', async () => {
    const { resources } = await client.listResources();
    const uris = resources.map((r) => r.uri);
    assert.ok(uris.includes('sql://demo/main/orders'), uris.join(' '));
    const read = await client.readResource({ uri: 'sql://demo/main/orders' });
    const d = JSON.parse(read.contents[0].text);
    assert.equal(read.contents[0].mimeType, 'application/json');
    assert.equal(d.name, 'orders');
    assert.ok(d.columns.some((c) => c.name === 'customer_id'));
    await assert.rejects(client.readResource({ uri: 'sql://demo/main/nosuch' }));
  });

  test('execute on a writable instance changes data; query there stays read-only', async () => {
    const r = await ok(client, 'rw_execute', { sql: 'INSERT INTO t (name, score) VALUES (?, ?)', params: ['gamma', 3] });
    assert.equal(r.rows_affected, 1);
    assert.equal(await sqlite3(writable, "SELECT score FROM t WHERE name = 'gamma'"), '3.0');
    await refused(client, 'rw_query', { sql: 'DELETE FROM t' }, /read-only/);
    await refused(client, 'rw_execute', { sql: 'DELETE FROM t; DROP TABLE big' }, /more than one statement/);
    // ALTER TABLE rewrites the schema with SQLite's internal functions: still allowed.
    for (const sql of ['CREATE TABLE r (a, c)', 'ALTER TABLE r RENAME COLUMN a TO b', 'ALTER TABLE r RENAME TO r2', 'ALTER TABLE r2 DROP COLUMN b'])
      await ok(client, 'rw_execute', { sql });
    assert.equal(await sqlite3(writable, "SELECT sql FROM sqlite_schema WHERE name = 'r2'"), 'CREATE TABLE "r2" (c)');
    assert.equal(await sqlite3(writable, 'SELECT count(*) FROM big'), '20');
    // A write whose RETURNING rows pass row_limit commits whole and says it was cut (as on
    // PostgreSQL): a write is never reported stopped once its changes are made.
    const bulk = await ok(client, 'rw_execute', {
      sql: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t (name, score) SELECT 'bulk', i FROM n RETURNING name",
    });
    assert.equal(bulk.rows_affected, 2000);
    assert.equal(bulk.truncated, true);
    assert.equal(await sqlite3(writable, "SELECT count(*) FROM t WHERE name = 'bulk'"), '2000');
    await ok(client, 'rw_execute', { sql: "DELETE FROM t WHERE name = 'bulk'" });
  });

  test('the schemas allowlist also restricts query and explain (the authorizer names the schema)', async () => {
    // Only main: its tables read as usual; the temp database is refused by name.
    assert.deepEqual((await ok(client, 'mainonly_query', { sql: 'SELECT count(*) FROM t' })).rows, [[2]]);
    assert.deepEqual((await ok(client, 'mainonly_query', { sql: 'SELECT count(*) FROM MAIN.t' })).rows, [[2]]);
    assert.deepEqual((await ok(client, 'mainonly_query', { sql: "SELECT name FROM pragma_table_info('t') ORDER BY cid" })).rows[0], ['id']);
    for (const sql of ['SELECT * FROM temp.sqlite_master', 'SELECT name FROM sqlite_temp_schema', 'PRAGMA temp.table_list'])
      await refused(client, 'mainonly_query', { sql }, /schema temp is not in this instance's `schemas` allowlist \(main\)/);
    // An allowlist without main: no table, view, pragma or plan of main, however it is named.
    const outside = /refused: schema main is not in this instance's `schemas` allowlist \(temp\); the statement uses (PRAGMA )?main\./;
    for (const sql of [
      'SELECT * FROM t',
      'SELECT count(*) FROM t',
      'SELECT 1 WHERE EXISTS (SELECT 1 FROM big)',
      'SELECT name FROM sqlite_schema',
      "SELECT name FROM pragma_table_info('t')",
      'PRAGMA table_info(t)',
    ])
      await refused(client, 'nomain_query', { sql }, outside);
    await refused(client, 'nomain_explain', { sql: 'SELECT * FROM t WHERE id = ?', params: [1] }, outside);
    await refused(client, 'nomain_explain', { sql: 'SELECT count(*) FROM t' }, outside);
    await refused(client, 'nomain_query', { sql: 'EXPLAIN QUERY PLAN SELECT count(*) FROM t' }, outside);
    assert.match(textOf(await call(client, 'mainonly_explain', { sql: 'SELECT count(*) FROM t' })), /SCAN t/);
    assert.deepEqual((await ok(client, 'nomain_query', { sql: 'SELECT 1 + 1' })).rows, [[2]]);
    assert.deepEqual((await ok(client, 'nomain_list_tables')).tables, []);
    await refused(client, 'nomain_describe_table', { table: 't' }, /not offered/);
  });
});
