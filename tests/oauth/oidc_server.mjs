// A real OAuth 2.1 / OpenID Connect authorization server for the OAuth tests: panva's
// oidc-provider (npm, OpenID certified) on 127.0.0.1 at a random port, configured by the
// test: a public native client (PKCE, loopback redirect, refresh tokens rotated on every
// use), a confidential service client (client credentials), revocation and introspection,
// open dynamic client registration, resource indicators, short access token lifetimes. Tokens are opaque, so a token's value is its id in the
// storage: the in-memory adapter below records every issued value, which is how the test
// knows what keyhold must never print.
import { randomBytes } from 'node:crypto';
import http from 'node:http';

// tests/oauth is outside tests/e2e, whose node_modules holds the package.
import Provider from '../e2e/node_modules/oidc-provider/lib/index.js';

// Every value the provider issued, by model name ("AccessToken", "RefreshToken", ...),
// in order, and the live storage.
export const issued = new Map();
const storage = new Map();

class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }
  key(id) {
    return `${this.model}:${id}`;
  }
  async upsert(id, payload, expiresIn) {
    if (!storage.has(this.key(id))) {
      if (!issued.has(this.model)) issued.set(this.model, []);
      issued.get(this.model).push(id);
    }
    storage.set(this.key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
  }
  async find(id) {
    const entry = storage.get(this.key(id));
    if (!entry || (entry.expiresAt && entry.expiresAt < Date.now())) return undefined;
    return entry.payload;
  }
  async findByUserCode(userCode) {
    for (const [key, entry] of storage)
      if (key.startsWith(`${this.model}:`) && entry.payload.userCode === userCode) return entry.payload;
    return undefined;
  }
  async findByUid(uid) {
    for (const [key, entry] of storage)
      if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid) return entry.payload;
    return undefined;
  }
  async consume(id) {
    const entry = storage.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) {
    storage.delete(this.key(id));
  }
  async revokeByGrantId(grantId) {
    for (const [key, entry] of storage) if (entry.payload.grantId === grantId) storage.delete(key);
  }
}

// True while the provider still holds token `value` of model (not revoked or expired).
export function stillStored(model, value) {
  const entry = storage.get(`${model}:${value}`);
  return Boolean(entry && !(entry.expiresAt && entry.expiresAt < Date.now()));
}
export const latest = (model) => issued.get(model)?.at(-1);
// Revokes token `value` of model at the provider, as an administrator there would.
export function forget(model, value) {
  storage.delete(`${model}:${value}`);
}
export const all = (model) => issued.get(model) ?? [];
// The account (the login at the provider) token `value` of model was issued to, while the
// provider still holds it.
export const accountOf = (model, value) => storage.get(`${model}:${value}`)?.payload?.accountId;

// Starts the provider; resolves with { issuer, port, serviceSecret, grants, requests, hooks,
// close() }.
// grants counts token endpoint calls by grant_type. hooks.onGrant(type), when set, runs
// synchronously once the provider issued and stored a grant's tokens and before its answer
// is written (the crash test kills keyhold there).
// clientIdMetadataDocument: the provider also announces (and would accept) Client ID
// Metadata Documents as client ids.
export async function startProvider({ accessTokenTtl = 40, clientIdMetadataDocument = false } = {}) {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  const issuer = `http://127.0.0.1:${port}`;
  const serviceSecret = `service-secret-${randomBytes(16).toString('hex')}`;
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    clients: [
      {
        client_id: 'keyhold-native',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'], // any port (RFC 8252 7.3)
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
      },
      {
        // Like keyhold-native, with 8 s access tokens (the expiry test).
        client_id: 'keyhold-short',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
      {
        // keyhold serve's per_user provider: the redirect is keyhold's HTTP listener (any
        // port), and `keyhold oauth login --client` uses the CLI's loopback one.
        client_id: 'keyhold-users',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/oauth/callback', 'http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
      {
        client_id: 'keyhold-service',
        client_secret: serviceSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    scopes: ['openid', 'offline_access', 'api:read'],
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      clientCredentials: { enabled: true },
      deviceFlow: { enabled: true },
      // RFC 7591, open (no initial access token): `keyhold oauth discover --register`.
      registration: { enabled: true },
      ...(clientIdMetadataDocument ? { clientIdMetadataDocument: { enabled: true, ack: 'draft-02' } } : {}),
      // RFC 8707: a token asked for a resource (keyhold's `resource`) is for that resource
      // alone (its audience, which the protected MCP server checks) and carries its scope.
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: async (ctx, resourceIndicator) => ({
          scope: 'api:read',
          audience: resourceIndicator,
          accessTokenFormat: 'opaque',
        }),
      },
    },
    ttl: { AccessToken: (ctx, token, client) => (client?.clientId === 'keyhold-short' ? 8 : accessTokenTtl), ClientCredentials: 600, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600, AuthorizationCode: 60, IdToken: 600, DeviceCode: 600 },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    cookies: { keys: [randomBytes(16).toString('hex')] },
    findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  });
  const grants = {};
  const hooks = { onGrant: null };
  provider.on('grant.success', (ctx) => {
    const type = ctx.oidc.params?.grant_type ?? 'unknown';
    grants[type] = (grants[type] ?? 0) + 1;
    hooks.onGrant?.(type);
  });
  const quiet = () => {};
  provider.on('server_error', quiet);
  // HTTP requests by path ("/token", "/.well-known/openid-configuration", ...): how many
  // round trips keyhold made (bench/oauth counts those of one refresh).
  const requests = {};
  server.on('request', (req) => {
    const path = new URL(req.url, issuer).pathname;
    requests[path] = (requests[path] ?? 0) + 1;
  });
  server.on('request', provider.callback());
  return {
    issuer,
    port,
    serviceSecret,
    grants,
    requests,
    hooks,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

// A headless user agent: follows redirects with a cookie jar, submits the provider's dev
// login form (any login/password), consent form and device confirmation form, and stops
// at the first redirect to stopAt (keyhold's loopback listener), returning that URL without
// requesting it. Without stopAt (the device flow), it returns the first page with no form.
export async function authorize(url, stopAt, { login = 'alice' } = {}) {
  const jar = new Map();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  let next = url;
  let method = 'GET';
  let body;
  for (let step = 0; step < 20; step++) {
    if (stopAt && next.startsWith(stopAt)) return next;
    const headers = { cookie: cookieHeader() };
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(next, { method, body, headers, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair, ...attributes] = cookie.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /expires=Thu, 01 Jan 1970/i.test(a));
      if (!value || expired) jar.delete(name);
      else jar.set(name, value);
    }
    if (res.status >= 300 && res.status < 400) {
      next = new URL(res.headers.get('location'), next).href;
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await res.text();
    const form = /<form[^>]*method="post"[^>]*>/i.exec(html);
    const action = form && /action="([^"]+)"/.exec(form[0]);
    if (!action) {
      if (!stopAt && res.status === 200) return html;
      throw new Error(`the provider answered ${res.status} without a form at ${next}: ${html.slice(0, 500)}`);
    }
    const fields = new URLSearchParams();
    for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields.set(m[1], m[2]);
    const userCode = new URL(next).searchParams.get('user_code');
    if (/name="user_code"/.test(html) && !fields.has('user_code') && userCode) fields.set('user_code', userCode);
    if (/name="login"/.test(html)) {
      fields.set('login', login);
      fields.set('password', 'any');
    }
    next = new URL(action[1].replace(/&amp;/g, '&'), next).href;
    method = 'POST';
    body = fields.toString();
  }
  throw new Error('the authorization did not reach the redirect URI in 20 steps');
}
