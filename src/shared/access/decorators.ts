import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'gatehouse:isPublic';

/** Opens a route or message pattern to callers without an access token. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

export const ROLES = 'gatehouse:roles';

/** Restricts a route or message pattern to callers having one of these roles (current roles). */
export const Roles = (...roles: string[]): MethodDecorator & ClassDecorator => SetMetadata(ROLES, roles);

export const REQUIRED_AAL = 'gatehouse:requiredAal';

/**
 * Restricts a route or message pattern to sessions of at least this assurance level (the token's
 * `aal`; a token without one counts as 1): 403 MFA_REQUIRED below it.
 */
export const RequireAal = (level: 1 | 2): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_AAL, level);

export const RECENT_AUTH = 'gatehouse:recentAuth';

/**
 * Restricts a route or message pattern to callers who proved a factor (the token's `auth_time`)
 * within `maxAgeSeconds`, by default REAUTH_MAX_AGE: 401 REAUTH_REQUIRED otherwise, and 403 for an
 * impersonation, which proved no factor of the user's.
 */
export const RequireRecentAuth = (maxAgeSeconds?: number): MethodDecorator & ClassDecorator => {
  if (maxAgeSeconds !== undefined && !(Number.isInteger(maxAgeSeconds) && maxAgeSeconds > 0))
    throw new Error(`RequireRecentAuth takes a positive whole number of seconds, got ${String(maxAgeSeconds)}`);
  return SetMetadata(RECENT_AUTH, maxAgeSeconds ?? 'default');
};
