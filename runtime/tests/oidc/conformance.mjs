// Drives a running palisade authorization server with openid-client v6, a strict third-party
// OpenID Connect client: discovery, client credentials, authorization code with PKCE through the
// real login form, ID token validation, refresh, userinfo, introspection and revocation; then the
// hardening review's checks (issue 10): max_age, prompt=login, id_token_hint for another user,
// request objects, the logout confirmation, introspection by a client that is no resource server,
// and a platform-tenant admin's escalation attempts on every admin operation.
// Started by runtime/tests/runtime/oidc.rs with the server's issuer and clients in the environment.
// Prints one line per step; exits non-zero at the first failure.
import * as client from 'openid-client';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const issuer = new URL(env('ISSUER'));
const redirectUri = env('REDIRECT_URI');
const insecure = { execute: [client.allowInsecureRequests] };
const step = (name, detail = '') => console.log(`ok ${name}${detail ? ': ' + detail : ''}`);
const check = (condition, message) => {
  if (!condition) throw new Error(message);
};

// Discovery, for the service identity and for the web client.
const service = await client.discovery(issuer, env('SERVICE_CLIENT_ID'), env('SERVICE_CLIENT_SECRET'), undefined, insecure);
const web = await client.discovery(issuer, env('WEB_CLIENT_ID'), env('WEB_CLIENT_SECRET'), client.ClientSecretPost(env('WEB_CLIENT_SECRET')), insecure);
check(web.serverMetadata().issuer === issuer.href.replace(/\/$/, ''), 'issuer differs');
step('discovery', web.serverMetadata().token_endpoint);

// Client credentials (client_secret_basic, the default).
const cc = await client.clientCredentialsGrant(service, { scope: 'notes.read' });
check(cc.token_type.toLowerCase() === 'bearer' && cc.access_token, 'no access token');
check(cc.expiresIn() > 0, 'no expiry');
step('client_credentials', `expires in ${cc.expiresIn()} s`);

// Authorization code with PKCE, through the login form as a browser would submit it.
const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const authorizationUrl = client.buildAuthorizationUrl(web, {
  redirect_uri: redirectUri,
  scope: 'openid notes.read',
  code_challenge: challenge,
  code_challenge_method: 'S256',
  state,
  nonce,
});
const formPage = await fetch(authorizationUrl, { redirect: 'manual' });
check(formPage.status === 200, `login form: HTTP ${formPage.status}`);
const cookies = formPage.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
const html = await formPage.text();
const field = (name) => {
  const match = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  check(match, `login form lacks ${name}`);
  return match[1];
};
const action = html.match(/<form method="post" action="([^"]+)"/)[1].replaceAll('&amp;', '&');
const login = await fetch(action, {
  method: 'POST',
  redirect: 'manual',
  headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
  body: new URLSearchParams({
    request_id: field('request_id'),
    csrf: field('csrf'),
    username: env('USERNAME'),
    password: env('PASSWORD'),
  }),
});
check(login.status === 303, `login: HTTP ${login.status}`);
const callback = new URL(login.headers.get('location'));
step('login form', callback.origin + callback.pathname);

const tokens = await client.authorizationCodeGrant(web, callback, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
check(claims && claims.sub && claims.nonce === nonce, 'ID token claims');
check(tokens.refresh_token, 'no refresh token');
step('authorization_code + PKCE, ID token validated', `sub ${claims.sub}`);

const info = await client.fetchUserInfo(web, tokens.access_token, claims.sub);
check(info.sub === claims.sub && info.preferred_username === env('USERNAME'), 'userinfo');
step('userinfo', info.preferred_username);

const refreshed = await client.refreshTokenGrant(web, tokens.refresh_token);
check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'refresh token not rotated');
step('refresh_token (rotated)');

const active = await client.tokenIntrospection(web, refreshed.access_token);
check(active.active === true && active.sub === claims.sub, 'introspection of a live token');
step('introspection', `active, scope "${active.scope}"`);

