#!/usr/bin/env node
// A real OpenID Provider (panva's certified oidc-provider, installed by
// scripts/ensure-oidc-provider.sh) for the web UI's login tests. Test-only: in-memory state,
// keys made at startup, plain HTTP on 127.0.0.1, one confidential client, fixed accounts.
//
// Configured by environment variables, each overridable by the argv option next to it:
//   PORT           --port           port on 127.0.0.1; 0 (the default) picks a free one
//   CLIENT_ID      --client-id      the one client (required)
//   CLIENT_SECRET  --client-secret  its secret; client_secret_basic or client_secret_post
//   REDIRECT_URIS  --redirect-uris  comma-separated, exact-match redirect URIs (required)
//   ACCOUNTS       --accounts       JSON array of {sub, password, email?, email_verified?,
//                                   name?} (required); email_verified defaults to true
//   CC_CLIENT_ID, CC_CLIENT_SECRET  optional: a second client for the OAuth 2.0 client
//                                   credentials grant (scope `scim`), whose opaque access
//                                   tokens it may introspect at /token/introspection (the
//                                   CRM connector's tests, with a resource server in front
//                                   of a SCIM target)
// The first stdout line, once it serves requests, is `issuer=http://127.0.0.1:PORT`; nothing
// else goes to stdout (diagnostics go to stderr). Exits 0 on SIGTERM or SIGINT.
//
// Authorization code flow only, PKCE S256 required, scopes openid email profile; email,
// email_verified and name are put in the ID token. Login is a plain HTML form at
// /interaction/UID (fields `login`, sub or email, and `password`) posted back to the same URL; a
// wrong password re-shows it (HTTP 200) with <p id="error">. Consent is granted silently.
import crypto from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// oidc-provider prints its notices with console.info; stdout is reserved for the issuer line.
console.info = console.error;

function fail(message) {
  console.error(`oidc-provider server: ${message}`);
  process.exit(2);
}

const { values: argv } = parseArgs({
  options: {
    port: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uris': { type: 'string' },
    accounts: { type: 'string' },
  },
});
const setting = (option, env) => argv[option] ?? process.env[env];

