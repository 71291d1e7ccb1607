import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { AuthenticatedUser } from './client-options.js';

export const IS_PUBLIC_ROUTE = 'gatehouse-client:public';
export const REQUIRED_ROLES = 'gatehouse-client:roles';

/** Opens a route or message pattern to callers without a token (the guard denies by default). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC_ROUTE, true);

/** Requires one of these roles. */
export const Roles = (...roles: string[]): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_ROLES, roles);

const rpcUsers = new WeakMap<object, AuthenticatedUser>();

/** Where the guard leaves the caller: on the request over HTTP, beside the payload over RPC. */
export function setCurrentUser(context: ExecutionContext, user: AuthenticatedUser): void {
  if (context.getType() === 'rpc') {
    const data: unknown = context.switchToRpc().getData();
    if (data && typeof data === 'object') rpcUsers.set(data, user);
  } else {
    context.switchToHttp().getRequest<{ user?: AuthenticatedUser }>().user = user;
  }
}

export function currentUserOf(context: ExecutionContext): AuthenticatedUser | undefined {
  if (context.getType() === 'rpc') {
    const data: unknown = context.switchToRpc().getData();
    return data && typeof data === 'object' ? rpcUsers.get(data) : undefined;
  }
  return context.switchToHttp().getRequest<{ user?: AuthenticatedUser }>().user;
}

/** The verified caller, in HTTP handlers and message-pattern handlers alike. */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext) => currentUserOf(context));
