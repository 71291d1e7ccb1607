import { HttpException, Logger, type ExecutionContext } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';

import type { AuthenticatedUser } from './client-options.js';
import { AuthClientError, setupError } from './refusals.js';
import { httpRequestOf } from './token-sources.js';

/** The guard let the handler through without looking for a caller: @Public(). */
export const PUBLIC_HANDLER = Symbol('gatehouse-client:public-handler');

/** What the guard decided for one request or message: a user, null (@OptionalAuth() without a token), or @Public(). */
export type CallerState = AuthenticatedUser | null | typeof PUBLIC_HANDLER;

// Kept beside the request or message rather than on `request.user`, which other middleware (passport)
// may set: @CurrentUser() must only ever answer what this guard verified.
const callers = new WeakMap<object, CallerState>();
// Every transport context the guard saw, refused or not: how GuardCoverage tells a message it never saw.
const guarded = new WeakSet<object>();

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;

/**
 * The object one request or message is known by, the same for the guard and @CurrentUser(): the
 * request (HTTP), the transport's context (RPC: one per message), the message data (WebSocket),
 * the resolver context (GraphQL). Any other context is refused with a setup error, never a TypeError.
 */
export function carrierOf(context: ExecutionContext): object {
  const type = context.getType<string>();
  let carrier: unknown;
  switch (type) {
    case 'http':
      carrier = context.switchToHttp().getRequest();
      break;
    case 'rpc': {
      const rpc = context.switchToRpc();
      const transportContext: unknown = rpc.getContext();
      carrier = isObject(transportContext) ? transportContext : rpc.getData();
      break;
    }
    case 'ws':
      carrier = context.switchToWs().getData();
      if (!isObject(carrier)) throw setupError("a 'ws' message must carry an object (with its accessToken) for GatehouseGuard to guard it");
      break;
    case 'graphql':
      carrier = context.getArgs()[2];
      break;
    default:
      throw setupError(`GatehouseGuard cannot guard '${type}' handlers (it reads 'http', 'rpc', 'ws' and 'graphql' contexts)`);
  }
  if (!isObject(carrier)) throw setupError(`this '${type}' handler has no request or message object to keep its caller on`);
  return carrier;
}

export function setCaller(context: ExecutionContext, state: CallerState): void {
  callers.set(carrierOf(context), state);
  if (state !== PUBLIC_HANDLER && state !== null) {
    // Where Nest apps habitually look (`req.user`), for HTTP and GraphQL alike.
    const request = httpRequestOf(context);
    if (request) request.user = state;
  }
}

export function callerState(context: ExecutionContext): CallerState | undefined {
  return callers.get(carrierOf(context));
}

/** Notes that the guard ran for this message, before it decides anything. */
export function noteGuarded(context: ExecutionContext): void {
  if (context.getType() !== 'rpc') return;
  for (const arg of context.getArgs()) if (isObject(arg)) guarded.add(arg);
}

export function wasGuarded(transportContext: unknown): boolean {
  return isObject(transportContext) && guarded.has(transportContext);
}

/** The refusal in the shape of the handler's transport: gatehouse's error body over HTTP and RPC alike. */
export function transportError(context: ExecutionContext, error: AuthClientError): Error {
  switch (context.getType<string>()) {
    case 'rpc':
      return new RpcException(error.body);
    case 'http':
    case 'graphql':
      return new HttpException(error.body, error.body.statusCode);
    default:
      // WebSocket: WsException lives in @nestjs/websockets, which the client does not depend on.
      return error;
  }
}

const logger = new Logger('GatehouseGuard');
const warnedHandlers = new WeakSet<object>();

/**
 * The caller for @CurrentUser(). Fails closed: a handler the guard did not verify (a message pattern
 * of a microservice connected without `inheritAppConfig`, a @Public() handler) gets 401, never an
 * anonymous caller; only @OptionalAuth() without a token gives null.
 */
export function requireCaller(context: ExecutionContext): AuthenticatedUser | null {
  const state = callerState(context);
  if (state !== undefined && state !== PUBLIC_HANDLER) return state;
  const handler = context.getHandler?.();
  if (handler && !warnedHandlers.has(handler)) {
    warnedHandlers.add(handler);
    const name = `${context.getClass?.()?.name ?? '?'}.${handler.name}`;
    logger.warn(
      state === PUBLIC_HANDLER
        ? `${name} is @Public() but asks for @CurrentUser(): refused with 401. Use @OptionalAuth() for a caller who may be anonymous.`
        : `${name} (${context.getType()}) asks for @CurrentUser() but GatehouseGuard did not run for it: refused with 401. Register GatehouseGuard as APP_GUARD and, ` +
            'in a hybrid app, connect each microservice with app.connectMicroservice(options, { inheritAppConfig: true }); or add @UseGuards(GatehouseGuard).',
    );
  }
  throw transportError(context, AuthClientError.of('missing'));
}