await client.tokenRevocation(web, refreshed.access_token);
const revoked = await client.tokenIntrospection(web, refreshed.access_token);
check(revoked.active === false, 'a revoked token is still active');
step('revocation');

// Reusing the rotated refresh token must fail, and revoke the newer one with it.
let reuseRefused = false;
try {
  await client.refreshTokenGrant(web, tokens.refresh_token);
} catch (error) {
  reuseRefused = error.error === 'invalid_grant';
}
check(reuseRefused, 'a rotated refresh token was accepted again');
let familyRevoked = false;
try {
  await client.refreshTokenGrant(web, refreshed.refresh_token);
} catch (error) {
  familyRevoked = error.error === 'invalid_grant';
}
check(familyRevoked, 'the refresh family survived reuse');
step('refresh reuse revokes the family');

// --- The hardening review's checks ---
const sessionCookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
const authorizeWith = (extra) => client.buildAuthorizationUrl(web, {
  redirect_uri: redirectUri, scope: 'openid notes.read', code_challenge: challenge,
  code_challenge_method: 'S256', state, nonce, ...extra,
});
const answer = async (url, cookie) => {
  const response = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  if (response.status === 303) {
    const params = new URL(response.headers.get('location')).searchParams;
    return params.get('error') ?? (params.get('code') ? 'code' : 'redirect');
  }
  return response.status === 200 && (await response.text()).includes('name="request_id"') ? 'form' : `HTTP ${response.status}`;
};
check(await answer(authorizeWith({}), sessionCookie) === 'code', 'a current session gives a code');
check(await answer(authorizeWith({ max_age: '0' }), sessionCookie) === 'form', 'max_age=0 must ask for a new sign-in');
check(await answer(authorizeWith({ max_age: '0', prompt: 'none' }), sessionCookie) === 'login_required', 'max_age=0 with prompt=none');
step('max_age=0 forces a new sign-in');
check(await answer(authorizeWith({ prompt: 'login' }), sessionCookie) === 'form', 'prompt=login must ask for a new sign-in');
step('prompt=login forces a new sign-in');
check(await answer(authorizeWith({ prompt: 'consent' }), sessionCookie) === 'consent_required', 'prompt=consent');
check(await answer(authorizeWith({ request: 'eyJhbGciOiJub25lIn0.e30.' }), sessionCookie) === 'request_not_supported', 'request object');
check(await answer(authorizeWith({ request_uri: 'https://rp.example/r' }), sessionCookie) === 'request_uri_not_supported', 'request_uri');
step('request and request_uri refused');
// Bob signs in in another browser; Alice's ID token as a hint does not let Bob's session through.
const bobForm = await fetch(authorizeWith({}), { redirect: 'manual' });
const bobCookies = bobForm.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
const bobHtml = await bobForm.text();
const bobField = (name) => bobHtml.match(new RegExp(`name="${name}" value="([^"]*)"`))[1];
const bobLogin = await fetch(action.replace(/\?.*$/, ''), {
  method: 'POST', redirect: 'manual',
  headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: bobCookies },
  body: new URLSearchParams({ request_id: bobField('request_id'), csrf: bobField('csrf'), username: env('BOB_USERNAME'), password: env('PASSWORD') }),
});
check(bobLogin.status === 303, `bob's login: HTTP ${bobLogin.status}`);
const bobSession = bobLogin.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
check(await answer(authorizeWith({ prompt: 'none', id_token_hint: tokens.id_token }), bobSession) === 'login_required', 'a hint for another user passed with prompt=none');
check(await answer(authorizeWith({ prompt: 'none', id_token_hint: tokens.id_token }), sessionCookie) === 'code', "the session user's own hint passes");
step('id_token_hint for another user with prompt=none: login_required');
// Final check of the first sign-in's ID token: auth_time is there.
check(Number.isInteger(claims.auth_time), 'auth_time missing from the ID token');
step('auth_time in the ID token', String(claims.auth_time));

