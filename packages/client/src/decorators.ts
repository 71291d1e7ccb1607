import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';

import { requireCaller } from './caller.js';
import type { AssuranceLevel } from './client-options.js';

export const IS_PUBLIC_ROUTE = 'gatehouse-client:public';
export const IS_OPTIONAL_AUTH = 'gatehouse-client:optional-auth';
export const REQUIRED_ROLES = 'gatehouse-client:roles';
export const REQUIRED_AAL = 'gatehouse-client:aal';
export const MAX_AUTH_AGE = 'gatehouse-client:max-auth-age';

/**
 * Opens a route or message pattern to callers without a token (the guard denies by default). The
 * guard does not look at tokens there: @CurrentUser() is refused; use @OptionalAuth() to read one.
 */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC_ROUTE, true);

/**
 * A caller may come without a token: @CurrentUser() then gives null. A token that is sent must be
 * valid: an invalid, expired or revoked one is refused with 401 (so a client learns to refresh it
 * rather than being served as anonymous). With @Roles(), a token is required.
 */
export const OptionalAuth = (): MethodDecorator & ClassDecorator => SetMetadata(IS_OPTIONAL_AUTH, true);

/** Requires one of these roles. */
export const Roles = (...roles: string[]): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_ROLES, roles);

const shown = (value: unknown): string => (typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? typeof value));

/**
 * Requires a token whose `aal` is at least `level` (a token without `aal` counts as 1): below it,
 * 403 MFA_REQUIRED. On a method it overrides the controller's, so `@RequireAal(1)` relaxes one handler.
 * Like @Roles(), it makes a token required under @OptionalAuth(). Throws at decoration time unless 1 or 2.
 */
export const RequireAal = (level: AssuranceLevel): MethodDecorator & ClassDecorator => {
  if (level !== 1 && level !== 2) throw new Error(`gatehouse/client: @RequireAal() takes 1 or 2 (got ${shown(level)})`);
  return SetMetadata(REQUIRED_AAL, level);
};

/**
 * Requires that the user proved a factor at most `seconds` ago (the token's `auth_time`): older, or
 * without `auth_time`, 401 REAUTH_REQUIRED (the client re-authenticates at gatehouse and retries with
 * the new token). On a method it overrides the controller's. Throws at decoration time unless a
 * positive whole number.
 */
export const RequireRecentAuth = (seconds: number): MethodDecorator & ClassDecorator => {
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new Error(`gatehouse/client: @RequireRecentAuth() takes a positive whole number of seconds (got ${shown(seconds)})`);
  }
  return SetMetadata(MAX_AUTH_AGE, seconds);
};

/**
 * The verified caller, in HTTP, message-pattern, WebSocket and GraphQL handlers alike. Fails closed:
 * where GatehouseGuard did not verify a caller (a message pattern of a microservice connected
 * without `inheritAppConfig`, a @Public() handler) it refuses with 401; null only under @OptionalAuth().
 */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext) => requireCaller(context));
