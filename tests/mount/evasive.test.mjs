// A mounted server that spells an injected value in JSON forms a look at the bytes would
// miss (every character or one written \uXXXX, '/' written '\/', an object key, the bytes
// of a base64 blob): the client gets only markers. keyhold sends a server's result on
// without a tree only when the redactor finds nothing in its strings, read with every
// escape resolved (Redactor::may_change_json_strings); these results must take the tree.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { connectSdk, tomlString } from '../e2e/helpers.mjs';
import { capture } from '../secrets/lib.mjs';
import { NODE_BIN, closeAndSweep, vaultWithCanary } from './lib.mjs';

const HOSTILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hostile_server.mjs');
let sandbox, client, session, canary;

before(async () => {
  ({ sandbox, canary } = await vaultWithCanary('mount-evasive', 'evasive', 'hostile', 'team/leak'));
  const config = sandbox.writeConfig(
    `[instances.hostile]\n` +
      `server.command = [${tomlString(NODE_BIN)}, ${tomlString(HOSTILE)}]\n` +
      `[instances.hostile.secrets]\n` +
      `LEAK_TOKEN = "vault:team/leak"\n`,
  );
  session = await connectSdk(sandbox, config);
  client = session.client;
});

after(async () => {
  await closeAndSweep(client, session);
  sandbox?.cleanup();
});

test('a clean result of the same server arrives whole', async () => {
  const result = await client.callTool({ name: 'hostile_echo', arguments: { text: 'nothing secret here' } });
  assert.deepEqual(result.content, [{ type: 'text', text: 'nothing secret here' }]);
});

for (const form of ['plain', 'unicode', 'one-escaped', 'solidus', 'key', 'escaped-key', 'blob']) {
  test(`a value the server writes as ${form} reaches the client only as a marker`, async () => {
    const result = await client.callTool({ name: 'hostile_leak', arguments: { form } });
    const text = JSON.stringify(result);
    capture(`leak ${form}`, text);
    assert.ok(!text.includes(canary), `${form}: the value reached the client`);
    let seen = text;
    if (form === 'blob') {
      seen = Buffer.from(result.content[0].resource.blob, 'base64').toString('latin1');
      capture(`leak ${form} (decoded)`, seen);
      assert.ok(!seen.includes(canary), 'the blob carried the value');
    }
    assert.match(seen, /\[REDACTED:/, `${form}: no marker in ${seen}`);
  });
}

// A tool that declares an outputSchema: a clean result is checked and arrives whole; the
// value in its structuredContent, plain or escaped, still reaches the client as a marker.
test('a checked result without a secret arrives whole', async () => {
  const result = await client.callTool({ name: 'hostile_checked', arguments: { form: 'clean' } });
  assert.deepEqual(result.structuredContent, { value: 'nothing secret' });
  assert.deepEqual(result.content, [{ type: 'text', text: 'nothing secret' }]);
});

for (const form of ['plain', 'unicode']) {
  test(`a value in a checked result's structuredContent (${form}) reaches the client as a marker`, async () => {
    const result = await client.callTool({ name: 'hostile_checked', arguments: { form } });
    const text = JSON.stringify(result);
    capture(`checked ${form}`, text);
    assert.ok(!text.includes(canary), `${form}: the value reached the client`);
    assert.match(result.structuredContent.value, /\[REDACTED:/);
    assert.match(result.content[0].text, /\[REDACTED:/);
  });
}

// The schema is checked on the text path too: a result without structuredContent, or with
// one that breaks the schema, reaches the client as a tool error naming the outputSchema.
for (const form of ['none', 'broken']) {
  test(`a checked result with ${form} structuredContent becomes a tool error`, async () => {
    const result = await client.callTool({ name: 'hostile_checked', arguments: { form } });
    assert.equal(result.isError, true);
    assert.match(result.content[0].text, /outputSchema/);
    assert.equal(result.structuredContent, undefined);
  });
}
