// Drives a running palisade authorization server with openid-client v6, a strict third-party
// OpenID Connect client: discovery, client credentials, authorization code with PKCE through the
// real login form, ID token validation, refresh, userinfo, introspection and revocation.
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

const logout = client.buildEndSessionUrl(web, { id_token_hint: tokens.id_token, post_logout_redirect_uri: env('POST_LOGOUT_REDIRECT_URI'), state: 'bye' });
const ended = await fetch(logout, { redirect: 'manual', headers: { cookie: login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') } });
check(ended.status === 303 && ended.headers.get('location').startsWith(env('POST_LOGOUT_REDIRECT_URI')), `end session: HTTP ${ended.status}`);
step('end session');
console.log('openid-client conformance: all steps passed');
