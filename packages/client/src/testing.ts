import { createHash, generateKeyPair, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

import type { AuthClientOptions } from './client-options.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface TestIssuerOptions {
  /** The `iss` of the tokens: the `issuer` the app under test is configured with. */
  issuer: string;
  /** The `aud` of the tokens, when the app requires one. */
  audience?: string;
}

export interface TestTokenOptions {
  /** The user id. */
  sub: string;
  /** The session id; a fresh UUID by default. */
  sid?: string;
  /** Default `['user']`, as gatehouse gives a new account. */
  roles?: string[];
  /** Makes an impersonation token: `isImpersonated: true`, `act: { sub }`, and no `admin` role (as gatehouse). */
  impersonatorId?: string;
  /** Claims added beside the registered ones, as gatehouse's payload hook does; they never override them. */
  claims?: Record<string, unknown>;
  /**
   * Lifetime in seconds from now, default 900. Negative for an expired token: beyond the
   * verifier's leeway (`clockTolerance`, 30 s by default) it is refused.
   */
  expiresIn?: number;
}

/** A stand-in for gatehouse's token signing, for a sibling app's tests. */
export interface TestIssuer {
  readonly issuer: string;
  readonly audience: string | undefined;
  /** The key id in every token's header. */
  readonly kid: string;
  /** The public key set, as gatehouse serves it at `/.well-known/jwks.json`. */
  readonly jwks: { keys: JsonWebKey[] };
  /**
   * A `data:` URL holding `jwks`: give it as `jwksUrl` (also through an environment variable or
   * ConfigService) and the guard reads the keys from it, without any network.
   */
  readonly jwksUrl: string;
  /** An access token signed and shaped like gatehouse's (ES256, `typ: at+jwt`, its claims). */
  token(options: TestTokenOptions): string;
  /** AuthClientModule options that accept this issuer's tokens (offline mode); `overrides` win. */
  clientOptions(overrides?: Partial<AuthClientOptions>): AuthClientOptions;
}

/** Claims gatehouse sets itself; extra claims cannot replace them (as with its payload hook). */
const REGISTERED = new Set(['iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp', 'nbf', 'roles', 'isImpersonated', 'act']);

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** RFC 7638 thumbprint, as gatehouse derives its kids. */
function thumbprint(jwk: JsonWebKey): string {
  return createHash('sha256')
    .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
    .digest('base64url');
}

/**
 * Mints gatehouse-shaped access tokens with a key pair of its own, so a sibling app's tests run
 * its guard for real without a running gatehouse.
 */
export async function createTestIssuer(options: TestIssuerOptions): Promise<TestIssuer> {
  const { issuer, audience } = options;
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  const publicJwk = publicKey.export({ format: 'jwk' });
  const kid = thumbprint(publicJwk);
  const jwks = { keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] };
  const jwksUrl = `data:application/json;base64,${Buffer.from(JSON.stringify(jwks)).toString('base64')}`;
  return {
    issuer,
    audience,
    kid,
    jwks,
    jwksUrl,
    token: (token) => signToken(privateKey, kid, issuer, audience, token),
    clientOptions: (overrides = {}) => ({ issuer, ...(audience !== undefined ? { audience } : {}), jwksUrl, ...overrides }),
  };
}

function signToken(key: KeyObject, kid: string, issuer: string, audience: string | undefined, options: TestTokenOptions): string {
  const { sub, sid = randomUUID(), roles = ['user'], impersonatorId, claims = {}, expiresIn = 900 } = options;
  const iat = Math.floor(Date.now() / 1000);
  const custom = Object.fromEntries(Object.entries(claims).filter(([name]) => !REGISTERED.has(name)));
  // The same claims, in the same order, as gatehouse's access tokens.
  const payload = {
    ...custom,
    iss: issuer,
    ...(audience !== undefined ? { aud: audience } : {}),
    sub,
    sid,
    jti: randomUUID(),
    iat,
    exp: iat + expiresIn,
    // An impersonation never carries admin rights in gatehouse.
    roles: impersonatorId !== undefined ? roles.filter((role) => role !== 'admin') : roles,
    isImpersonated: impersonatorId !== undefined,
    ...(impersonatorId !== undefined ? { act: { sub: impersonatorId } } : {}),
  };
  const input = `${b64url({ alg: 'ES256', typ: 'at+jwt', kid })}.${b64url(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}
