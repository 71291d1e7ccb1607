import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';

import { requireCaller } from './caller.js';

export const IS_PUBLIC_ROUTE = 'gatehouse-client:public';
export const IS_OPTIONAL_AUTH = 'gatehouse-client:optional-auth';
export const REQUIRED_ROLES = 'gatehouse-client:roles';

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

/**
 * The verified caller, in HTTP, message-pattern, WebSocket and GraphQL handlers alike. Fails closed:
 * where GatehouseGuard did not verify a caller (a message pattern of a microservice connected
 * without `inheritAppConfig`, a @Public() handler) it refuses with 401; null only under @OptionalAuth().
 */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext) => requireCaller(context));
