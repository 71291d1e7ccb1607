import { CanActivate, ExecutionContext, HttpException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RpcException } from '@nestjs/microservices';
import type { AuthErrorBody } from './client-options.js';
import { IS_PUBLIC_ROUTE, REQUIRED_ROLES, setCurrentUser } from './decorators.js';
import { AuthClientError, TokenVerifier } from './token-verifier.js';

function tokenOf(context: ExecutionContext): string | undefined {
  if (context.getType() === 'rpc') {
    const data: unknown = context.switchToRpc().getData();
    const token = data && typeof data === 'object' ? (data as { accessToken?: unknown }).accessToken : undefined;
    return typeof token === 'string' ? token : undefined;
  }
  const header = context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>().headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

/**
 * Protects HTTP routes and message patterns alike: the bearer header over HTTP, the payload's
 * `accessToken` over RPC. Deny by default (@Public() opens), @Roles() restricts. Refusals carry
 * gatehouse's error body over both transports.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: TokenVerifier,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC_ROUTE, targets)) return true;
    try {
      const user = await this.verifier.verify(tokenOf(context));
      const roles = this.reflector.getAllAndOverride<string[] | undefined>(REQUIRED_ROLES, targets);
      if (roles?.length && !roles.some((role) => user.roles.includes(role))) {
        throw new AuthClientError({ statusCode: 403, code: 'FORBIDDEN', message: 'insufficient role' });
      }
      setCurrentUser(context, user);
      return true;
    } catch (error) {
      if (!(error instanceof AuthClientError)) throw error;
      throw toTransportError(context, error.body);
    }
  }
}

function toTransportError(context: ExecutionContext, body: AuthErrorBody): Error {
  return context.getType() === 'rpc' ? new RpcException(body) : new HttpException(body, body.statusCode);
}
