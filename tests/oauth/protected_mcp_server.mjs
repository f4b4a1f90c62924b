// A remote MCP server protected the way the MCP authorization spec describes, built from
// the official TypeScript SDK's own pieces: StreamableHTTPServerTransport (stateless),
// requireBearerAuth (401 with a WWW-Authenticate challenge naming resource_metadata) and
// mcpAuthMetadataRouter (RFC 9728 protected resource metadata naming the authorization
// server). The authorization server is the test's oidc-provider; the verifier asks its
// introspection endpoint (RFC 7662) as the confidential service client.
import http from 'node:http';

import express from '../e2e/node_modules/express/index.js';
import { InvalidTokenError } from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/server/auth/errors.js';
import { requireBearerAuth } from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/server/auth/middleware/bearerAuth.js';
import {
  getOAuthProtectedResourceMetadataUrl,
  mcpAuthMetadataRouter,
} from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/server/auth/router.js';
import { McpServer } from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/server/mcp.js';
import { StreamableHTTPServerTransport } from '../e2e/node_modules/@modelcontextprotocol/sdk/dist/esm/server/streamableHttp.js';

// Starts it on 127.0.0.1; resolves with { url, tokens, refusedAudience, close() }. tokens:
// every bearer the verifier accepted (for comparisons only, never printed). As the MCP
// authorization spec requires, a token must name this server as its audience (RFC 8707:
// keyhold's `resource`); refusedAudience counts the active tokens refused for that.
// challengeOnly: the metadata is served only at the URL the 401 challenge names (not at
// the well-known one), so only a client that follows the challenge finds it.
// requiredScopes: what every request's token must carry (else 403 insufficient_scope).
export async function startProtectedMcpServer(op, { challengeOnly = false, requiredScopes = ['api:read'] } = {}) {
  const listener = http.createServer();
  await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const url = new URL(`http://127.0.0.1:${listener.address().port}/mcp`);
  const oauthMetadata = await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json();
  const tokens = [];
  let refusedAudience = 0;
  const verifier = {
    async verifyAccessToken(token) {
      const answer = await fetch(`${op.issuer}/token/introspection`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`keyhold-service:${op.serviceSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token }).toString(),
      });
      const info = await answer.json();
      if (!info.active) throw new InvalidTokenError('the token is not active');
      const audience = Array.isArray(info.aud) ? info.aud : [info.aud];
      if (!audience.includes(url.href)) {
        refusedAudience += 1;
        throw new InvalidTokenError('the token is not for this server (audience)');
      }
      tokens.push(token);
      return { token, clientId: info.client_id, scopes: (info.scope ?? '').split(' '), expiresAt: info.exp, extra: { sub: info.sub } };
    },
  };
  const app = express();
  const metadata = { oauthMetadata, resourceServerUrl: url, scopesSupported: ['api:read'], resourceName: 'keyhold test server' };
  let resourceMetadataUrl = getOAuthProtectedResourceMetadataUrl(url);
  if (challengeOnly) {
    resourceMetadataUrl = new URL('/meta/protected-resource', url).href;
    app.get('/meta/protected-resource', (req, res) =>
      res.json({ resource: url.href, authorization_servers: [op.issuer], scopes_supported: ['api:read'] }));
  } else {
    app.use(mcpAuthMetadataRouter(metadata));
  }
  const auth = requireBearerAuth({ verifier, requiredScopes, resourceMetadataUrl });
  app.post('/mcp', express.json(), auth, async (req, res) => {
    const server = new McpServer({ name: 'protected', version: '1.0.0' });
    server.registerTool('whoami', { description: 'The subject of the bearer token' }, async (extra) => ({
      content: [{ type: 'text', text: `subject: ${extra.authInfo?.extra?.sub}` }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  app.all('/mcp', (req, res) => res.status(405).set('allow', 'POST').end());
  listener.on('request', app);
  return {
    url: url.href,
    tokens,
    get refusedAudience() {
      return refusedAudience;
    },
    close: () =>
      new Promise((resolve) => {
        listener.closeAllConnections();
        listener.close(resolve);
      }),
  };
}
