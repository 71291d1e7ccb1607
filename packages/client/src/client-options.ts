import type { ClientTlsOptions } from './redis-connection.js';

export type { ClientTlsOptions } from './redis-connection.js';

/** How a sibling app verifies gatehouse access tokens. */
export interface AuthClientOptions {
  /** The `iss` gatehouse puts in its tokens (its JWT_ISSUER, by default its APP_URL). */
  issuer: string;
  /** The `aud` to require, when gatehouse is configured with JWT_AUDIENCE. */
  audience?: string;
  /** Where gatehouse publishes its keys: `<gatehouse>/.well-known/jwks.json`. */
  jwksUrl: string;
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
}

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
}

/** The error body gatehouse uses, so callers see one shape everywhere. */
export interface AuthErrorBody {
  statusCode: number;
  code: 'UNAUTHORIZED' | 'FORBIDDEN' | 'SERVICE_UNAVAILABLE';
  message: string;
}