// Logout without a hint asks first; Alice is still signed in afterwards.
const confirm = await fetch(new URL('/end_session', issuer.href.endsWith('/') ? issuer.href : issuer.href + '/'), { redirect: 'manual', headers: { cookie: sessionCookie } });
check(confirm.status === 200 && (await confirm.text()).includes('Sign out of this server?'), `logout without a hint: HTTP ${confirm.status}`);
check(await answer(authorizeWith({ prompt: 'none' }), sessionCookie) === 'code', 'a bare logout link signed the user out');
step('logout confirmation');

// A confidential client that is no resource server may not introspect.
const notResourceServer = await client.discovery(issuer, env('PLAIN_CLIENT_ID'), env('PLAIN_CLIENT_SECRET'), undefined, insecure);
let introspectionRefused = false;
try {
  await client.tokenIntrospection(notResourceServer, cc.access_token);
} catch (error) {
  introspectionRefused = error.error === 'unauthorized_client' || error.status === 403;
}
check(introspectionRefused, 'a client that is no resource server introspected a token');
step('introspection by a non-resource-server client refused');

// An admin of the platform tenant tries to take over what only a platform admin may touch.
const attacker = await client.discovery(issuer, env('ATTACKER_CLIENT_ID'), env('ATTACKER_CLIENT_SECRET'), undefined, insecure);
const adminToken = (await client.clientCredentialsGrant(attacker, { resource: 'palisade-admin' })).access_token;
const platform = env('PLATFORM_TENANT');
const admin = async (method, path, body) => {
  const response = await fetch(new URL(path, issuer.href.endsWith('/') ? issuer.href : issuer.href + '/'), {
    method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return response.status;
};
const attempts = [
  ['POST', `admin/tenants/${platform}/clients/${env('ROOT_CLIENT_ID')}/secret`],
  ['POST', `admin/tenants/${platform}/clients/${env('ROOT_CLIENT_ID')}/disable`],
  ['POST', `admin/tenants/${platform}/users/${env('ROOT_USER_ID')}/disable`],
  ['POST', `admin/tenants/${platform}/users/${env('ROOT_USER_ID')}/password`, { password: 'an attacker password' }],
  ['POST', `admin/tenants/${platform}/users`, { username: 'mallory', password: 'an attacker password', roles: ['platform-admin'] }],
  ['POST', `admin/tenants/${platform}/clients`, { name: 'backdoor', grant_types: ['client_credentials'], roles: ['platform-admin'], audiences: ['palisade-admin'] }],
  ['POST', `admin/tenants/${platform}/api-tokens`, { name: 'backdoor', audiences: ['palisade-admin'], ttl: 3600 }],
  ['POST', 'admin/tenants', { id: 'mallory-co', name: 'Mallory' }],
  ['POST', 'admin/keys/rotate'],
  ['POST', 'admin/keys/some-kid/revoke'],
];
const allowed = [];
for (const [method, path, body] of attempts) {
  const status = await admin(method, path, body);
  if (status !== 403) allowed.push(`${method} /${path}: HTTP ${status}`);
}
check(allowed.length === 0, `escalation not refused: ${allowed.join('; ')}`);
step('platform-tenant admin escalation refused', `${attempts.length} admin operations`);

const logout = client.buildEndSessionUrl(web, { id_token_hint: tokens.id_token, post_logout_redirect_uri: env('POST_LOGOUT_REDIRECT_URI'), state: 'bye' });
const ended = await fetch(logout, { redirect: 'manual', headers: { cookie: login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') } });
check(ended.status === 303 && ended.headers.get('location').startsWith(env('POST_LOGOUT_REDIRECT_URI')), `end session: HTTP ${ended.status}`);
step('end session');
console.log('openid-client conformance: all steps passed');
