import type { AssuranceLevel, AuthenticatedUser } from './client-options.js';

/** How the caller authenticated, as gatehouse's access tokens say: their `amr`, `aal` and `auth_time`. */
export type Assurance = Pick<AuthenticatedUser, 'amr' | 'aal' | 'authTime'>;

/** What @RequireAal() and @RequireRecentAuth() ask of a handler's caller. */
export interface AssuranceRequirement {
  aal?: AssuranceLevel;
  /** Seconds since `auth_time`, at most. */
  maxAge?: number;
}

/** The assurance claims of a verified token (offline) or of gatehouse's `auth.verify` answer (live). */
export function assuranceOf(claims: Record<string, unknown>): Assurance {
  const { amr, aal, auth_time: authTime } = claims;
  return {
    amr: Array.isArray(amr) ? amr.filter((method): method is string => typeof method === 'string') : [],
    // Only an explicit 2 is a proven second factor: a missing or unknown value is the lowest level.
    aal: aal === 2 ? 2 : 1,
    authTime: typeof authTime === 'number' && Number.isFinite(authTime) && authTime > 0 ? authTime : null,
  };
}

/**
 * Why a caller falls short of a handler's requirement, or undefined. The second factor is asked
 * about first: proving it (a re-authentication with a code) also makes `auth_time` recent.
 */
export function assuranceProblem(
  caller: Assurance & Pick<AuthenticatedUser, 'claims'>,
  required: AssuranceRequirement,
  now: number,
  clockTolerance: number,
): { reason: 'aal' | 'reauth'; detail: string } | undefined {
  if (required.aal !== undefined && caller.aal < required.aal) {
    const has = caller.claims.aal === undefined ? 'no aal claim (counts as 1)' : `aal ${JSON.stringify(caller.claims.aal)}`;
    return { reason: 'aal', detail: `needs aal ${required.aal}, the token has ${has}` };
  }
  if (required.maxAge === undefined) return undefined;
  if (caller.authTime === null) return { reason: 'reauth', detail: 'the token has no valid auth_time' };
  const age = Math.floor(now / 1000) - caller.authTime;
  // A time to come is not a recent proof (beyond the clock leeway): gatehouse never issues one.
  if (age < -clockTolerance) {
    return { reason: 'reauth', detail: `auth_time ${caller.authTime} is ${-age} s ahead of this clock (leeway ${clockTolerance} s)` };
  }
  if (age > required.maxAge) {
    return { reason: 'reauth', detail: `the last proof of a factor was ${age} s ago, this handler allows ${required.maxAge} s` };
  }
  return undefined;
}
