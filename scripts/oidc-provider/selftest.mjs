#!/usr/bin/env node
// Proves scripts/oidc-provider/server.mjs works the way the web UI tests will use it, with no
// browser and nothing but Node: starts it on a free port, walks the authorization code + PKCE
// flow the way a plain HTTP client with a cookie jar does (including a wrong password first),
// exchanges the code with each client authentication method, checks the ID token's claims,
// and stops it with SIGTERM. Run by scripts/ensure-oidc-provider.sh; prints one line on success.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const started = Date.now();
const clientId = 'scimgate-selftest';
const clientSecret = crypto.randomBytes(16).toString('hex');
const redirectUri = 'http://127.0.0.1:9/callback'; // never fetched: the flow stops at its Location
const accounts = [
  { sub: 'alice', email: 'alice@example.test', name: 'Alice', password: 'pw' },
  { sub: 'bob', email: 'Bob@Example.test', email_verified: false, name: 'Bob', password: 'pw2' },
];

const server = spawn(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'server.mjs')], {
  env: {
    ...process.env,
    PORT: '0',
    CLIENT_ID: clientId,
    CLIENT_SECRET: clientSecret,
    REDIRECT_URIS: `http://127.0.0.1:9/other,${redirectUri}`,
    ACCOUNTS: JSON.stringify(accounts),
    CC_CLIENT_ID: 'scimgate-crm',
    CC_CLIENT_SECRET: clientSecret,
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let stderr = '';
server.stderr.on('data', (d) => { stderr += d; });
const exited = once(server, 'exit');

try {
  const issuer = await issuerLine();
  assert.match(issuer, /^http:\/\/127\.0\.0\.1:\d+$/);

  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  assert.equal(discovery.issuer, issuer);
  assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
  for (const m of ['client_secret_basic', 'client_secret_post']) {
    assert.ok(discovery.token_endpoint_auth_methods_supported.includes(m), m);
  }
  for (const s of ['openid', 'email', 'profile']) assert.ok(discovery.scopes_supported.includes(s), s);

  // PKCE is required: without a code_challenge the OP answers the client with an error.
  const noPkce = await fetch(authUrl(discovery, { state: 's0', nonce: 'n0' }), { redirect: 'manual' });
  const noPkceBack = new URL(noPkce.headers.get('location'));
  assert.equal(noPkceBack.searchParams.get('error'), 'invalid_request', noPkceBack.href);

  const alice = await login(discovery, 'alice', ['wrong', 'pw'], 'basic');
  assert.equal(alice.sub, 'alice');
  assert.equal(alice.email, 'alice@example.test');
  assert.equal(alice.email_verified, true);
  assert.equal(alice.name, 'Alice');

  // Logging in by email (case-insensitively) and authenticating with client_secret_post.
  const bob = await login(discovery, 'bob@example.test', ['pw2'], 'post');
  assert.equal(bob.sub, 'bob');
  assert.equal(bob.email_verified, false);

  // The client credentials grant, and introspection of the token it gives.
  const basic = `Basic ${Buffer.from(`scimgate-crm:${clientSecret}`).toString('base64')}`;
  const form = (fields) => ({ method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
  const issued = await (await fetch(discovery.token_endpoint, form({ grant_type: 'client_credentials', scope: 'scim' }))).json();
  assert.equal(issued.token_type, 'Bearer', JSON.stringify(issued));
  const seen = await (await fetch(discovery.introspection_endpoint, form({ token: issued.access_token }))).json();
  assert.equal(seen.active, true, JSON.stringify(seen));
  assert.equal(seen.client_id, 'scimgate-crm');

  server.kill('SIGTERM');
  const [code, signal] = await Promise.race([exited, timeout(5000, 'exit after SIGTERM')]);
  assert.equal(code, 0, `exit code ${code} signal ${signal}`);
  console.log(`selftest passed (code + PKCE flow, wrong password, wrong verifier, ID token claims, client credentials, SIGTERM) in ${Date.now() - started} ms`);
} catch (err) {
  server.kill('SIGKILL');
  console.error(`selftest failed: ${err.stack}\n--- server stderr ---\n${stderr}`);
  process.exit(1);
}

// One authorization: wrong passwords first (each must re-show the form with an error), then
// the right one; returns the ID token's payload after checking the code exchange.
async function login(discovery, loginName, passwords, auth) {
  const jar = new Map();
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const state = crypto.randomUUID();
  const nonce = crypto.randomUUID();

  let res = await follow(jar, authUrl(discovery, { state, nonce, code_challenge: challenge, code_challenge_method: 'S256' }));
  const formUrl = res.url;
  assert.equal(res.status, 200, `login form at ${formUrl}`);
  let html = await res.text();
  assert.match(html, /<form method="post" action="\/interaction\/[\w-]+">/);
  assert.match(html, /name="login"/);
  assert.match(html, /name="password"/);
  assert.doesNotMatch(html, /id="error"/);

  for (const [i, password] of passwords.entries()) {
    res = await follow(jar, new URL(html.match(/action="([^"]+)"/)[1], formUrl).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ login: loginName, password }).toString(),
    });
    if (i < passwords.length - 1) {
      assert.equal(res.status, 200, 'wrong password re-shows the form');
      html = await res.text();
      assert.match(html, /id="error"[^>]*>Invalid login or password\./);
      assert.match(html, /name="password"/);
    }
  }
  assert.ok(res.redirectedTo?.startsWith(`${redirectUri}?`), `ended at ${res.url} (${res.status}), not the redirect_uri`);
  const back = new URL(res.redirectedTo).searchParams;
  assert.equal(back.get('state'), state);
  assert.equal(back.get('iss'), discovery.issuer);
  const code = back.get('code');
  assert.ok(code, `no code in ${res.redirectedTo}`);

  const form = { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier };
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth === 'basic') {
    const enc = encodeURIComponent;
    headers.authorization = `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64')}`;
  } else {
    Object.assign(form, { client_id: clientId, client_secret: clientSecret });
  }
  // PKCE is checked at the token endpoint too: a wrong verifier is refused.
  const wrong = await fetch(discovery.token_endpoint, { method: 'POST', headers, body: new URLSearchParams({ ...form, code_verifier: verifier.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }) });
  assert.equal(wrong.status, 400);
  assert.equal((await wrong.json()).error, 'invalid_grant');
  const token = await fetch(discovery.token_endpoint, { method: 'POST', headers, body: new URLSearchParams(form) });
  const tokens = await token.json();
  assert.equal(token.status, 200, JSON.stringify(tokens));
  assert.ok(tokens.access_token);
  const [, payload] = tokens.id_token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  assert.equal(claims.iss, discovery.issuer);
  assert.equal(claims.aud, clientId);
  assert.equal(claims.nonce, nonce);

  // The code is single-use.
  const again = await fetch(discovery.token_endpoint, { method: 'POST', headers, body: new URLSearchParams(form) });
  assert.equal(again.status, 400);
  return claims;
}

function authUrl(discovery, extra) {
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: clientId, response_type: 'code', scope: 'openid email profile', redirect_uri: redirectUri, ...extra,
  });
  return url.href;
}

