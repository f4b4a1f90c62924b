// Helpers shared by the sql connector's end-to-end tests.
import assert from 'node:assert/strict';

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
