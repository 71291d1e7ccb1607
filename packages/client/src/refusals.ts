/** The error body gatehouse uses, so callers see one shape everywhere. */
export interface AuthErrorBody {
  statusCode: number;
  /** INTERNAL_ERROR (500) only for a setup problem: a context the guard cannot read, a failing tokenFrom function. */
  code: 'UNAUTHORIZED' | 'FORBIDDEN' | 'MFA_REQUIRED' | 'REAUTH_REQUIRED' | 'SERVICE_UNAVAILABLE' | 'INTERNAL_ERROR';
  message: string;
}

/**
 * Why a call was refused. Callers only ever see the message of the reason's group (a forged token
 * and a token of another issuer both read "invalid access token"); the reason itself is for the
 * sibling app's operators: logged at debug level and counted (`TokenVerifier.refusals()`, `onRefusal`).
 */
export type RefusalReason =
  /** No token in the request or payload. */
  | 'missing'
  /** Not three base64url JSON parts. */
  | 'malformed'
  /** The header's typ is not `at+jwt`: not an access token. */
  | 'type'
  /** `iss` is not the configured `issuer`. */
  | 'issuer'
  /** `aud` does not hold the configured `audience`. */
  | 'audience'
  /** `exp`, `iat`, `sub` or `sid` missing or mistyped, or `nbf` mistyped. */
  | 'claims'
  | 'expired'
  /** `nbf` still in the future (beyond the leeway). */
  | 'notYetValid'
  /** A kid that gatehouse's key set does not hold (not even after a refetch). */
  | 'kid'
  /** An algorithm other than the key's. */
  | 'algorithm'
  | 'signature'
  /** The session was revoked (live mode, or a pushed revocation). */
  | 'revoked'
  /** Live mode: gatehouse refused the token for a reason it does not tell. */
  | 'rejected'
  /** @Roles(): none of the required roles. */
  | 'role'
  /** @RequireAal(): the token's `aal` is below the level (no `aal` counts as 1). */
  | 'aal'
  /** @RequireRecentAuth(): `auth_time` older than allowed, missing, not a number, or in the future. */
  | 'reauth'
  /** A write authenticated by the gh_access cookie without the matching X-CSRF-Token header. */
  | 'csrf'
  /** gatehouse (its key set, or `auth.verify` in live mode) could not be reached. */
  | 'unavailable';

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'missing',
  'malformed',
  'type',
  'issuer',
  'audience',
  'claims',
  'expired',
  'notYetValid',
  'kid',
  'algorithm',
  'signature',
  'revoked',
  'rejected',
  'role',
  'aal',
  'reauth',
  'csrf',
  'unavailable',
];

const INVALID: AuthErrorBody = { statusCode: 401, code: 'UNAUTHORIZED', message: 'invalid access token' };

/** One body per reason, the same in offline, live and pushed-revocation mode. */
const BODIES: Record<RefusalReason, AuthErrorBody> = {
  missing: { statusCode: 401, code: 'UNAUTHORIZED', message: 'authentication required' },
  malformed: INVALID,
  type: INVALID,
  issuer: INVALID,
  audience: INVALID,
  claims: INVALID,
  expired: { statusCode: 401, code: 'UNAUTHORIZED', message: 'access token expired' },
  notYetValid: INVALID,
  kid: INVALID,
  algorithm: INVALID,
  signature: INVALID,
  revoked: { statusCode: 401, code: 'UNAUTHORIZED', message: 'session revoked' },
  rejected: INVALID,
  role: { statusCode: 403, code: 'FORBIDDEN', message: 'insufficient role' },
  // gatehouse's own messages for these codes: a client handles them the same from either.
  aal: { statusCode: 403, code: 'MFA_REQUIRED', message: 'a second factor is required' },
  reauth: { statusCode: 401, code: 'REAUTH_REQUIRED', message: 'please re-authenticate' },
  csrf: { statusCode: 403, code: 'FORBIDDEN', message: 'CSRF check failed: send the gh_csrf cookie value in X-CSRF-Token' },
  unavailable: { statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: 'gatehouse unreachable' },
};

/** What the caller is answered for a reason (a fresh object: callers may keep or change it). */
export function refusalBody(reason: RefusalReason): AuthErrorBody {
  return { ...BODIES[reason] };
}

/** A refusal as `onRefusal` receives it: never the token. */
export interface Refusal {
  reason: RefusalReason;
  /** What the caller is answered. */
  body: AuthErrorBody;
  /** For operators: expected vs. actual issuer or audience, the unknown kid, when the token expired… */
  detail?: string;
}

/**
 * A refusal, with the body gatehouse itself would answer (`statusCode`, `code`, `message`), and, for
 * a token refused by the guard or TokenVerifier, the reason. The guard turns it into an
 * HttpException (HTTP, GraphQL) or RpcException (message patterns); elsewhere (WebSocket) it is
 * thrown as it is.
 */
export class AuthClientError extends Error {
  constructor(
    readonly body: AuthErrorBody,
    readonly reason?: RefusalReason,
  ) {
    super(body.message);
    this.name = 'AuthClientError';
  }

  static of(reason: RefusalReason): AuthClientError {
    return new AuthClientError(refusalBody(reason), reason);
  }
}

/** A setup problem (an unsupported context, a failing tokenFrom function): 500, never a TypeError. */
export function setupError(message: string): AuthClientError {
  return new AuthClientError({ statusCode: 500, code: 'INTERNAL_ERROR', message: `gatehouse/client: ${message}` });
}
