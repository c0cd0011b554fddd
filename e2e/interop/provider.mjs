// An independent OpenID provider for spalab's interop test (e2e/test_interop.py): panva's
// oidc-provider (pinned in package-lock.json), on 127.0.0.1 only, with one public client like
// the SPA's (code + PKCE S256, refresh tokens, no secret), DPoP (RFC 9449), revocation,
// RP-initiated logout and the built-in development login/consent pages (any username works).
//
//   node provider.mjs --port N --client-id ID --redirect-uri URL [--redirect-uri URL ...]
//                     [--request-log FILE] [--access-token-ttl SECONDS]
//
// or the same through INTEROP_PORT, INTEROP_CLIENT_ID, INTEROP_REDIRECT_URIS (space-separated),
// INTEROP_REQUEST_LOG and INTEROP_ACCESS_TOKEN_TTL (default 3600). The redirect URIs are also
// the post-logout redirect URIs, and their origins the only CORS origins. Prints
// "oidc-provider ready: issuer <issuer>, ..." once listening; SIGTERM/SIGINT close it, exit 0.
// Bad arguments: a usage message and exit status 2.
//
// A local test provider only: the issuer is plain http on loopback, and its keys (signing and
// cookie) are made afresh at every start and never stored. See README.md, "Against another
// provider", for what this configuration loosens and why.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

function usage(message) {
  process.stderr.write(`provider.mjs: ${message}\n`
    + 'usage: node provider.mjs --port N --client-id ID --redirect-uri URL [--redirect-uri URL ...]'
    + ' [--request-log FILE] [--access-token-ttl SECONDS]\n');
  process.exit(2);
}

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        port: { type: 'string' },
        'client-id': { type: 'string' },
        'redirect-uri': { type: 'string', multiple: true },
        'request-log': { type: 'string' },
        'access-token-ttl': { type: 'string' },
      },
    }).values;
  } catch (error) {
    usage(error.message);
  }
  const env = process.env;
  const port = Number(parsed.port ?? env.INTEROP_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535) usage('--port: a port number, 1-65535');
  const clientId = parsed['client-id'] ?? env.INTEROP_CLIENT_ID ?? '';
  if (!/^[\x21-\x7e]{1,200}$/.test(clientId)) usage('--client-id: 1-200 printable ASCII characters');
  const redirectUris = parsed['redirect-uri'] ?? (env.INTEROP_REDIRECT_URIS ?? '').split(/\s+/).filter(Boolean);
  if (redirectUris.length === 0) usage('--redirect-uri: at least one');
  for (const uri of redirectUris) {
    const url = URL.parse(uri);
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.hash) usage(`--redirect-uri: not an http(s) URL: ${uri}`);
  }
  const ttl = parsed['access-token-ttl'] ?? env.INTEROP_ACCESS_TOKEN_TTL;
  const accessTokenTtl = ttl === undefined ? 3600 : Number(ttl);
  if (!Number.isInteger(accessTokenTtl) || accessTokenTtl < 1 || accessTokenTtl > 86400) {
    usage('--access-token-ttl: seconds, 1-86400');
  }
  return {
    port, clientId, redirectUris, accessTokenTtl, requestLog: parsed['request-log'] ?? env.INTEROP_REQUEST_LOG,
  };
}

const { port, clientId, redirectUris, accessTokenTtl, requestLog } = options();
// Imported once the arguments are known good: importing it prints the library's notices.
const { default: Provider } = await import('oidc-provider');
const issuer = `http://127.0.0.1:${port}`;
const spaOrigins = new Set(redirectUris.map((uri) => new URL(uri).origin));

// Fresh keys at every start: an RS256 key for id_tokens (the one algorithm every OpenID
// provider must support) and a secret for the cookies' signatures.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'interop-rs256', alg: 'RS256', use: 'sig' };

// Any username signs in (devInteractions); "alice" gets a full profile, others their name.
const PROFILES = {
  alice: { name: 'Alice Liddell', preferred_username: 'alice', email: 'alice@example.com', email_verified: true },
};

