// The comparison server: the smallest echo server one writes with the official TypeScript
// SDK (McpServer + StdioServerTransport), one tool `echo` that returns its text.
// The SDK is the one installed for the end-to-end tests (tests/e2e/node_modules).
const e2e = new URL('../../tests/e2e/node_modules/', import.meta.url);
const { McpServer } = await import(new URL('@modelcontextprotocol/sdk/dist/esm/server/mcp.js', e2e));
const { StdioServerTransport } = await import(
  new URL('@modelcontextprotocol/sdk/dist/esm/server/stdio.js', e2e));
const { z } = await import(new URL('zod/index.js', e2e));

const server = new McpServer({ name: 'sdk-echo', version: '1.0.0' });
server.registerTool(
  'echo',
  { description: 'Returns its text', inputSchema: { text: z.string() } },
  async ({ text }) => ({ content: [{ type: 'text', text }] }),
);
await server.connect(new StdioServerTransport());
