// The sql connector over a real PostgreSQL 15 (started here, see pg_cluster.mjs), through
// `keyhold serve` and the official SDK client, with the password in the keyhold vault:
// catalog tools, params, types, row_limit, every read-only escape refused (checked by a
// separate psql connection), timeout, cancellation, reconnect after a server restart,
// and a canary password that must never appear in any output, log or audit row.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { assertLogMatches, connectSdk, instanceToml, keyholdBin, makeSandbox, pluginPath, run, sleep, tomlString, waitForFile } from '../e2e/helpers.mjs';
import { PgCluster } from './pg_cluster.mjs';
import { assertPeakGrowthBelow, call, ok, PEAK_GROWTH_LIMIT, peakMemoryOfTree, refused, sandboxToml, textOf } from './sql_helpers.mjs';

const CANARY = `kh-canary-${randomBytes(9).toString('hex')}`;
const WRONG = `kh-wrong-${randomBytes(9).toString('hex')}`;

// Read-only instances whose role can act outside the transaction: instance -> [user, schemas].
// `keyhold` owns the database (so also public, through pg_database_owner) and reports.
const PRIVILEGED = {
  pgsuper: ['kh_super'],
  pgindirect: ['kh_indirect'],
  pgexec: ['kh_exec'],
  pgwfiles: ['kh_wfiles'],
  pgrfiles: ['kh_rfiles'],
  pgsignal: ['kh_signal'],
  pgrepl: ['kh_repl'],
  pgbypass: ['kh_bypass'],
  pgowner: ['keyhold', ['public', 'reports']],
  pgwide: ['keyhold_wide', ['public', 'reports']],
  pglo: ['keyhold_lo', ['public', 'reports']],
};

const SETUP = `
SET ROLE keyhold;
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  total numeric(10,2), note text);
CREATE INDEX orders_by_customer ON orders (customer_id);
CREATE TABLE t (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO customers (name, email) VALUES ('Ada', 'ada@example.com'), ('Grace', 'grace@example.com');
INSERT INTO orders (customer_id, total) VALUES (1, 12.50), (2, 99.99);
INSERT INTO t (name) VALUES ('one'), ('two'), ('three');
CREATE TABLE big AS SELECT n FROM generate_series(1, 20) n;
CREATE SCHEMA secret;
CREATE TABLE secret.codes (id int PRIMARY KEY, code text NOT NULL);
INSERT INTO secret.codes VALUES (1, 'classified');
CREATE SCHEMA reports;
CREATE VIEW reports.names AS SELECT name FROM public.t;
CREATE VIEW reports.leaky AS SELECT code FROM secret.codes;
CREATE FUNCTION sneaky() RETURNS int LANGUAGE plpgsql AS $$ BEGIN INSERT INTO t (name) VALUES ('sneaky'); RETURN 1; END $$;
`;