// Fetches with a cookie jar, following redirects until a page, or a redirect to the client
// (whose URL is returned as res.redirectedTo instead of being fetched).
async function follow(jar, url, init = {}) {
  for (let hops = 0; hops < 10; hops += 1) {
    const target = new URL(url);
    const cookie = [...jar.values()].filter((c) => target.pathname.startsWith(c.path)).map((c) => `${c.name}=${c.value}`).join('; ');
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...init.headers, ...(cookie && { cookie }) } });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const name = pair.slice(0, pair.indexOf('=')).trim();
      const value = pair.slice(pair.indexOf('=') + 1).trim();
      const cookiePath = attrs.map((a) => a.trim()).find((a) => /^path=/i.test(a))?.slice(5) || '/';
      const key = `${name};${cookiePath}`;
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(key);
      else jar.set(key, { name, value, path: cookiePath });
    }
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) {
      Object.defineProperty(res, 'url', { value: url });
      return res;
    }
    await res.arrayBuffer();
    const next = new URL(location, url).href;
    if (next.startsWith(`${redirectUri}?`)) {
      Object.defineProperty(res, 'url', { value: url });
      res.redirectedTo = next;
      return res;
    }
    url = next;
    init = {}; // 302/303 after a POST: a plain GET
  }
  throw new Error(`too many redirects at ${url}`);
}

async function issuerLine() {
  const lines = readline.createInterface({ input: server.stdout });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => line),
    exited.then(([code]) => { throw new Error(`server exited with ${code} before printing the issuer`); }),
    timeout(20000, 'the issuer line'),
  ]);
  assert.match(first, /^issuer=/, `first stdout line: ${first}`);
  lines.on('line', (line) => { throw new Error(`unexpected stdout line: ${line}`); });
  return first.slice('issuer='.length);
}

function timeout(ms, what) {
  return new Promise((_, reject) => { setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref(); });
}
