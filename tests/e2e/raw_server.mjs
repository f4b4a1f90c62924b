// A keyhold serve child driven with raw bytes on stdin (no SDK), for protocol-level tests.
import { spawn } from 'node:child_process';

import { keyholdBin } from './helpers.mjs';

export class RawServer {
  static async start(sandbox, configPath, extraArgs = [], bin = undefined) {
    const server = new RawServer();
    server.child = spawn(bin ?? (await keyholdBin()), ['serve', '--config', configPath, ...extraArgs], {
      env: sandbox.env,
      cwd: sandbox.dir,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    server.exited = new Promise((resolve) =>
      server.child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    server.child.stdin.on('error', () => {}); // EPIPE after exit is reported by the tests
    server.child.stdout.on('data', (chunk) => server.#onStdout(chunk));
    server.child.stderr.on('data', (chunk) => (server.stderr += chunk.toString('utf8')));
    return server;
  }

  child;
  exited;
  stderr = '';
  rawStdout = Buffer.alloc(0);
  messages = []; // every stdout line, parsed
  badLines = []; // stdout lines that are not a JSON object
  #pending = Buffer.alloc(0);
  #waiters = [];
  #nextId = 1000;

  #onStdout(chunk) {
    this.rawStdout = Buffer.concat([this.rawStdout, chunk]);
    this.#pending = Buffer.concat([this.#pending, chunk]);
    let nl;
    while ((nl = this.#pending.indexOf(0x0a)) >= 0) {
      const line = this.#pending.subarray(0, nl).toString('utf8');
      this.#pending = this.#pending.subarray(nl + 1);
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        msg = undefined;
      }
      if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
        this.badLines.push(line);
        continue;
      }
      this.messages.push(msg);
    }
    this.#check();
  }

  #check() {
    this.#waiters = this.#waiters.filter((w) => {
      const found = this.messages.slice(w.from).find(w.predicate);
      if (found) {
        clearTimeout(w.timer);
        w.resolve(found);
        return false;
      }
      return true;
    });
  }

  // Resolves with the first message (received at index >= from) matching predicate.
  waitFor(predicate, { from = 0, timeoutMs = 30_000, what = 'message' } = {}) {
    return new Promise((resolve, reject) => {
      const w = { predicate, from, resolve };
      w.timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(
          new Error(
            `timed out waiting for ${what}; got:\n${this.messages.map((m) => JSON.stringify(m)).join('\n')}\nstderr:\n${this.stderr}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push(w);
      this.#check();
    });
  }

  write(data) {
    this.child.stdin.write(data);
  }

  send(message) {
    this.write(JSON.stringify(message) + '\n');
  }

  // Sends a request (assigning an id unless given) and resolves with its response.
  async request(method, params, id = this.#nextId++) {
    const from = this.messages.length;
    const msg = { jsonrpc: '2.0', id, method };
    if (params !== undefined) msg.params = params;
    this.send(msg);
    return this.waitFor((m) => m.id === id && ('result' in m || 'error' in m), {
      from,
      what: `response to ${method} id ${id}`,
    });
  }

  async initialize(protocolVersion = '2025-11-25') {
    const r = await this.request('initialize', {
      protocolVersion,
      capabilities: {},
      clientInfo: { name: 'raw-e2e', version: '1.0.0' },
    });
    this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return r;
  }

  // Writes a raw line and resolves with the next error response whose id is null or `id`.
  async sendBad(data, id = null) {
    const from = this.messages.length;
    this.write(data);
    return this.waitFor((m) => 'error' in m && m.id === id, {
      from,
      what: `error response (id ${JSON.stringify(id)}) to ${String(data).slice(0, 80)}`,
    });
  }

  async ping() {
    return this.request('ping');
  }

  closeStdin() {
    this.child.stdin.end();
  }

  kill(signal = 'SIGKILL') {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}
