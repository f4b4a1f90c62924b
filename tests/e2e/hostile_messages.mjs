// Messages a hostile client sends to crash or wedge the host (issue: no input from a
// client may crash the host), shared by the stdio and HTTP tests. Each case is the exact
// text on the wire and the JSON-RPC error it must get; after each one the same session
// must still answer ping.
//
// `phase`: 'fresh' cases are sent before initialize, 'ready' cases after it.
// `id`: the id the error must carry (null when it cannot be read).
// `field`: a piece of the error message that names what was wrong.

const digits400 = '9'.repeat(400);

export const hostileCases = [
  // Numbers outside the range of a double, anywhere in a message.
  { phase: 'fresh', name: 'id 1e400', text: '{"jsonrpc":"2.0","id":1e400,"method":"ping"}', code: -32600, id: null, field: 'range' },
  { phase: 'fresh', name: '400-digit id', text: `{"jsonrpc":"2.0","id":${digits400},"method":"ping"}`, code: -32600, id: null, field: 'range' },
  { phase: 'fresh', name: '1e400 in params', text: '{"jsonrpc":"2.0","id":"n1","method":"ping","params":{"x":1e400}}', code: -32600, id: 'n1', field: 'range' },
  { phase: 'fresh', name: '-1e400 before the id', text: '{"jsonrpc":"2.0","params":{"x":-1e400},"id":"n2","method":"ping"}', code: -32600, id: null, field: 'range' },
  { phase: 'ready', name: '1e400 in tool arguments', text: '{"jsonrpc":"2.0","id":"n3","method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"a","n":1e400}}}', code: -32600, id: 'n3', field: 'range' },
  { phase: 'ready', name: '400-digit number in tool arguments', text: `{"jsonrpc":"2.0","id":"n4","method":"tools/call","params":{"name":"echo_add","arguments":{"a":${digits400},"b":1}}}`, code: -32600, id: 'n4', field: 'range' },
  { phase: 'fresh', name: 'out-of-range id of a response', text: '{"jsonrpc":"2.0","id":1e400,"result":{}}', code: -32600, id: null, field: 'range' },

  // Fields of the wrong type in params the host reads itself.
  { phase: 'fresh', name: 'initialize with a number protocolVersion', text: '{"jsonrpc":"2.0","id":"i1","method":"initialize","params":{"protocolVersion":5,"capabilities":{}}}', code: -32602, id: 'i1', field: 'protocolVersion' },
  { phase: 'fresh', name: 'initialize with a null protocolVersion', text: '{"jsonrpc":"2.0","id":"i2","method":"initialize","params":{"protocolVersion":null,"capabilities":{}}}', code: -32602, id: 'i2', field: 'protocolVersion' },
  { phase: 'fresh', name: 'initialize without params', text: '{"jsonrpc":"2.0","id":"i3","method":"initialize"}', code: -32602, id: 'i3', field: 'protocolVersion' },
  { phase: 'fresh', name: 'initialize with string capabilities', text: '{"jsonrpc":"2.0","id":"i4","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":"all"}}', code: -32602, id: 'i4', field: 'capabilities' },
  { phase: 'ready', name: 'completion ref as a string', text: '{"jsonrpc":"2.0","id":"c1","method":"completion/complete","params":{"ref":"x","argument":{"name":"a","value":""}}}', code: -32602, id: 'c1', field: 'ref' },
  { phase: 'ready', name: 'completion ref as an array', text: '{"jsonrpc":"2.0","id":"c2","method":"completion/complete","params":{"ref":[1,2],"argument":{"name":"a","value":""}}}', code: -32602, id: 'c2', field: 'ref' },
  { phase: 'ready', name: 'completion ref.type a number', text: '{"jsonrpc":"2.0","id":"c3","method":"completion/complete","params":{"ref":{"type":5},"argument":{"name":"a","value":""}}}', code: -32602, id: 'c3', field: 'ref.type' },
  { phase: 'ready', name: 'completion ref.name a number', text: '{"jsonrpc":"2.0","id":"c4","method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":7},"argument":{"name":"a","value":""}}}', code: -32602, id: 'c4', field: 'ref.name' },
  { phase: 'ready', name: 'completion ref.uri null', text: '{"jsonrpc":"2.0","id":"c5","method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":null},"argument":{"name":"a","value":""}}}', code: -32602, id: 'c5', field: 'ref.uri' },
  { phase: 'ready', name: 'completion without argument', text: '{"jsonrpc":"2.0","id":"c6","method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p"}}}', code: -32602, id: 'c6', field: 'argument' },
  { phase: 'ready', name: 'completion argument.value a number', text: '{"jsonrpc":"2.0","id":"c7","method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":1}}}', code: -32602, id: 'c7', field: 'argument.value' },
  { phase: 'ready', name: 'completion ref.type unknown', text: '{"jsonrpc":"2.0","id":"c8","method":"completion/complete","params":{"ref":{"type":"ref/x"},"argument":{"name":"a","value":""}}}', code: -32602, id: 'c8', field: 'ref.type' },
  { phase: 'ready', name: 'tools/call name a number', text: '{"jsonrpc":"2.0","id":"t1","method":"tools/call","params":{"name":5}}', code: -32602, id: 't1', field: 'name' },
  { phase: 'ready', name: 'tools/call arguments a string', text: '{"jsonrpc":"2.0","id":"t2","method":"tools/call","params":{"name":"echo_echo","arguments":"x"}}', code: -32602, id: 't2', field: 'arguments' },
  { phase: 'ready', name: 'tools/call _meta a string', text: '{"jsonrpc":"2.0","id":"t3","method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"a"},"_meta":"x"}}', code: -32602, id: 't3', field: '_meta' },
  { phase: 'ready', name: 'tools/call progressToken an object', text: '{"jsonrpc":"2.0","id":"t4","method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"a"},"_meta":{"progressToken":{}}}}', code: -32602, id: 't4', field: 'progressToken' },
  { phase: 'ready', name: 'prompts/get argument not a string', text: '{"jsonrpc":"2.0","id":"p1","method":"prompts/get","params":{"name":"x","arguments":{"a":1}}}', code: -32602, id: 'p1', field: 'arguments.a' },
  { phase: 'ready', name: 'prompts/get name null', text: '{"jsonrpc":"2.0","id":"p2","method":"prompts/get","params":{"name":null}}', code: -32602, id: 'p2', field: 'name' },
  { phase: 'ready', name: 'resources/read uri a number', text: '{"jsonrpc":"2.0","id":"r1","method":"resources/read","params":{"uri":5}}', code: -32602, id: 'r1', field: 'uri' },
  { phase: 'ready', name: 'resources/subscribe uri an array', text: '{"jsonrpc":"2.0","id":"r2","method":"resources/subscribe","params":{"uri":[]}}', code: -32602, id: 'r2', field: 'uri' },
  { phase: 'ready', name: 'logging/setLevel level a number', text: '{"jsonrpc":"2.0","id":"l1","method":"logging/setLevel","params":{"level":5}}', code: -32602, id: 'l1', field: 'level' },
  { phase: 'ready', name: 'tools/list cursor a number', text: '{"jsonrpc":"2.0","id":"s1","method":"tools/list","params":{"cursor":5}}', code: -32602, id: 's1', field: 'cursor' },
  { phase: 'ready', name: 'unsigned 64-bit id is echoed', text: '{"jsonrpc":"2.0","id":18446744073709551615,"method":"no/such"}', code: -32601, id: 18446744073709551615n, field: 'method' },
];

// Notifications that must get no answer at all and leave the session working.
export const hostileNotifications = [
  '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":{}}}',
  '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":null,"reason":5}}',
  '{"jsonrpc":"2.0","method":"notifications/initialized","params":{"x":[[[[1e300]]]]}}',
];

// Compares an error answer with a case; returns a message or null.
export function checkErrorAnswer(c, message) {
  const text = JSON.stringify(message, (k, v) => (typeof v === 'bigint' ? v.toString() : v));
  if (message?.jsonrpc !== '2.0') return `not a JSON-RPC message: ${text}`;
  const wantId = typeof c.id === 'bigint' ? Number(c.id) : c.id;
  if (message.id !== wantId) return `id ${message.id}, expected ${c.id}: ${text}`;
  if (message.error?.code !== c.code) return `code ${message.error?.code}, expected ${c.code}: ${text}`;
  if (!String(message.error.message).includes(c.field))
    return `message does not name '${c.field}': ${text}`;
  if ('result' in message) return `has a result: ${text}`;
  return null;
}
