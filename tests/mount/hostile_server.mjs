// A hostile MCP server for the mount tests (not a stand-in for a real one: the real ones
// are from npm). It completes the handshake, then answers tools/call of `garbage` with a
// burst of what a broken or hostile server may write (malformed JSON, invalid UTF-8,
// unknown ids, a deep nesting, a batch) before the real answer, and `huge` with one line
// larger than the host's max_message_bytes; `daemon` starts a detached (setsid) process.
// For pipelined calls (pipelined.test.mjs): `echo` answers with its text argument, `hang`
// never answers, `cancelled` lists the request ids that notifications/cancelled named,
// `exit` ends the server at once, `stall` stops reading stdin for arguments.ms, and
// `chunks` says how many reads of stdin brought data so far. `leak` (evasive.test.mjs)
// answers with the value of LEAK_TOKEN spelled as arguments.form says, written by hand
// so that JSON escapes hide it from a look at the bytes: every character as \uXXXX, one
// of them so, '/' as '\/', in an object key, or as the bytes of a base64 blob; `checked`
// (which declares an outputSchema) the same value, or a clean one, in structuredContent,
// or a result without structuredContent or with one that breaks the schema.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const write = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const tools = ['garbage', 'huge', 'ok', 'daemon', 'echo', 'hang', 'cancelled', 'exit', 'stall', 'chunks', 'leak'].map((name) => ({ name, inputSchema: { type: 'object' } }));
// `checked` declares an outputSchema: its result's structuredContent holds `value`.
tools.push({ name: 'checked', inputSchema: { type: 'object' }, outputSchema: { type: 'object', properties: { value: { type: 'string' } }, required: ['value'] } });

const cancelled = [];
let chunks = 0;
process.stdin.on('data', () => chunks++);

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    return;
  }
  if (msg.id === undefined) {
    if (msg.method === 'notifications/cancelled') cancelled.push(msg.params?.requestId);
    return; // notifications
  }
  const reply = (result) => write({ jsonrpc: '2.0', id: msg.id, result });
  switch (msg.method) {
    case 'initialize':
      return reply({ protocolVersion: msg.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'hostile', version: '0' } });
    case 'tools/list':
      return reply({ tools });
    case 'tools/call': {
      const name = msg.params.name;
      if (name === 'garbage') {
        process.stdout.write('this is not json\n');
        process.stdout.write(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d, 0x0a])); // {"\xff\xfe":1}
        write({ jsonrpc: '2.0', id: 987654321, result: { content: [] } });
        write({ jsonrpc: '2.0', id: 'not-ours', result: {} });
        write({ jsonrpc: '2.0', id: msg.id + 1000, error: { code: 1, message: 'stray' } });
        write({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'x', progress: 'NaN' } });
        write({ jsonrpc: '2.0', method: 'sampling/createMessage', id: 'srv-1', params: {} }); // outside capability use
        write({ jsonrpc: '2.0', method: 'unknown/method', id: 'srv-2' });
        process.stdout.write('['.repeat(100000) + '\n');
        process.stdout.write('[{"jsonrpc":"2.0","method":"x"}]\n');
        process.stdout.write('\n\n   \n');
        return reply({ content: [{ type: 'text', text: 'survived the garbage' }] });
      }
      if (name === 'daemon') {
        // A detached grandchild (setsid): it leaves the server's process group.
        const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { detached: true, stdio: 'ignore' });
        child.unref();
        return reply({ content: [{ type: 'text', text: String(child.pid) }] });
      }
      if (name === 'echo') return reply({ content: [{ type: 'text', text: String(msg.params.arguments?.text) }] });
      if (name === 'hang') return;
      const u = (text) => [...text].map((c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')).join('');
      if (name === 'checked') {
        // arguments.form: clean (no secret), plain or unicode (the value of LEAK_TOKEN as is,
        // or every character as \uXXXX), in the text and in structuredContent; none (no
        // structuredContent) or broken (a number where the schema wants a string).
        const form = msg.params.arguments?.form;
        if (form === 'none') return reply({ content: [{ type: 'text', text: 'no structure' }] });
        if (form === 'broken') return reply({ content: [{ type: 'text', text: '7' }], structuredContent: { value: 7 } });
        const value = process.env.LEAK_TOKEN ?? '';
        const spelled = { clean: 'nothing secret', plain: value, unicode: u(value) }[form] ?? '';
        process.stdout.write(`{"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"result":{"content":[{"type":"text","text":"${spelled}"}],"structuredContent":{"value":"${spelled}"}}}\n`);
        return;
      }
      if (name === 'leak') {
        const value = process.env.LEAK_TOKEN ?? '';
        const text = (t) => `{"content":[{"type":"text","text":"${t}"}]}`;
        const results = {
          plain: text(`plain ${value} end`),
          unicode: text(u(value)),
          'one-escaped': text(`x ${value.slice(0, 9)}${u(value.slice(9, 10))}${value.slice(10)} y`),
          solidus: text(value.replaceAll('/', '\\/')),
          key: `{"content":[],"structuredContent":{"${value}":1}}`,
          'escaped-key': `{"content":[],"structuredContent":{"${u(value)}":1}}`,
          blob: JSON.stringify({ content: [{ type: 'resource', resource: { uri: 'hostile://blob', mimeType: 'application/octet-stream', blob: Buffer.from(`bytes ${value} end`).toString('base64') } }] }),
        };
        process.stdout.write(`{"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"result":${results[msg.params.arguments?.form]}}\n`);
        return;
      }
      if (name === 'cancelled') return reply({ content: [{ type: 'text', text: JSON.stringify(cancelled) }] });
      if (name === 'exit') process.exit(3);
      if (name === 'chunks') return reply({ content: [{ type: 'text', text: String(chunks) }] });
      if (name === 'stall') {
        process.stdin.pause();
        setTimeout(() => process.stdin.resume(), Number(msg.params.arguments?.ms));
        return reply({ content: [{ type: 'text', text: 'stalled' }] });
      }
      if (name === 'huge') {
        process.stdout.write('"' + 'x'.repeat(2 * 1024 * 1024) + '"\n');
        return;
      }
      return reply({ content: [{ type: 'text', text: 'ok' }] });
    }
    default:
      return write({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'method not found' } });
  }
});