describe('sql connector: PostgreSQL 15', () => {
  let pg;
  let sandbox;
  let conn;
  let client;
  let largeObject;
  const outputs = []; // every result and error the client saw, for the canary check

  const keyhold = async (args, input) => {
    const r = await run(await keyholdBin(), args, { env: sandbox.env, cwd: sandbox.dir, input });
    outputs.push(r.stdout, r.stderr);
    assert.equal(r.code, 0, `keyhold ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  const tool = async (name, args, options) => {
    try {
      const r = await call(client, name, args, options);
      outputs.push(JSON.stringify(r));
      return r;
    } catch (e) {
      outputs.push(String(e?.message), JSON.stringify(e?.data ?? null));
      throw e;
    }
  };
  const pgOk = async (name, args = {}) => {
    const r = await tool(name, args);
    assert.ok(!r.isError, `${name}(${JSON.stringify(args)}) failed: ${textOf(r)}`);
    return r.structuredContent;
  };
  const pgRefused = async (name, args, pattern) => {
    const r = await tool(name, args);
    assert.equal(r.isError, true, `${name}(${JSON.stringify(args)}) should fail, got: ${textOf(r)}`);
    if (pattern) assert.match(textOf(r), pattern);
    return textOf(r);
  };
  const count = (table) => pg.psql(`SELECT count(*) FROM ${table}`, { db: 'shop' });
  // Each instance runs in its own sandboxed keyhold-runner that may open TCP connections to
  // the port it connects to and nothing else (no files to write, no other socket).
  const pgSandbox = (name, port = pg.port) => sandboxToml(name, { network: [`127.0.0.1:${port}`] });
  const pgInstance = (name, options, secret, schemas) =>
    instanceToml(name, pluginPath('sql'), {
      options: { backend: 'postgres', host: '127.0.0.1', port: pg.port, dbname: 'shop', user: 'keyhold', sslmode: 'disable', ...options },
    }).trimEnd() +
    (schemas ? `\nschemas = ${JSON.stringify(schemas)}` : '') +
    '\n\n' +
    (secret ? `[instances.${name}.secrets]\npassword = ${tomlString(secret)}\n\n` : '') +
    pgSandbox(name, options.port ?? pg.port);

  before(async () => {
    pg = new PgCluster();
    await pg.start(); // throws with the server log when PostgreSQL cannot start
    await pg.psql(`CREATE ROLE keyhold LOGIN PASSWORD '${CANARY}'`);
    await pg.psql('CREATE DATABASE shop OWNER keyhold');
    await pg.psql(SETUP, { db: 'shop' });
    // The least-privilege role the README recommends, for an allowlist of public and
    // reports: it owns nothing and may use only those schemas.
    await pg.psql(`CREATE ROLE keyhold_reader LOGIN PASSWORD '${CANARY}'`);
    await pg.psql(
      'GRANT USAGE ON SCHEMA public, reports TO keyhold_reader; ' +
        'GRANT SELECT ON ALL TABLES IN SCHEMA public, reports TO keyhold_reader',
      { db: 'shop' },
    );
    // A wider role that may also read secret: refused at connect under that allowlist,
    // unless allow_privileged_role, which the plan-check tests use (the check is then what
    // refuses reads of secret).
    await pg.psql(`CREATE ROLE keyhold_wide LOGIN PASSWORD '${CANARY}'`);
    await pg.psql(
      'GRANT USAGE ON SCHEMA public, reports, secret TO keyhold_wide; ' +
        'GRANT SELECT ON ALL TABLES IN SCHEMA public, reports, secret TO keyhold_wide',
      { db: 'shop' },
    );
    // A large object (outside every schema) the owner may read, and a role granted it.
    largeObject = await pg.psql("SET ROLE keyhold; SELECT lo_from_bytea(0, 'classified-lo'::bytea)", { db: 'shop' });
    await pg.psql(`CREATE ROLE keyhold_lo LOGIN PASSWORD '${CANARY}'`);
    await pg.psql(`GRANT USAGE ON SCHEMA public, reports TO keyhold_lo; GRANT SELECT ON LARGE OBJECT ${largeObject} TO keyhold_lo`, { db: 'shop' });
    // A role with each power that defeats a read-only transaction (and one that reaches
    // superuser only through SET ROLE).
    for (const sql of [
      `CREATE ROLE kh_super LOGIN SUPERUSER PASSWORD '${CANARY}'`,
      `CREATE ROLE kh_exec LOGIN PASSWORD '${CANARY}' IN ROLE pg_execute_server_program`,
      `CREATE ROLE kh_wfiles LOGIN PASSWORD '${CANARY}' IN ROLE pg_write_server_files`,
      `CREATE ROLE kh_rfiles LOGIN PASSWORD '${CANARY}' IN ROLE pg_read_server_files`,
      `CREATE ROLE kh_signal LOGIN PASSWORD '${CANARY}' IN ROLE pg_signal_backend`,
      `CREATE ROLE kh_repl LOGIN REPLICATION PASSWORD '${CANARY}'`,
      `CREATE ROLE kh_bypass LOGIN BYPASSRLS PASSWORD '${CANARY}'`,
      'CREATE ROLE kh_admins NOLOGIN SUPERUSER',
      `CREATE ROLE kh_indirect LOGIN NOINHERIT PASSWORD '${CANARY}' IN ROLE kh_admins`,
    ])
      await pg.psql(sql);

    sandbox = makeSandbox('keyhold-sql-pg-');
    sandbox.env.KEYHOLD_VAULT = path.join(sandbox.dir, 'vault.db');
    sandbox.env.KEYHOLD_KEYFILE = path.join(sandbox.dir, 'vault.key');
    await keyhold(['vault', 'init', '--keyfile', sandbox.env.KEYHOLD_KEYFILE]);
    await keyhold(['vault', 'set', 'shop/password'], CANARY);
    await keyhold(['vault', 'set', 'shop/wrong'], WRONG);
    for (const instance of ['pg', 'pgslow', 'pgrw', 'pgdown', 'pgscoped', 'pgreader', 'pgbulk', 'pgpool', ...Object.keys(PRIVILEGED), 'pgsuperok'])
      await keyhold(['vault', 'grant', instance, 'shop/password', '--ops', 'reveal']);
    await keyhold(['vault', 'grant', 'pgbad', 'shop/wrong', '--ops', 'reveal']);
    // A whole connection URL as the secret (alias `url`), right and wrong.
    const url = (password) => `postgresql://keyhold:${encodeURIComponent(password)}@127.0.0.1:${pg.port}/shop?sslmode=disable`;
    await keyhold(['vault', 'set', 'shop/url'], url(CANARY));
    await keyhold(['vault', 'set', 'shop/badurl'], url(WRONG));
    await keyhold(['vault', 'grant', 'pgurl', 'shop/url', '--ops', 'reveal']);
    await keyhold(['vault', 'grant', 'pgbadurl', 'shop/badurl', '--ops', 'reveal']);

    await waitForFile(pluginPath('sql'));
    const config = sandbox.writeConfig(
      '[server]\nlog_level = "debug"\n\n' +
        pgInstance('pg', { row_limit: 5, statement_timeout: '2s' }, 'vault:shop/password') +
        pgInstance('pgslow', { statement_timeout: 60 }, 'vault:shop/password') +
        pgInstance('pgrw', { read_only: false }, 'vault:shop/password') +
        pgInstance('pgbad', {}, 'vault:shop/wrong') +
        pgInstance('pgdown', { port: 1 }, 'vault:shop/password') +
        pgInstance('pgscoped', { user: 'keyhold_wide', allow_privileged_role: true }, 'vault:shop/password', ['public', 'reports']) +
        pgInstance('pgreader', { user: 'keyhold_reader' }, 'vault:shop/password', ['public', 'reports']) +
        pgInstance('pgpool', { pool_size: 1 }, 'vault:shop/password') +
        Object.entries(PRIVILEGED)
          .map(([name, [user, schemas]]) => pgInstance(name, { user }, 'vault:shop/password', schemas))
          .join('') +
        pgInstance('pgsuperok', { user: 'kh_super', allow_privileged_role: true }, 'vault:shop/password') +
        pgInstance('pgbulk', { row_limit: 100000, statement_timeout: '10s' }, 'vault:shop/password') +
        instanceToml('pgurl', pluginPath('sql'), { options: { backend: 'postgres' } }) +
        '[instances.pgurl.secrets]\nurl = "vault:shop/url"\n\n' +
        pgSandbox('pgurl') +
        instanceToml('pgbadurl', pluginPath('sql'), { options: { backend: 'postgres' } }) +
        '[instances.pgbadurl.secrets]\nurl = "vault:shop/badurl"\n\n' +
        pgSandbox('pgbadurl'),
    );
    conn = await connectSdk(sandbox, config);
    client = conn.client;
  });

  after(async () => {
    await client?.close();
    await conn?.stderrEnded;
    sandbox?.cleanup();
    await pg?.stop();
  });

  test('list_schemas, list_tables and describe_table read the catalog', async () => {
    const { schemas } = await pgOk('pg_list_schemas');
    assert.ok(schemas.includes('public'));
    const { tables } = await pgOk('pg_list_tables', { schema: 'public' });
    assert.deepEqual(tables.map((t) => t.name).sort(), ['big', 'customers', 'orders', 't']);
    const d = await pgOk('pg_describe_table', { table: 'orders' });
    const col = Object.fromEntries(d.columns.map((c) => [c.name, c]));
    assert.equal(col.total.type, 'numeric(10,2)');
    assert.equal(col.customer_id.nullable, false);
    assert.equal(col.note.nullable, true);
    assert.match(col.id.default, /nextval/);
    assert.deepEqual(d.primary_key, ['id']);
    assert.equal(d.foreign_keys.length, 1);
    assert.deepEqual(d.foreign_keys[0].columns, ['customer_id']);
    assert.equal(d.foreign_keys[0].references_table, 'customers');
    assert.equal(d.foreign_keys[0].on_delete, 'CASCADE');
    assert.deepEqual(d.indexes.find((i) => i.name === 'orders_by_customer').columns, ['customer_id']);
    await pgRefused('pg_describe_table', { table: 'nosuch' }, /no such table/);
    const res = await client.readResource({ uri: 'sql://pg/public/orders' });
    assert.equal(JSON.parse(res.contents[0].text).name, 'orders');
  });

  test('query binds $n params; every type maps to JSON', async () => {
    const r = await pgOk('pg_query', { sql: 'SELECT name FROM customers WHERE email = $1', params: ['grace@example.com'] });
    assert.deepEqual(r.rows, [['Grace']]);
    const inj = await pgOk('pg_query', { sql: 'SELECT count(*) FROM t WHERE name = $1', params: ["x' OR '1'='1"] });
    assert.deepEqual(inj.rows, [[0]]);
    const types = await pgOk('pg_query', {
      sql: `SELECT 42::int AS i, 7::int8 AS b, 1.5::float8 AS f, 12.34::numeric AS n, 'txt'::text AS s,
              true AS bo, NULL::text AS nu, '\\x0102ff'::bytea AS by, timestamptz '2024-05-01 08:00:00+00' AS ts,
              '{"a":[1,2]}'::jsonb AS jb, '{"k":1}'::json AS j, ARRAY[1,2,3] AS ai, ARRAY['a','b c',NULL] AS at,
              $1::bytea AS pb, $2::jsonb AS pj, $3::int[] AS pa`,
      params: [{ base64: 'AQL/' }, { x: [true] }, '{4,5}'],
    });
    const cols = Object.fromEntries(types.columns.map((c, i) => [c.name, [c.type, types.rows[0][i]]]));
    assert.deepEqual(cols.i, ['integer', 42]);
    assert.deepEqual(cols.b, ['bigint', 7]);
    assert.deepEqual(cols.f, ['double precision', 1.5]);
    assert.deepEqual(cols.n, ['numeric', '12.34']);
    assert.deepEqual(cols.s, ['text', 'txt']);
    assert.deepEqual(cols.bo, ['boolean', true]);
    assert.deepEqual(cols.nu, ['text', null]);
    assert.deepEqual(cols.by, ['bytea', { base64: 'AQL/' }]);
    assert.equal(cols.ts[0], 'timestamp with time zone');
    assert.match(cols.ts[1], /^2024-05-01 \d\d:00:00/);
    assert.deepEqual(cols.jb, ['jsonb', { a: [1, 2] }]);
    assert.deepEqual(cols.j, ['json', { k: 1 }]);
    assert.deepEqual(cols.ai, ['integer[]', [1, 2, 3]]);
    assert.deepEqual(cols.at, ['text[]', ['a', 'b c', null]]);
    assert.deepEqual(cols.pb, ['bytea', { base64: 'AQL/' }]);
    assert.deepEqual(cols.pj, ['jsonb', { x: [true] }]);
    assert.deepEqual(cols.pa, ['integer[]', [4, 5]]);
  });

  test('explain shows the plan of a parameterised statement without running it', async () => {
    const r = await tool('pg_explain', { sql: 'DELETE FROM orders WHERE customer_id = $1', params: [1] });
    assert.ok(!r.isError, textOf(r));
    assert.match(textOf(r), /Delete on orders/);
    assert.equal(await count('orders'), '2');
  });

  test('row_limit cuts the result and says so', async () => {
    const r = await tool('pg_query', { sql: 'SELECT n FROM big ORDER BY n' });
    assert.equal(r.structuredContent.truncated, true);
    assert.equal(r.structuredContent.row_count, 5);
    assert.deepEqual(r.structuredContent.rows, [[1], [2], [3], [4], [5]]);
    assert.match(textOf(r), /row_limit/);
    const exact = await pgOk('pg_query', { sql: 'SELECT n FROM big WHERE n <= 5' });
    assert.equal(exact.truncated, false);
    await pgOk('pg_query', { sql: 'SELECT 1' }); // the connection is usable after the cut
  });

  test('read-only: each escape fails and the data is unchanged (checked by psql)', async () => {
    const before = [await count('t'), await count('big')];
    const attacks = [
      ['COMMIT; DROP TABLE t', /cannot insert multiple commands/],
      ['SELECT 1; DELETE FROM t', /cannot insert multiple commands/],
      ['ROLLBACK; DELETE FROM t', /cannot insert multiple commands/],
      ['END; DROP TABLE big', /cannot insert multiple commands/],
      ['DROP TABLE t', /read-only transaction/],
      ['DELETE FROM t', /read-only transaction/],
      ['WITH gone AS (DELETE FROM t RETURNING *) SELECT count(*) FROM gone', /read-only transaction/],
      ['SELECT sneaky()', /read-only transaction/],
      ["SELECT set_config('transaction_read_only', 'off', false)", /read-write mode|read-only/],
      ["COPY t TO PROGRAM 'touch " + path.join(pg.dir, 'pwned') + "'", /permission denied|read-only|COPY/],
      ['SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DELETE FROM t', /cannot insert multiple commands/],
    ];
    for (const [sql, pattern] of attacks) await pgRefused('pg_query', { sql }, pattern);
    // COPY to or from the client is refused, and the pooled connection serves the next call.
    await pgRefused('pg_query', { sql: 'COPY t TO STDOUT' }, /COPY/);
    await pgRefused('pg_query', { sql: 'COPY t FROM STDIN' }, /COPY|read-only/);
    for (let i = 0; i < 3; ++i) await pgRefused('pgpool_query', { sql: 'COPY t TO STDOUT' }, /COPY/);
    assert.deepEqual((await pgOk('pgpool_query', { sql: 'SELECT 1 AS one' })).rows, [[1]]);
    // The session default cannot be switched off for later calls either.
    await pgOk('pg_query', { sql: "SELECT set_config('default_transaction_read_only', 'off', false)" });
    await pgRefused('pg_query', { sql: 'DELETE FROM t' }, /read-only transaction/);
    const shown = await pgOk('pg_query', { sql: 'SHOW default_transaction_read_only' });
    assert.deepEqual(shown.rows, [['on']]);
    // COMMIT as the whole statement ends only our read-only transaction.
    await tool('pg_query', { sql: 'COMMIT' });
    await pgRefused('pg_query', { sql: 'DROP TABLE t' }, /read-only transaction/);
    // The writable instance's query tool is read-only too; its execute takes one statement.
    await pgRefused('pgrw_query', { sql: 'DELETE FROM t' }, /read-only transaction/);
    await pgRefused('pgrw_execute', { sql: 'COMMIT; DROP TABLE t' }, /cannot insert multiple commands/);
    assert.deepEqual([await count('t'), await count('big')], before);
    assert.equal(await pg.psql("SELECT to_regclass('public.t') IS NOT NULL", { db: 'shop' }), 't');
    assert.ok(!existsSync(path.join(pg.dir, 'pwned')), 'COPY TO PROGRAM ran nothing');
  });

  test('the schemas allowlist also restricts query and explain: EXPLAIN finds every scanned schema', async () => {
    // The role may read secret.codes (no allowlist, no refusal): the check is what refuses below.
    assert.deepEqual((await pgOk('pg_query', { sql: 'SELECT code FROM secret.codes' })).rows, [['classified']]);
    // Allowed schemas, the system catalog, information_schema and built-in functions still work.
    assert.deepEqual((await pgOk('pgscoped_query', { sql: 'SELECT name FROM customers WHERE id = $1', params: [1] })).rows, [['Ada']]);
    assert.deepEqual((await pgOk('pgscoped_query', { sql: 'SELECT count(*) FROM reports.names' })).rows, [[3]]);
    assert.deepEqual((await pgOk('pgscoped_query', { sql: 'SELECT sum(n)::int FROM generate_series(1, $1::int) n', params: [3] })).rows, [[6]]);
    assert.deepEqual((await pgOk('pgscoped_query', { sql: 'SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1', params: ['public'] })).rows.length, 1);
    const it = await pgOk('pgscoped_query', { sql: 'SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', params: ['public'] });
    assert.deepEqual(it.rows.map((r) => r[0]), ['big', 'customers', 'orders', 't']);
    const outside = /refused: schema secret is not in this instance's `schemas` allowlist \(public, reports\); the statement reads secret\.codes/;
    for (const [sql, params] of [
      ['SELECT code FROM secret.codes', []],
      ['SELECT count(*) FROM secret.codes', []],
      ['SELECT name FROM t WHERE EXISTS (SELECT 1 FROM secret.codes WHERE code = $1)', ['classified']],
      ['WITH c AS MATERIALIZED (SELECT code FROM secret.codes) SELECT * FROM c', []],
      ['SELECT * FROM reports.leaky', []], // a view in an allowed schema over a table outside it
      ['TABLE secret.codes', []],
    ])
      await pgRefused('pgscoped_query', { sql, params }, outside);
    await pgRefused('pgscoped_explain', { sql: 'SELECT code FROM secret.codes WHERE id = $1', params: [1] }, outside);
    // Statements EXPLAIN cannot plan cannot be checked, so they are refused, with the reason.
    await pgRefused('pgscoped_query', { sql: 'SHOW search_path' }, /`schemas` allowlist, so each statement is first checked with EXPLAIN/);
    // Errors of the statement itself come through unchanged, and the connection stays usable.
    await pgRefused('pgscoped_query', { sql: 'SELECT * FROM nosuch' }, /relation "nosuch" does not exist/);
    assert.deepEqual((await pgOk('pgscoped_query', { sql: 'SELECT 1' })).rows, [[1]]);
    const { tables } = await pgOk('pgscoped_list_tables');
    assert.ok(!tables.some((t) => t.schema === 'secret'), JSON.stringify(tables));
  });

  test('read-only instances refuse a role that can act outside the transaction; the override is logged', async () => {
    const pwned = path.join(pg.dir, 'pwned-by-role');
    const why = {
      pgsuper: /role "kh_super", which is a superuser: it may run programs, read and write server files/,
      pgindirect: /role "kh_indirect", which is a superuser \(through SET ROLE kh_admins\)/,
      pgexec: /role "kh_exec", which is a member of pg_execute_server_program \(COPY \.\.\. TO PROGRAM runs shell commands/,
      pgwfiles: /role "kh_wfiles", which is a member of pg_write_server_files/,
      pgrfiles: /role "kh_rfiles", which is a member of pg_read_server_files/,
      pgsignal: /role "kh_signal", which is a member of pg_signal_backend/,
      pgrepl: /role "kh_repl", which has REPLICATION: replication slots it creates survive the rollback/,
      pgbypass: /role "kh_bypass", which has BYPASSRLS/,
      pgowner: /role "keyhold", which owns the allowlisted schema\(s\) public, reports/,
      pgwide: /role "keyhold_wide", which may use schema\(s\) secret outside the `schemas` allowlist: functions that run SQL text \(query_to_xml/,
      pglo: /role "keyhold_lo", which may read 1 large object\(s\), which lie outside every schema/,
    };
    for (const [instance, pattern] of Object.entries(why)) {
      const text = await pgRefused(`${instance}_query`, { sql: `COPY (SELECT 1) TO PROGRAM 'touch ${pwned}'` }, pattern);
      assert.match(text, /^refused: this read-only instance connects as PostgreSQL role .*set allow_privileged_role = true to accept the risk/s);
      await pgRefused(`${instance}_list_tables`, {}, pattern);
    }
    assert.ok(!existsSync(pwned), 'no statement ran as a privileged role');
    // No connection of theirs stayed open (a backend takes a moment to exit).
    const open = "SELECT count(*) FROM pg_stat_activity WHERE usename IN ('kh_exec', 'kh_repl', 'kh_indirect') AND application_name = 'keyhold-sql'";
    let left = await pg.psql(open);
    for (let i = 0; i < 40 && left !== '0'; ++i) {
      await sleep(50);
      left = await pg.psql(open);
    }
    assert.equal(left, '0', 'a refused connection stayed open');
    // The least-privilege role of the README, and a non-owner without an allowlist, serve.
    assert.deepEqual((await pgOk('pgreader_query', { sql: 'SELECT current_user' })).rows, [['keyhold_reader']]);
    assert.deepEqual((await pgOk('pg_query', { sql: 'SELECT current_user' })).rows, [['keyhold']]);
    // The explicit override serves, and says so loudly in the log.
    assert.deepEqual((await pgOk('pgsuperok_query', { sql: 'SELECT current_user' })).rows, [['kh_super']]);
    await assertLogMatches(conn.stderr, /SECURITY WARNING: serving a read-only instance as PostgreSQL role "kh_super", which is a superuser.*allow_privileged_role = true accepts that/);
  });

  test('the schemas allowlist holds against SQL run by functions and large objects: the role stops at it', async () => {
    // Built-ins that run SQL text or read outside every schema: the plan shows only a
    // function call, so the role's privileges are what stop them (they returned rows from
    // secret.codes and the large object before).
    for (const sql of [
      "SELECT query_to_xml('SELECT code FROM secret.codes', true, false, '')",
      "SELECT query_to_xml_and_xmlschema('SELECT code FROM secret.codes', true, false, '')",
      "SELECT table_to_xml('secret.codes', true, false, '')",
      "SELECT schema_to_xml('secret', true, false, '')",
      `SELECT lo_get(${largeObject})`,
      `SELECT convert_from(lo_get(${largeObject}), 'UTF8')`,
    ]) {
      const text = await pgRefused('pgreader_query', { sql }, /permission denied for (schema secret|large object)/);
      assert.ok(!text.includes('classified'), text);
    }
    // The case: a role that may read secret, under an allowlist without it. The
    // plan shows only query_to_xml; the connector refuses to serve such a role at all.
    for (const sql of ["SELECT query_to_xml('SELECT code FROM secret.codes', true, false, '')", `SELECT lo_get(${largeObject})`]) {
      const text = await pgRefused('pgwide_query', { sql }, /role "keyhold_wide", which may use schema\(s\) secret outside the `schemas` allowlist/);
      assert.ok(!text.includes('classified'), text);
    }
    await pgRefused('pglo_query', { sql: `SELECT lo_get(${largeObject})` }, /role "keyhold_lo", which may read 1 large object\(s\)/);
    // What the role may read still works through the same functions.
    const xml = await pgOk('pgreader_query', { sql: "SELECT query_to_xml('SELECT name FROM public.t ORDER BY id LIMIT 1', true, false, '')::text" });
    assert.match(xml.rows[0][0], /<name>one<\/name>/);
  });

  test('pooled connections are reset between calls: advisory locks and prepared statements do not survive', async () => {
    const pid = (await pgOk('pgpool_query', { sql: 'SELECT pg_backend_pid()' })).rows[0][0];
    await pgOk('pgpool_query', { sql: 'SELECT pg_advisory_lock(4242)' });
    assert.equal(await pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"), '0', 'the advisory lock outlived the call');
    await pgOk('pgpool_query', { sql: "PREPARE leak AS SELECT 'leaked'" });
    await pgRefused('pgpool_query', { sql: 'EXECUTE leak' }, /prepared statement "leak" does not exist/);
    // A session setting changed by the statement is undone as well.
    await pgOk('pgpool_query', { sql: "SELECT set_config('search_path', 'secret', false)" });
    assert.deepEqual((await pgOk('pgpool_query', { sql: 'SELECT current_setting($1)', params: ['search_path'] })).rows, [['"$user", public']]);
    // A failed statement leaves its transaction aborted after the call's pipeline: the
    // connection is mended, reset and kept.
    await pgOk('pgpool_query', { sql: 'SELECT pg_advisory_lock(4243)' });
    await pgRefused('pgpool_query', { sql: 'SELECT 1/0' }, /division by zero/);
    await pgRefused('pgpool_query', { sql: "SELECT set_config('search_path', 'secret', false), pg_advisory_lock(4244), 1/0" }, /division by zero/);
    assert.equal(await pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid IN (4243, 4244)"), '0', 'an advisory lock outlived a failed call');
    // All of it on one pooled connection (pool_size = 1), which stays read-only.
    assert.deepEqual((await pgOk('pgpool_query', { sql: 'SELECT pg_backend_pid(), current_setting($1), current_setting($2)', params: ['default_transaction_read_only', 'search_path'] })).rows, [[pid, 'on', '"$user", public']]);
  });

  test('execute on a writable instance commits one statement', async () => {
    const r = await pgOk('pgrw_execute', { sql: 'INSERT INTO customers (name, email) VALUES ($1, $2)', params: ['Barbara', 'b@example.com'] });
    assert.equal(r.rows_affected, 1);
    assert.equal(await pg.psql("SELECT count(*) FROM customers WHERE name = 'Barbara'", { db: 'shop' }), '1');
    const { tools } = await client.listTools();
    assert.ok(!tools.some((t) => t.name === 'pg_execute'), 'read-only instance offers no execute');
    // A failed write commits nothing, and the next one still commits.
    await pgRefused('pgrw_execute', { sql: "INSERT INTO customers (name, email) VALUES ('Cecil', 'c@example.com'), ('Dora', 1/0)" }, /division by zero/);
    assert.equal(await pg.psql("SELECT count(*) FROM customers WHERE name IN ('Cecil', 'Dora')", { db: 'shop' }), '0');
    // A write whose RETURNING rows pass row_limit runs to its end and commits (it is never
    // stopped half way); the rows past the limit are dropped, and the result says so.
    const bulk = await pgOk('pgrw_execute', { sql: "INSERT INTO customers (name, email) SELECT 'Bulk', 'bulk' || g || '@example.com' FROM generate_series(1, 2000) g RETURNING id" });
    assert.equal(bulk.rows_affected, 2000);
    assert.equal(bulk.truncated, true, JSON.stringify(bulk).slice(0, 300));
    assert.equal(await pg.psql("SELECT count(*) FROM customers WHERE name = 'Bulk'", { db: 'shop' }), '2000');
    await pgOk('pgrw_execute', { sql: "DELETE FROM customers WHERE name = 'Bulk'" });
    // COPY FROM STDIN is refused as such; the connection (and the pool) survive it.
    await pgRefused('pgrw_execute', { sql: 'COPY customers (name, email) FROM STDIN' }, /COPY is not supported/);
    await pgOk('pgrw_execute', { sql: 'INSERT INTO customers (name, email) VALUES ($1, $2)', params: ['Fay', 'f@example.com'] });
    await pgOk('pgrw_execute', { sql: 'INSERT INTO customers (name, email) VALUES ($1, $2)', params: ['Edith', 'e@example.com'] });
    assert.equal(await pg.psql("SELECT count(*) FROM customers WHERE name = 'Edith'", { db: 'shop' }), '1');
  });

  test('max_result_bytes: 100 MB results are cut at 4 MiB and said so; no huge value is parsed; host memory stays bounded', async () => {
    const before = peakMemoryOfTree(conn.transport.pid);
    const started = Date.now();
    // 100,000 rows of about 1 KB: 100 MB if nothing stopped it.
    const r = await tool('pgbulk_query', { sql: "SELECT n, repeat('x', 1000) AS payload FROM generate_series(1, 100000) n" });
    assert.ok(!r.isError, textOf(r));
    const s = r.structuredContent;
    assert.deepEqual([s.truncated, s.truncated_by], [true, 'max_result_bytes']);
    const bytes = JSON.stringify(s.rows).length;
    assert.ok(bytes <= 4 * 1024 * 1024 && bytes > 4 * 1024 * 1024 - 2048, `rows take ${bytes} bytes as JSON`);
    assert.deepEqual(s.rows.slice(0, 2).map((row) => row[0]), [1, 2]);
    assert.match(textOf(r), /Truncated: the rows reached max_result_bytes \(4194304 bytes as JSON\) after \d+ rows/);
    // One array of 3 million numbers (about 24 MB of text): refused by its size before the
    // connector parses it (parsing such arrays took seconds outside the deadline).
    const aggStarted = Date.now();
    const agg = await tool('pgbulk_query', { sql: 'SELECT array_agg(n) FROM generate_series(1, 3000000) n' });
    assert.ok(!agg.isError, textOf(agg));
    assert.deepEqual([agg.structuredContent.row_count, agg.structuredContent.truncated_by], [0, 'max_result_bytes']);
    assert.ok(Date.now() - aggStarted < 10_000 + 3000, `array_agg took ${Date.now() - aggStarted} ms`);
    // 100 MB in 100 values of 1 MB each.
    const wide = await tool('pgbulk_query', { sql: "SELECT repeat('y', 1000000) FROM generate_series(1, 100)" });
    assert.deepEqual([wide.structuredContent.truncated_by, wide.structuredContent.row_count], ['max_result_bytes', 4]);
    assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
    assertPeakGrowthBelow(before, peakMemoryOfTree(conn.transport.pid), PEAK_GROWTH_LIMIT, '100 MB PostgreSQL results');
    // The connection was cancelled mid-result and is usable again.
    assert.deepEqual((await pgOk('pgbulk_query', { sql: 'SELECT 1' })).rows, [[1]]);
  });

  test('pg_sleep(60) is stopped at statement_timeout', async () => {
    const started = Date.now();
    await pgRefused('pg_query', { sql: 'SELECT pg_sleep(60)' }, /statement timeout/);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    await pgOk('pg_query', { sql: 'SELECT 1' });
  });

  test('cancelling a long query over MCP removes it from pg_stat_activity within a second', async () => {
    const controller = new AbortController();
    const pending = tool('pgslow_query', { sql: 'SELECT pg_sleep(60) AS cancel_me' }, { signal: controller.signal });
    pending.catch(() => {});
    const active = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%cancel_me%' AND pid <> pg_backend_pid()";
    let seen = false;
    for (let i = 0; i < 100 && !seen; ++i) {
      seen = (await pg.psql(active)) === '1';
      if (!seen) await sleep(100);
    }
    assert.ok(seen, 'the query ran on the server');
    controller.abort();
    const cancelledAt = Date.now();
    await assert.rejects(pending);
    let gone = false;
    while (!gone && Date.now() - cancelledAt < 1000) {
      gone = (await pg.psql(active)) === '0';
      if (!gone) await sleep(50);
    }
    assert.ok(gone, 'the query left pg_stat_activity within 1 s of the cancellation');
    await pgOk('pgslow_query', { sql: 'SELECT 1' });
  });

  test('a PostgreSQL restart mid-session: the next calls reconnect; the host lives', async () => {
    await pgOk('pg_query', { sql: 'SELECT 1' });
    await pgOk('pgslow_query', { sql: 'SELECT 1' });
    await pg.restart();
    const first = await tool('pg_query', { sql: 'SELECT 2 AS after_restart' });
    if (first.isError) assert.match(textOf(first), /PostgreSQL/); // a clear error at most once
    const second = await pgOk('pg_query', { sql: 'SELECT 3 AS again' });
    assert.deepEqual(second.rows, [[3]]);
    await pgOk('pgslow_query', { sql: 'SELECT 4' });
  });

  test('wrong password and server down: clear errors, no password', async () => {
    await pgRefused('pgbad_query', { sql: 'SELECT 1' }, /password authentication failed/);
    await pgRefused('pgdown_query', { sql: 'SELECT 1' }, /cannot connect to PostgreSQL/);
  });

  test('a whole connection URL from the vault connects; a wrong one fails without echoing it', async () => {
    const r = await pgOk('pgurl_query', { sql: 'SELECT current_user, current_setting($1)', params: ['default_transaction_read_only'] });
    assert.deepEqual(r.rows, [['keyhold', 'on']]);
    const text = await pgRefused('pgbadurl_query', { sql: 'SELECT 1' }, /password authentication failed/);
    assert.ok(!text.includes('postgresql://'), `the URL leaked: ${text}`);
  });

  test('the canary password never appears in results, errors, logs or audit rows', async () => {
    const audit = await keyhold(['vault', 'audit', '--json']);
    assert.match(audit.stdout, /handle\.reveal/, 'the reveals were audited');
    const everything = [...outputs, conn.stderr(), audit.stdout].join('\n');
    for (const secret of [CANARY, WRONG]) {
      assert.ok(!everything.includes(secret), 'a password leaked into an output');
      assert.ok(!everything.includes(Buffer.from(secret).toString('base64')), 'a password leaked (base64)');
    }
    // The server log shows the wrong-password attempt was real.
    assert.match(pg.serverLog(), /password authentication failed for user "keyhold"/);
  });
});
