// The comparison server: a Streamable HTTP echo server written with the official
// TypeScript SDK the way its documentation shows (McpServer + StreamableHTTPServerTransport,
// one transport per session, JSON responses), one tool `echo` that returns its text.
// Prints "listening on PORT" on stderr. The SDK is the one installed for the end-to-end
// tests (tests/e2e/node_modules).
import { randomUUID } from 'node:crypto';
import http from 'node:http';

const e2e = new URL('../../tests/e2e/node_modules/', import.meta.url);
const { McpServer } = await import(new URL('@modelcontextprotocol/sdk/dist/esm/server/mcp.js', e2e));
const { StreamableHTTPServerTransport } = await import(
  new URL('@modelcontextprotocol/sdk/dist/esm/server/streamableHttp.js', e2e));
const { isInitializeRequest } = await import(new URL('@modelcontextprotocol/sdk/dist/esm/types.js', e2e));
const { z } = await import(new URL('zod/index.js', e2e));

function makeServer() {
  const server = new McpServer({ name: 'sdk-http-echo', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'Returns its text', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  return server;
}

const transports = new Map();

function readJson(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      try {
        resolve(text ? JSON.parse(text) : undefined);
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
  });
}

const httpServer = http.createServer(async (req, res) => {
  try {
    if (!req.url.startsWith('/mcp')) {
      res.writeHead(404).end();
      return;
    }
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    const sessionId = req.headers['mcp-session-id'];
    let transport = sessionId ? transports.get(sessionId) : undefined;
    if (!transport) {
      if (req.method !== 'POST' || !isInitializeRequest(body)) {
        res.writeHead(sessionId ? 404 : 400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'no session' } }));
        return;
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: true,
        onsessioninitialized: (id) => transports.set(id, created),
      });
      created.onclose = () => created.sessionId && transports.delete(created.sessionId);
      await makeServer().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body);
  } catch (e) {
    if (!res.headersSent) res.writeHead(500).end(String(e));
  }
});
httpServer.keepAliveTimeout = 60_000;
httpServer.listen(0, '127.0.0.1', () => {
  process.stderr.write(`listening on ${httpServer.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
