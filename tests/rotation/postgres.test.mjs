// The postgres rotation strategy against a real PostgreSQL 15 (started as the sql tests
// start it), while the sql connector, served by `keyhold serve`, queries in a loop
// (issue 19, acceptance 1-3): zero failed queries, old password refused, history and audit;
// a failing step (no admin grant, server down) leaves current untouched and says so; kill -9
// at every step (and at random moments), 24 times, and the next `rotate --due` always ends
// with exactly one current version, which is the role's password.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { connectSdk, instanceToml, keyholdBin, pluginPath, run, sleep, waitForFile } from '../e2e/helpers.mjs';
import { PgCluster } from '../sql/pg_cluster.mjs';
import { call, sandboxToml, textOf } from '../sql/sql_helpers.mjs';
import { makeVaultSandbox } from './rotation_helpers.mjs';

const CANARY = `kh-canary-${randomBytes(9).toString('hex')}`;
const ADMIN = `kh-admin-${randomBytes(9).toString('hex')}`;
const PSQL = '/usr/lib/postgresql/15/bin/psql';

describe('postgres rotation while the sql connector queries', () => {
  let pg;
  let sandbox;
  let conn;
  const values = new Set([CANARY, ADMIN]); // every password the role or admin ever had
  const clientTexts = [];

  // Runs SQL as the superuser over the Unix socket, the SQL on stdin (never in argv).
  const superSql = async (sql) => {
    const r = await run(PSQL, ['-h', pg.socketDir, '-p', String(pg.port), '-U', 'postgres', '-d', 'postgres', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-f', '-'],
      { env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' }, input: sql });
    assert.equal(r.code, 0, `psql failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  // Whether `app` can log in over TCP (SCRAM) with password (passed in PGPASSWORD).
  const canLogin = async (password) => {
    const r = await run(PSQL, ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'app', '-d', 'shop', '-w', '-X', '-q', '-A', '-t', '-c', 'SELECT 1'],
      { env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', PGPASSWORD: password, PGSSLMODE: 'disable' } });
    return r.code === 0;
  };
  const current = async () => {
    const value = (await sandbox.reveal('shop/app')).toString();
    values.add(value);
    return value;
  };
  // Exactly one current version, no pending one, and the role accepts exactly that value.
  const assertConsistent = async (what) => {
    const versions = await sandbox.versions('shop/app');
    assert.equal(versions.filter((v) => v.stage === 'current').length, 1, `${what}: one current version`);
    assert.equal(versions.filter((v) => v.stage === 'pending').length, 0, `${what}: no pending version left`);
    assert.ok(await canLogin(await current()), `${what}: the role accepts the vault's current value`);
  };

  // A query loop through the sql connector; returns stop() -> { ok, failed: [texts] }.
  const queryLoop = () => {
    let running = true;
    const result = { ok: 0, failed: [] };
    const done = (async () => {
      while (running) {
        try {
          const r = await call(conn.client, 'pg_query', { sql: 'SELECT count(*) FROM t' });
          clientTexts.push(JSON.stringify(r));
          if (r.isError) result.failed.push(textOf(r));
          else result.ok += 1;
        } catch (e) {
          result.failed.push(String(e?.message));
        }
        await sleep(20);
      }
    })();
    return async () => {
      running = false;
      await done;
      return result;
    };
  };

  before(async () => {
    pg = new PgCluster();
    await pg.start();
    await superSql(`ALTER ROLE postgres PASSWORD '${ADMIN}'; CREATE ROLE app LOGIN PASSWORD '${CANARY}'; CREATE DATABASE shop OWNER app;`);
    await run(PSQL, ['-h', pg.socketDir, '-p', String(pg.port), '-U', 'postgres', '-d', 'shop', '-X', '-q', '-c',
      'SET ROLE app; CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2), (3);'], { env: { PATH: '/usr/bin:/bin' } });

    sandbox = makeVaultSandbox('keyhold-rotation-pg-');
    await sandbox.keyhold(['vault', 'init', '--keyfile', sandbox.env.KEYHOLD_KEYFILE]);
    await sandbox.keyhold(['vault', 'set', 'shop/app'], { input: CANARY });
    await sandbox.keyhold(['vault', 'set', 'pg/admin'], { input: ADMIN });
    await sandbox.keyhold(['vault', 'grant', 'rotation', 'pg/admin', '--ops', 'reveal']);
    await sandbox.keyhold(['vault', 'grant', 'pg', 'shop/app', '--ops', 'reveal']);
    await sandbox.keyhold(['vault', 'set-rotation', 'shop/app', '--every', '30d', '--strategy', 'postgres', '--with', 'pg/admin',
      '--host', '127.0.0.1', '--port', String(pg.port), '--role', 'app', '--sslmode', 'disable', '--grace', '1h', '--drop-previous']);

    await waitForFile(pluginPath('sql'));
    const config = sandbox.writeConfig(
      instanceToml('pg', pluginPath('sql'), {
        options: { backend: 'postgres', host: '127.0.0.1', port: pg.port, dbname: 'shop', user: 'app', sslmode: 'disable' },
      }) +
        '[instances.pg.secrets]\npassword = "vault:shop/app"\n\n' +
        sandboxToml('pg', { network: [`127.0.0.1:${pg.port}`] }),
    );
    // Background rotation off: serve's scheduler (first run at a random moment) would be a
    // second, live rotator that the steps below do not expect to hold the lock.
    conn = await connectSdk(sandbox, config, ['--rotation-interval', 'off']);
  });

  after(async () => {
    await conn?.client.close();
    await conn?.stderrEnded;
    sandbox?.cleanup();
    await pg?.stop();
  });

  test('acceptance 1: rotating while the connector queries: no failed query, old password refused, history, audit', async () => {
    const stop = queryLoop();
    const seen = [await current()];
    for (let i = 0; i < 3; i += 1) {
      const r = await sandbox.keyhold(['vault', 'rotate', 'shop/app', '--now']);
      assert.match(r.stdout, new RegExp(`rotated shop/app: version ${i + 2} is current`));
      seen.push(await current());
      assert.ok(await canLogin(seen.at(-1)), 'the new password works');
      assert.ok(!(await canLogin(seen.at(-2))), 'the old password is refused');
      await sleep(150);
    }
    const { ok, failed } = await stop();
    assert.deepEqual(failed, []);
    assert.ok(ok >= 5, `the loop ran (${ok} queries)`);
    assert.equal(new Set(seen).size, 4);
    // A connection opened now (the server closed the old ones) uses the new value.
    await superSql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'");
    const again = await call(conn.client, 'pg_query', { sql: 'SELECT count(*) FROM t' });
    assert.ok(!again.isError, textOf(again));

    const versions = await sandbox.versions('shop/app');
    assert.deepEqual(versions.map((v) => [v.version, v.stage]), [[1, null], [2, null], [3, 'previous'], [4, 'current']]);
    // After the grace period (1h, by the test clock) the previous version is erased; nothing
    // is due (30d), so nothing else changes.
    const later = String(Math.floor(Date.now() / 1000) + 2 * 3600);
    const due = await sandbox.keyhold(['vault', 'rotate', '--due'], { env: { KEYHOLD_TEST_NOW: later } });
    assert.match(due.stdout, /nothing is due/);
    assert.deepEqual((await sandbox.versions('shop/app')).map((v) => [v.version, v.stage]), [[1, null], [2, null], [4, 'current']]);
    await sandbox.keyhold(['vault', 'audit', '--verify']);
    const rotation = await sandbox.rotation('shop/app');
    assert.equal(rotation.last_result, 'ok');
    assert.equal(rotation.strategy, 'postgres');
  });

  test('acceptance 2: no admin grant, then the server down: current unchanged, status says why', async () => {
    const before = await current();
    await sandbox.keyhold(['vault', 'revoke', 'rotation', 'pg/admin']);
    let r = await sandbox.keyhold(['vault', 'rotate', 'shop/app', '--now'], { expect: 7 });
    assert.match(r.stderr, /apply: the admin secret 'pg\/admin' is not granted to the rotation; grant it with `keyhold vault grant rotation pg\/admin --ops reveal`; the pending version was discarded, current is unchanged/);
    assert.equal(await current(), before);
    assert.ok(await canLogin(before));
    let status = await sandbox.keyhold(['vault', 'status']);
    assert.match(status.stdout, /shop\/app: postgres, next .*, last failed: apply: the admin secret 'pg\/admin' is not granted/);
    await sandbox.keyhold(['vault', 'grant', 'rotation', 'pg/admin', '--ops', 'reveal']);

    await pg.ctl('stop');
    r = await sandbox.keyhold(['vault', 'rotate', 'shop/app', '--now'], { expect: 7 });
    assert.match(r.stderr, /apply: cannot log in to PostgreSQL at 127\.0\.0\.1:\d+ as 'postgres': .*current is unchanged, a pending version is kept and the next run resumes it/);
    assert.equal(await current(), before);
    const rotation = await sandbox.rotation('shop/app');
    assert.equal(rotation.last_result, 'failed');
    assert.notEqual(rotation.pending_version, null);
    status = await sandbox.keyhold(['vault', 'status']);
    assert.match(status.stdout, /shop\/app: postgres, pending version \d+ \(resumes on the next run\), .*last failed: apply: cannot log in/);
    await pg.ctl('start');
    r = await sandbox.keyhold(['vault', 'rotate', '--due']);
    assert.match(r.stdout, /rotated shop\/app: version \d+ is current \(resumed\)/);
    await assertConsistent('after the server came back');
    assert.notEqual(await current(), before);
    await sandbox.keyhold(['vault', 'audit', '--verify']);
  });

  test('acceptance 3: kill -9 at every step, 24 times; the next run always ends consistent', async () => {
    const bin = await keyholdBin();
    const steps = ['created', 'pending', 'applied', 'tested', 'promoted', 'random'];
    const stop = queryLoop();
    const killedAt = {};
    const kills = () => Object.values(killedAt).reduce((a, b) => a + b, 0);
    // A kill at a random moment may come after the run finished; it does not count, so the
    // loop goes on until 24 processes were killed (a paused one always is).
    for (let i = 0; kills() < 24; i += 1) {
      assert.ok(i < 80, `24 kills within 80 runs: ${JSON.stringify(killedAt)}`);
      const step = i < steps.length ? steps[i] : steps[randomInt(steps.length)];
      const env = { ...sandbox.env };
      if (step !== 'random') env.KEYHOLD_TEST_ROTATION_PAUSE = step;
      const child = spawn(bin, ['vault', 'rotate', 'shop/app', '--now'], { env, cwd: sandbox.dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      child.stdout.on('data', (c) => sandbox.outputs.push(c.toString()));
      if (step === 'random') {
        await sleep(randomInt(5, 250));
      } else {
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`never paused at ${step}: ${stderr}`)), 30_000);
          child.stderr.on('data', (c) => {
            stderr += c.toString();
            if (stderr.includes(`paused at ${step}`)) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
      }
      child.kill('SIGKILL');
      const end = await exited;
      sandbox.outputs.push(stderr);
      killedAt[step] = (killedAt[step] ?? 0) + (end.signal === 'SIGKILL' ? 1 : 0);
      const next = await sandbox.keyhold(['vault', 'rotate', '--due']);
      assert.doesNotMatch(next.stdout, /skipped/, 'a dead holder does not keep the lock');
      await assertConsistent(`after a kill at ${step} (${i})`);
    }
    const { ok, failed } = await stop();
    assert.deepEqual(failed, []);
    assert.ok(ok >= 10, `the loop ran (${ok} queries)`);
    for (const step of steps.filter((s) => s !== 'random')) assert.ok(killedAt[step] >= 1, `killed at ${step}`);
    await sandbox.keyhold(['vault', 'audit', '--verify']);
  });

  test('no password ever appears in an output, the server log or the audit log', async () => {
    const audit = await sandbox.keyhold(['vault', 'audit', '--json']);
    sandbox.assertNoLeak([...values], [conn.stderr(), pg.serverLog(), audit.stdout, ...clientTexts]);
  });
});