const port = Number(setting('port', 'PORT') ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('PORT must be a port number or 0');
const clientId = setting('client-id', 'CLIENT_ID');
const clientSecret = setting('client-secret', 'CLIENT_SECRET');
const redirectUris = (setting('redirect-uris', 'REDIRECT_URIS') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const ccClientId = process.env.CC_CLIENT_ID;
const ccClientSecret = process.env.CC_CLIENT_SECRET;
if (Boolean(ccClientId) !== Boolean(ccClientSecret)) fail('CC_CLIENT_ID and CC_CLIENT_SECRET go together');
if (!clientId || !clientSecret || redirectUris.length === 0) fail('CLIENT_ID, CLIENT_SECRET and REDIRECT_URIS are required');
let accounts;
try {
  accounts = JSON.parse(setting('accounts', 'ACCOUNTS') ?? '');
} catch (err) {
  fail(`ACCOUNTS is not JSON: ${err.message}`);
}
if (!Array.isArray(accounts) || !accounts.every((a) => typeof a?.sub === 'string' && typeof a.password === 'string')) {
  fail('ACCOUNTS must be a JSON array of objects with string "sub" and "password"');
}

// The package lives in the git-ignored tools directory, not next to this file, so it is
// imported by path.
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const toolDir = path.resolve(repo, process.env.SCIMGATE_TOOLS_DIR ?? '.tools', 'oidc-provider');
let Provider;
try {
  const entry = createRequire(path.join(toolDir, 'package.json')).resolve('oidc-provider');
  ({ default: Provider } = await import(pathToFileURL(entry).href));
} catch (err) {
  fail(`oidc-provider is not installed in ${toolDir} (run scripts/ensure-oidc-provider.sh): ${err.message}`);
}

const findByLogin = (login) => accounts.find((a) => a.sub === login
  || (typeof a.email === 'string' && a.email.toLowerCase() === login.toLowerCase()));

// Listen first: with PORT=0 the issuer URL is only known once the port is.
let handler = (req, res) => { res.writeHead(503).end(); };
const server = http.createServer((req, res) => handler(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    // A client registered for client_secret_basic may also use client_secret_post.
    token_endpoint_auth_method: 'client_secret_basic',
  }, ...(ccClientId ? [{
    client_id: ccClientId,
    client_secret: ccClientSecret,
    redirect_uris: [],
    response_types: [],
    grant_types: ['client_credentials'],
    scope: 'scim',
    token_endpoint_auth_method: 'client_secret_basic',
  }] : [])],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  responseTypes: ['code'],
  pkce: { methods: ['S256'], required: () => true },
  scopes: ['openid', 'scim'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // Scope-requested claims in the ID token too, not only from the userinfo endpoint.
  conformIdTokenClaims: false,
  async findAccount(ctx, sub) {
    const account = accounts.find((a) => a.sub === sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        const claims = { sub };
        if (account.email !== undefined) {
          claims.email = account.email;
          claims.email_verified = account.email_verified ?? true;
        }
        if (account.name !== undefined) claims.name = account.name;
        return claims;
      },
    };
  },
  // Silent consent: every login gets a grant for all the scopes this OP has.
  async loadExistingGrant(ctx) {
    const { Grant } = ctx.oidc.provider;
    const accountId = ctx.oidc.account.accountId;
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    let grant = grantId ? await Grant.find(grantId) : undefined;
    if (!grant || grant.accountId !== accountId) {
      grant = new Grant({ accountId, clientId: ctx.oidc.client.clientId });
    }
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  // Lifetimes in seconds, given so that the library does not print a notice for each default.
  ttl: { AccessToken: 3600, AuthorizationCode: 60, ClientCredentials: 600, IdToken: 3600, Interaction: 3600, Session: 86400, Grant: 86400 },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: Boolean(ccClientId) },
    // Only the client credentials client asks, about its own tokens.
    introspection: { enabled: Boolean(ccClientId), allowedPolicy: async (ctx, client) => client.clientId === ccClientId },
  },
  // SameSite=None cookies without Secure are dropped by Chromium, and this OP is plain HTTP.
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
  jwks: { keys: [signingKey()] },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<h1>Error</h1><p id="error">${esc(out.error)}: ${esc(out.error_description ?? '')}</p>`);
  },
});
provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));
for (const event of ['authorization.error', 'grant.error', 'userinfo.error']) {
  provider.on(event, (ctx, err) => console.error(`oidc-provider ${event}: ${err.message} ${err.error_description ?? ''}`));
}

const providerCallback = provider.callback();
handler = (req, res) => {
  const uid = /^\/interaction\/([\w-]+)$/.exec(new URL(req.url, issuer).pathname)?.[1];
  if (!uid) return providerCallback(req, res);
  return interaction(req, res, uid).catch((err) => {
    const expired = err.name === 'SessionNotFound';
    if (!expired) console.error('oidc-provider server: interaction failed:', err);
    if (res.headersSent) return res.destroy();
    const message = expired ? 'This login has expired or its cookie is missing; start again from the application.' : 'Internal error.';
    return send(res, expired ? 400 : 500, page('Error', `<h1>Error</h1><p id="error">${esc(message)}</p>`));
  });
};

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Error', '<p id="error">Interaction mismatch.</p>'));
  const { prompt, params } = details;
  if (prompt.name === 'consent') {
    // Only reached when a client asks for prompt=consent: granted without a page.
    return provider.interactionFinished(req, res, { consent: { grantId: await grantFor(details) } });
  }
  if (prompt.name !== 'login') return send(res, 400, page('Error', `<p id="error">Unsupported prompt ${esc(prompt.name)}.</p>`));
  if (req.method === 'GET') return send(res, 200, loginPage(uid, params.login_hint ?? '', ''));
  if (req.method !== 'POST') return send(res, 405, page('Error', '<p id="error">Method not allowed.</p>'));

  const form = new URLSearchParams(await body(req));
  const login = form.get('login') ?? '';
  const account = findByLogin(login);
  const ok = account && crypto.timingSafeEqual(sha256(form.get('password') ?? ''), sha256(account.password));
  if (!ok) return send(res, 200, loginPage(uid, login, 'Invalid login or password.'));
  return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
}

async function grantFor(details) {
  const { Grant } = provider;
  const grant = (details.grantId && await Grant.find(details.grantId))
    || new Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details;
  if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
  if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

function loginPage(uid, login, error) {
  return page('Sign in', `<h1>Sign in</h1>
${error ? `<p id="error" role="alert">${esc(error)}</p>\n` : ''}<form method="post" action="/interaction/${esc(uid)}">
<p><label for="login">Login</label> <input id="login" name="login" type="text" value="${esc(login)}" autocomplete="username" required autofocus></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>`);
}

function page(title, main) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><main>
${main}
</main></body></html>
`;
}

function send(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sha256(s) {
  return crypto.createHash('sha256').update(s).digest();
}

function body(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      data += chunk;
      if (data.length > 65536) reject(new Error('request body too large'));
    });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
}

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(`issuer=${issuer}\n`);
