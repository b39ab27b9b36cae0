// The peer for scripts/bench-server.sh: node's oidc-provider (OpenID Certified), configured for the
// same job as the Palisade server under load: client credentials issuing ES256 JWT access tokens
// for one resource, and RFC 7662 introspection, with the default in-memory storage. oidc-provider
// refuses to introspect its JWT access tokens ("Structured JWT Tokens cannot be introspected"), so
// a second resource, urn:bench-opaque, gets opaque tokens for the introspection measurement.
// Usage: node oidc-provider-peer.mjs PORT CLIENT_ID CLIENT_SECRET
import crypto from 'node:crypto';

import Provider from 'oidc-provider';

const [port, clientId, clientSecret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const signingKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [{ ...signingKey, alg: 'ES256', use: 'sig', kid: 'bench' }] },
  scopes: ['bench'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:bench-api',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope: 'bench',
        audience: resource,
        accessTokenFormat: resource === 'urn:bench-opaque' ? 'opaque' : 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});
