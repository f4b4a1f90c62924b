// The floor: a raw Node.js responder with no MCP library (split lines, JSON.parse, answer
// initialize and tools/call echo, one process.stdout.write per answer). It shows how much
// of a round trip is the driver, the pipes and the kernel, which no server can remove.
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buf += chunk;
  let start = 0;
  let nl;
  while ((nl = buf.indexOf('\n', start)) >= 0) {
    const line = buf.slice(start, nl);
    start = nl + 1;
    if (line.length) answer(JSON.parse(line));
  }
  buf = buf.slice(start);
});
process.stdin.on('end', () => process.exit(0));

function answer(msg) {
  if (msg.id === undefined) return;
  let result;
  if (msg.method === 'initialize') {
    result = {
      protocolVersion: msg.params.protocolVersion,
      capabilities: { tools: {} },
      serverInfo: { name: 'floor', version: '1.0.0' },
    };
  } else if (msg.method === 'tools/call') {
    result = { content: [{ type: 'text', text: msg.params.arguments.text }] };
  } else {
    result = {};
  }
  process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }) + '\n');
}
