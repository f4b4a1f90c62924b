// Helpers shared by the sql connector's end-to-end tests.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

// Calls tool `name` and returns the result (isError results are returned, not thrown).
export async function call(client, name, args = {}, options = {}) {
  return client.callTool({ name, arguments: args }, undefined, options);
}

export const textOf = (result) => result.content.map((c) => c.text ?? '').join('\n');

// Calls a tool that must succeed; returns its structuredContent (or the result).
export async function ok(client, name, args = {}) {
  const r = await call(client, name, args);
  assert.ok(!r.isError, `${name}(${JSON.stringify(args)}) failed: ${textOf(r)}`);
  return r.structuredContent ?? r;
}

// Calls a tool that must fail with an isError result matching `pattern`; returns the text.
export async function refused(client, name, args, pattern) {
  const r = await call(client, name, args);
  assert.equal(r.isError, true, `${name}(${JSON.stringify(args)}) should fail, got: ${textOf(r)}`);
  if (pattern) assert.match(textOf(r), pattern);
  return textOf(r);
}

// `[instances.NAME.sandbox]` for an instance that runs in its own sandboxed keyhold-runner
// (the default isolation): keys as in the config (read, write, network, udp, unix_sockets,
// memory, ...), values written as TOML (JSON strings, arrays and booleans are valid TOML).
// Append it after the instance's other tables.
export function sandboxToml(name, spec) {
  let text = `[instances.${name}.sandbox]\n`;
  for (const [key, value] of Object.entries(spec)) text += `${key} = ${JSON.stringify(value)}\n`;
  return text + '\n';
}

// Peak resident memory (VmHWM, bytes) of `pid` and of each of its child processes (the
// sandboxed keyhold-runners of a `keyhold serve`), as a Map pid -> bytes.
export function peakMemoryOfTree(pid) {
  const peak = (p) => {
    const status = readFileSync(`/proc/${p}/status`, 'utf8');
    return Number(status.match(/^VmHWM:\s+(\d+) kB/m)[1]) * 1024;
  };
  const out = new Map([[pid, peak(pid)]]);
  for (const task of readdirSync(`/proc/${pid}/task`))
    for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean))
      out.set(Number(child), peak(child));
  return out;
}

// How much a process may grow its peak memory while serving the 100 MB results: 64 MiB,
// or 320 MiB under AddressSanitizer, whose quarantine keeps up to 256 MiB of freed memory
// unused (the unbounded connector grew by 500 MB and more without it).
export const PEAK_GROWTH_LIMIT = (process.env.KEYHOLD_SANITIZE === '1' ? 320 : 64) * 1024 * 1024;

// Asserts that no process of the tree grew its peak memory by more than `limit` bytes
// between two peakMemoryOfTree() readings (a process new in `after` counts from 0).
export function assertPeakGrowthBelow(before, after, limit, what) {
  for (const [pid, bytes] of after) {
    const growth = bytes - (before.get(pid) ?? 0);
    assert.ok(growth < limit, `${what}: process ${pid} grew its peak memory by ${(growth / 1048576).toFixed(1)} MiB (limit ${limit / 1048576} MiB)`);
  }
}
