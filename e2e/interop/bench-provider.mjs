// The provider benchmark's reference (e2e/bench/provider.py, "Against the reference"): panva's
// oidc-provider (pinned in package-lock.json) in its quick-start configuration — the library's
// in-memory adapter, its development login pages (devInteractions: any login and password sign
// in) — with one public client like spalab's spa-demo: code + PKCE S256, refresh tokens rotated
// at every use (the library's default for a public client), RS256 id_tokens, the same scopes.
// On 127.0.0.1 only; nothing is kept on disk.
//
//   node bench-provider.mjs --port N --client-id ID --redirect-uri URL
//
// Prints "oidc-provider ready: issuer <issuer>" once listening; SIGTERM/SIGINT close it, exit 0.
// Bad arguments: a usage message and exit status 2.
//
// Consent: spalab remembers an account's consent for a client, so its benchmark flows, after the
// first, go from sign-in straight to the code. Here loadExistingGrant gives the same: the client's
// grant for the account is made at sign-in (the library's documented recipe for skipping consent
// for a first-party client), so a flow is sign-in then code, as at spalab.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

function usage(message) {
  process.stderr.write(`bench-provider.mjs: ${message}\n`
    + 'usage: node bench-provider.mjs --port N --client-id ID --redirect-uri URL\n');
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      port: { type: 'string' },
      'client-id': { type: 'string' },
      'redirect-uri': { type: 'string' },
    },
  }).values;
} catch (error) {
  usage(error.message);
}
const port = Number(parsed.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) usage('--port: a port number, 1-65535');
const clientId = parsed['client-id'] ?? '';
if (!/^[\x21-\x7e]{1,200}$/.test(clientId)) usage('--client-id: 1-200 printable ASCII characters');
const redirectUri = URL.parse(parsed['redirect-uri'] ?? '');
if (!redirectUri || !['http:', 'https:'].includes(redirectUri.protocol)) usage('--redirect-uri: an http(s) URL');

// Imported once the arguments are known good: importing it prints the library's notices.
const { default: Provider } = await import('oidc-provider');
const issuer = `http://127.0.0.1:${port}`;
const SCOPE = 'openid profile email contacts.read';

// Fresh keys at every start, never stored: RS256 for id_tokens, as spalab signs them.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_name: 'spalab benchmark SPA',
    application_type: 'web',
    token_endpoint_auth_method: 'none', // a public client: PKCE (S256) required for it by default
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [redirectUri.href],
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'contacts.read'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, name: id }; } };
  },
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
  },
  // spalab issues refresh tokens to a client allowed the grant, without offline_access.
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(SCOPE);
    await grant.save();
    return grant;
  },
  async renderError(ctx, out) {
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = Object.entries(out).map(([key, value]) => `${key}: ${value}`).join('\n');
  },
});

provider.on('server_error', (ctx, error) => {
  process.stderr.write(`bench-provider.mjs: server_error: ${error.stack ?? error}\n`);
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready: issuer ${issuer}`);
});
server.on('error', (error) => {
  process.stderr.write(`bench-provider.mjs: cannot listen on 127.0.0.1:${port}: ${error.message}\n`);
  process.exit(1);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
