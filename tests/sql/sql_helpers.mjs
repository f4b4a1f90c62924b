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