const configuration = {
  clients: [{
    client_id: clientId,
    client_name: 'spalab interop SPA',
    application_type: 'web',
    token_endpoint_auth_method: 'none', // a public client: PKCE (S256, required for it by default)
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    post_logout_redirect_uris: redirectUris,
  }],
  jwks: { keys: [signingKey] },
  // The library's defaults for the rest: a public web client's rotated refresh token keeps
  // the remaining lifetime of the one it replaces.
  ttl: { AccessToken: accessTokenTtl },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...(PROFILES[id] ?? { name: id, preferred_username: id }) };
      },
    };
  },
  features: {
    devInteractions: { enabled: true }, // the library's own login and consent pages
    dPoP: { enabled: true }, // advertises dpop_signing_alg_values_supported (ES256 among them)
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    userinfo: { enabled: true },
  },
  // The SPA asks for "openid profile email", no offline_access (OIDC Core §11 wants
  // prompt=consent with it): refresh tokens go to the client because it may use the grant.
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  // CORS (token, userinfo, revocation) for the SPA's origins only.
  clientBasedCORS(ctx, origin) {
    return spaOrigins.has(origin);
  },
  // Errors as plain text: the library's default page styles itself from a web font CDN.
  async renderError(ctx, out) {
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = Object.entries(out).map(([key, value]) => `${key}: ${value}`).join('\n');
  },
};

const provider = new Provider(issuer, configuration);

// The requests the interop test reads (JSON lines): for authorization, token, userinfo,
// revocation and end_session, the method, path, status, whether a DPoP proof came and the
// Authorization scheme; the prompt asked for; the grant_type and the token_type the token
// endpoint answered. Never a token, code, proof or state.
const LOGGED = new Map([
  ['/auth', 'authorization'],
  ['/token', 'token'],
  ['/me', 'userinfo'],
  ['/token/revocation', 'revocation'],
  ['/session/end', 'end_session'],
  ['/session/end/confirm', 'end_session_confirm'],
]);
provider.use(async (ctx, next) => {
  const route = LOGGED.get(ctx.path);
  const authorization = ctx.get('authorization');
  await next();
  // The library's pages load a web font from a CDN; keep a test browser on loopback.
  if (ctx.response.is('html') && !ctx.response.get('content-security-policy')) {
    ctx.set('Content-Security-Policy', "style-src 'self' 'unsafe-inline'; font-src 'self'");
  }
  if (route === undefined || !requestLog) return;
  try {
    appendFileSync(requestLog, `${JSON.stringify(logEntry(ctx, route, authorization))}\n`);
  } catch (error) {
    process.stderr.write(`provider.mjs: cannot log ${ctx.method} ${ctx.path}: ${error.message}\n`);
  }
});

// "Bearer", "DPoP", ...: the Authorization header's scheme, never what follows it; null without
// the header, "(malformed)" when there is no scheme-like word and a space (it may be a bare token).
function scheme(authorization) {
  if (!authorization) return null;
  const match = /^([A-Za-z][A-Za-z0-9_-]{0,19}) /.exec(authorization);
  return match ? match[1] : '(malformed)';
}

function logEntry(ctx, route, authorization) {
  const entry = {
    at: new Date().toISOString(),
    route,
    method: ctx.method,
    path: ctx.path,
    status: ctx.status,
    dpop: Boolean(ctx.get('dpop')),
    authorization: scheme(authorization),
  };
  if (route === 'authorization') {
    entry.prompt = typeof ctx.query.prompt === 'string' ? ctx.query.prompt.slice(0, 40) : null;
  }
  if (route === 'token' && ctx.method === 'POST') {
    entry.grant_type = typeof ctx.oidc?.params?.grant_type === 'string' ? ctx.oidc.params.grant_type : null;
    const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
    entry.token_type = typeof body.token_type === 'string' ? body.token_type : null;
    entry.refresh_token_issued = typeof body.refresh_token === 'string';
  }
  return entry;
}

provider.on('server_error', (ctx, error) => {
  process.stderr.write(`provider.mjs: server_error: ${error.stack ?? error}\n`);
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready: issuer ${issuer}, client ${clientId}`);
});
server.on('error', (error) => {
  process.stderr.write(`provider.mjs: cannot listen on 127.0.0.1:${port}: ${error.message}\n`);
  process.exit(1);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
