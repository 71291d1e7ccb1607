import type { ExecutionContext } from '@nestjs/common';

import type { ClientTlsOptions } from './redis-connection.js';
import type { AuthErrorBody, Refusal } from './refusals.js';

export type { AuthErrorBody };

export type { ClientTlsOptions } from './redis-connection.js';

/** How a sibling app verifies gatehouse access tokens. */
export interface AuthClientOptions {
  /**
   * The `iss` gatehouse puts in its tokens (its JWT_ISSUER, by default its APP_URL), checked in
   * every mode. A mis-set one refuses every token: see the `issuer` count of `TokenVerifier.refusals()`.
   */
  issuer: string;
  /** The `aud` to require (in every mode), when gatehouse is configured with JWT_AUDIENCE. */
  audience?: string;
  /**
   * Where gatehouse publishes its keys: `<gatehouse>/.well-known/jwks.json`. Required, except in
   * live mode (which asks gatehouse instead and never fetches it).
   */
  jwksUrl?: string;
  /**
   * Live mode: ask gatehouse (`auth.verify`) on every call, so a logged-out session is refused at
   * once and roles are current. Costs a round trip per call.
   */
  live?: LiveOptions;
  /**
   * Pushed revocations: keep a local deny-list of session ids fed by gatehouse's `session.revoked`
   * events on Redis (`<prefix>.events`), so a logged-out session is refused within milliseconds
   * without a round trip per call. `redisUrl` is `redis://` or `rediss://` (TLS, with `tls` for a
   * private CA or a client certificate), `[user]:password@` and the database index honoured.
   */
  revocations?: { redisUrl: string; prefix?: string; tls?: ClientTlsOptions };
  /** Access-token lifetime of the gatehouse (ACCESS_TOKEN_TTL): how long a deny-list entry must live. Default 900. */
  accessTokenTtl?: number;
  /** How long the fetched JWKS is trusted before it is fetched again, seconds: a retired key stops verifying here within it. Default 60. */
  jwksCacheSeconds?: number;
  /** Leeway on exp and nbf, seconds. Default 30 (as gatehouse). */
  clockTolerance?: number;
  /**
   * Where HTTP requests (and GraphQL requests) carry the access token, tried in order: `'header'`
   * (`Authorization: Bearer`, the default), `'cookie'` (gatehouse's `gh_access` cookie, read from the
   * Cookie header; a write must then send the `gh_csrf` cookie's value in `X-CSRF-Token`), or a
   * function of the ExecutionContext of any handler (check `context.getType()`), returning the
   * token or undefined. Message patterns and WebSocket messages take the payload's `accessToken`,
   * then ask the functions.
   */
  tokenFrom?: TokenSource | readonly TokenSource[];
  /**
   * Called on every refusal with its reason (never the token), e.g. to count them in the app's
   * metrics. `TokenVerifier.refusals()` counts them too. Must not throw (it would be ignored).
   */
  onRefusal?: (refusal: Refusal) => void;
}

/** Reads the access token of a handler's request or message; undefined when it carries none. */
export type TokenExtractor = (context: ExecutionContext) => string | null | undefined;

/** One place a token may come from: see `AuthClientOptions.tokenFrom`. */
export type TokenSource = 'header' | 'cookie' | TokenExtractor;

/**
 * Where live mode asks. TCP: gatehouse's listener, over TLS when `tls` is given (needed when
 * gatehouse runs with RPC_TLS_*: pass its CA and this app's client certificate and key). Redis:
 * `redis://` or `rediss://` (TLS; `tls` adds a private CA or a client certificate), with
 * `[user]:password@` and the database index honoured.
 */
export type LiveOptions =
  | { transport: 'tcp'; host: string; port: number; tls?: ClientTlsOptions; timeoutMs?: number }
  | { transport: 'redis'; url: string; tls?: ClientTlsOptions; timeoutMs?: number };

export const AUTH_CLIENT_OPTIONS = Symbol('AUTH_CLIENT_OPTIONS');

/** Authenticator assurance level, as gatehouse's `aal` claim: 1 (one factor) or 2 (a second factor proven). */
export type AssuranceLevel = 1 | 2;

/** Who called: what the guard puts on the request (HTTP) or context (RPC), for @CurrentUser(). */
export interface AuthenticatedUser {
  userId: string;
  sessionId: string;
  /** From the token (offline) or current (live mode). */
  roles: string[];
  isImpersonated: boolean;
  /** The admin acting as the user, when impersonated. */
  impersonatorId: string | null;
  claims: Record<string, unknown>;
  /** How the user authenticated (the token's `amr`, RFC 8176 values such as `pwd`, `otp`, `hwk`); empty when it has none. */
  amr: string[];
  /** The token's `aal`: 2 only when a second factor was proven; 1 when the token has no (or another) `aal`. */
  aal: AssuranceLevel;
  /** When the user last proved a factor (the token's `auth_time`), seconds since the epoch; null when it has none (or not a positive number). */
  authTime: number | null;
  /**
   * Live mode only: the user's current email, from gatehouse's answer. Undefined offline and with
   * pushed revocations: access tokens carry no email.
   */
  email?: string;
  /** Live mode only: the user's current username (null when the user has none); undefined offline. */
  username?: string | null;
}

/**
 * Checks the options at start, so a mis-set app stops with one line naming the option (errors never
 * repeat a URL, which may hold a password).
 */
export function checkOptions(options: AuthClientOptions): AuthClientOptions {
  const fail = (problem: string): Error => new Error(`gatehouse/client: ${problem}`);
  if (!options || typeof options !== 'object') throw fail('AuthClientModule needs options ({ issuer, jwksUrl })');
  if (typeof options.issuer !== 'string' || !options.issuer)
    throw fail("issuer is required: the iss of gatehouse's tokens (its JWT_ISSUER)");
  if (!options.live && (typeof options.jwksUrl !== 'string' || !options.jwksUrl)) {
    throw fail('jwksUrl is required unless live mode is configured: set it to <gatehouse>/.well-known/jwks.json');
  }
  const sources = options.tokenFrom === undefined ? [] : Array.isArray(options.tokenFrom) ? options.tokenFrom : [options.tokenFrom];
  for (const source of sources as unknown[]) {
    if (source !== 'header' && source !== 'cookie' && typeof source !== 'function') {
      throw fail(`tokenFrom takes 'header', 'cookie' or a function (got ${JSON.stringify(source)})`);
    }
  }
  if (options.tokenFrom !== undefined && sources.length === 0) throw fail('tokenFrom is an empty list: no request could carry a token');
  return options;
}
