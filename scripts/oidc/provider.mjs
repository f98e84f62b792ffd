// A real OIDC provider (the npm package oidc-provider) for Portcullis's [oidc] tests.
//
//   node provider.mjs DIR PORT
//
// Serves four issuers from one process on 127.0.0.1:PORT, each under its own path, so that the
// tests have two trusted issuers with different claim mappings (a, b), one whose keys the
// rotation test rotates (rot: no other test is disturbed by it) and one that Portcullis does not
// trust (untrusted):
//   http://127.0.0.1:PORT/a   .../b   .../rot   .../untrusted
// Every issuer has the same confidential clients (grant client_credentials only); their access
// tokens are JWTs for a resource indicator (the audience): urn:portcullis by default, or
// urn:other-service when the client asks for it (the wrong audience). Clients (CLIENTS below):
//   workload-rs   RS256-signed tokens; claims portcullis_project, groups, workload
//   workload-es   ES256-signed tokens
//   workload-short  RS256, tokens live SHORT_TTL seconds (expiry tests)
//   workload-noproject  RS256, no portcullis_project claim
// Keys and client secrets are made on the first start and kept in DIR/state.json (mode 0600), so a
// restart keeps them. DIR/oidc.env gets what the tests need (issuer URLs, client secrets, the
// admin token). Key rotation: POST /admin/rotate?issuer=rot with `Authorization: Bearer <admin
// token>` adds a new RS256 and ES256 key (new kids, signing from now on; the old keys stay in the
// JWKS) and answers {"kids": [...]}. Loopback only; for tests only.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import Provider from 'oidc-provider';

const [dir, portArg] = process.argv.slice(2);
if (!dir || !portArg) {
  console.error('usage: node provider.mjs DIR PORT');
  process.exit(2);
}
const port = Number(portArg);
const base = `http://127.0.0.1:${port}`;
const ISSUERS = ['a', 'b', 'rot', 'untrusted'];
const AUDIENCE = 'urn:portcullis';
const OTHER_AUDIENCE = 'urn:other-service';
const SHORT_TTL = 3;
const CLIENTS = {
  'workload-rs': { alg: 'RS256', project: 'oidc-proj-rs', groups: ['kms-users', 'team-a'] },
  'workload-es': { alg: 'ES256', project: 'oidc-proj-es', groups: ['team-b'] },
  'workload-short': { alg: 'RS256', project: 'oidc-proj-short', groups: [], ttl: SHORT_TTL },
  'workload-noproject': { alg: 'RS256', groups: [] },
};

function newKeys() {
  const jwk = (type, opts, alg) => {
    const { privateKey } = crypto.generateKeyPairSync(type, opts);
    const k = privateKey.export({ format: 'jwk' });
    return { ...k, alg, use: 'sig', kid: `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}` };
  };
  return [jwk('rsa', { modulusLength: 2048 }, 'RS256'), jwk('ec', { namedCurve: 'P-256' }, 'ES256')];
}

const statePath = path.join(dir, 'state.json');
let state;
if (fs.existsSync(statePath)) {
  state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
} else {
  state = {
    admin_token: crypto.randomBytes(24).toString('base64url'),
    secrets: Object.fromEntries(Object.keys(CLIENTS).map((c) => [c, crypto.randomBytes(24).toString('base64url')])),
    keys: Object.fromEntries(ISSUERS.map((i) => [i, newKeys()])),
    cookie_keys: [crypto.randomBytes(32).toString('base64url')],
  };
}
function save() {
  fs.writeFileSync(statePath, JSON.stringify(state), { mode: 0o600 });
}
save();

function makeProvider(name) {
  const issuer = `${base}/${name}`;
  const provider = new Provider(issuer, {
    clients: Object.keys(CLIENTS).map((id) => ({
      client_id: id,
      client_secret: state.secrets[id],
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: state.keys[name] },
    cookies: { keys: state.cookie_keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => AUDIENCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource, client) => {
          if (resource !== AUDIENCE && resource !== OTHER_AUDIENCE) {
            throw new Provider.errors.InvalidTarget();
          }
          const c = CLIENTS[client.clientId];
          return {
            scope: 'kms',
            audience: resource,
            accessTokenTTL: c.ttl ?? 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: c.alg } },
          };
        },
      },
    },
    extraTokenClaims: async (_ctx, token) => {
      const c = CLIENTS[token.clientId];
      if (!c) return undefined;
      const claims = { groups: c.groups, workload: `system:serviceaccount:demo:${token.clientId}` };
      if (c.project) claims.portcullis_project = c.project;
      return claims;
    },
    ttl: { ClientCredentials: (_ctx, _token, client) => CLIENTS[client.clientId]?.ttl ?? 600 },
  });
  provider.on('server_error', (_ctx, err) => console.error(`[${name}] server_error`, err));
  return { issuer, provider, handler: provider.callback() };
}

const live = Object.fromEntries(ISSUERS.map((n) => [n, makeProvider(n)]));

function writeEnv() {
  const lines = [
    `OIDC_BASE=${base}`,
    `OIDC_ISSUER_A=${live.a.issuer}`,
    `OIDC_ISSUER_B=${live.b.issuer}`,
    `OIDC_ISSUER_ROT=${live.rot.issuer}`,
    `OIDC_ISSUER_UNTRUSTED=${live.untrusted.issuer}`,
    `OIDC_AUDIENCE=${AUDIENCE}`,
    `OIDC_OTHER_AUDIENCE=${OTHER_AUDIENCE}`,
    `OIDC_SHORT_TTL=${SHORT_TTL}`,
    `OIDC_ADMIN_TOKEN=${state.admin_token}`,
    ...Object.entries(CLIENTS).map(([id, c]) =>
      `OIDC_CLIENT_${id.replace(/-/g, '_').toUpperCase()}=${id}:${state.secrets[id]}:${c.project ?? ''}`),
  ];
  fs.writeFileSync(path.join(dir, 'oidc.env'), `${lines.join('\n')}\n`, { mode: 0o600 });
}

function admin(req, res, url) {
  const auth = req.headers.authorization ?? '';
  const want = `Bearer ${state.admin_token}`;
  const ok = auth.length === want.length && crypto.timingSafeEqual(Buffer.from(auth), Buffer.from(want));
  const name = url.searchParams.get('issuer');
  if (!ok || req.method !== 'POST' || url.pathname !== '/admin/rotate' || !live[name]) {
    res.writeHead(ok ? 404 : 401).end();
    return;
  }
  const fresh = newKeys();
  // oidc-provider signs with the first key of the algorithm: the new ones go first.
  state.keys[name] = [...fresh, ...state.keys[name]];
  save();
  live[name] = makeProvider(name);
  console.log(`[${name}] rotated: new kids ${fresh.map((k) => k.kid).join(', ')}`);
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kids: fresh.map((k) => k.kid) }));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, base);
  if (url.pathname.startsWith('/admin/')) {
    admin(req, res, url);
    return;
  }
  const name = url.pathname.split('/')[1];
  const target = live[name];
  if (!target) {
    res.writeHead(404).end();
    return;
  }
  // Mounted under /NAME: oidc-provider derives its mount path from originalUrl vs url.
  req.originalUrl = req.url;
  req.url = req.url.slice(name.length + 1) || '/';
  target.handler(req, res);
});

server.listen(port, '127.0.0.1', () => {
  writeEnv();
  console.log(`oidc-provider: issuers ${ISSUERS.map((n) => live[n].issuer).join(' ')}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
