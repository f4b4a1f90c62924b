// A private PostgreSQL server for the sql connector's tests: Debian's PostgreSQL 15
// binaries, a temp data directory and a free port, started with initdb + pg_ctl and
// stopped afterwards. PostgreSQL refuses to run as root, so under root (CI) the server
// runs as the `postgres` system user via runuser, in a directory that user owns.
// Nothing is skipped: when the server cannot start, start() throws with its log.
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

import { run } from '../e2e/helpers.mjs';

const PG_BIN_DIRS = ['/usr/lib/postgresql/15/bin'];

function pgBinary(name) {
  for (const dir of PG_BIN_DIRS) if (existsSync(path.join(dir, name))) return path.join(dir, name);
  throw new Error(
    `PostgreSQL 15 binary ${name} not found in ${PG_BIN_DIRS.join(', ')}: install the Debian ` +
      `package postgresql-15 (scripts/debian-packages.txt lists it)`,
  );
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const isRoot = () => process.getuid?.() === 0;

export class PgCluster {
  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'keyhold-pg-'));
    this.data = path.join(this.dir, 'data');
    this.socketDir = this.dir;
    this.log = path.join(this.dir, 'server.log');
    this.port = 0;
  }

  // Runs a PostgreSQL binary as the server's OS user.
  async asServerUser(binary, args, options = {}) {
    const [cmd, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
    return run(cmd, argv, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' }, cwd: this.dir, ...options });
  }

  async start() {
    if (isRoot()) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(this.dir, uid, gid);
    }
    chmodSync(this.dir, 0o755);
    const init = await this.asServerUser(pgBinary('initdb'), [
      '-D', this.data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256',
      '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync',
    ]);
    if (init.code !== 0) throw new Error(`initdb failed (exit ${init.code}):\n${init.stdout}\n${init.stderr}`);
    // A port freePort saw free may be taken by another test's socket before the server
    // binds it: then another port.
    for (let attempt = 1; ; ++attempt) {
      this.port = await freePort();
      try {
        await this.ctl('start');
        return;
      } catch (error) {
        if (attempt === 3 || !/Address already in use/.test(error.message)) throw error;
      }
    }
  }

  async ctl(action) {
    const args = ['-D', this.data, '-l', this.log, '-w', '-t', '60'];
    if (action !== 'stop')
      args.push('-o', `-p ${this.port} -k ${this.socketDir} -c listen_addresses=127.0.0.1 -c fsync=off`);
    if (action !== 'start') args.push('-m', 'fast');
    const r = await this.asServerUser(pgBinary('pg_ctl'), [action, ...args]);
    if (r.code !== 0) {
      const log = existsSync(this.log) ? readFileSync(this.log, 'utf8') : '(no server log)';
      throw new Error(`pg_ctl ${action} failed (exit ${r.code}): ${r.stderr}\n--- server log ---\n${log}`);
    }
  }

  restart() {
    return this.ctl('restart');
  }

  // Runs SQL as the superuser over the Unix socket (a connection separate from keyhold's).
  async psql(sql, { db = 'postgres' } = {}) {
    const r = await run(pgBinary('psql'), ['-h', this.socketDir, '-p', String(this.port), '-U', 'postgres', '-d', db,
      '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' } });
    if (r.code !== 0) throw new Error(`psql failed: ${sql}\n${r.stderr}`);
    return r.stdout.trim();
  }

  serverLog() {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8') : '';
  }

  async stop() {
    try {
      if (existsSync(path.join(this.data, 'postmaster.pid'))) await this.ctl('stop');
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
