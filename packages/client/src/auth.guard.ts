import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

import { carrierOf, noteGuarded, PUBLIC_HANDLER, setCaller, transportError } from './caller.js';
import type { AssuranceLevel } from './client-options.js';
import { IS_OPTIONAL_AUTH, IS_PUBLIC_ROUTE, MAX_AUTH_AGE, REQUIRED_AAL, REQUIRED_ROLES } from './decorators.js';
import { AuthClientError } from './refusals.js';
import { findToken, httpRequestOf, passesCsrfCheck } from './token-sources.js';
import { TokenVerifier } from './token-verifier.js';

/**
 * Protects HTTP routes, message patterns, WebSocket messages and GraphQL resolvers: the token from
 * `tokenFrom` (the bearer header by default) over HTTP and GraphQL, the payload's `accessToken` over
 * RPC and WebSocket. Deny by default (@Public() opens, @OptionalAuth() admits anonymous callers),
 * @Roles(), @RequireAal() and @RequireRecentAuth() restrict. Refusals carry gatehouse's error body
 * over every transport.
 */
@Injectable()
export class GatehouseGuard implements CanActivate {
  // Only what every module can inject: @UseGuards(GatehouseGuard) instantiates it in the app's own modules.
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: TokenVerifier,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    noteGuarded(context);
    const targets = [context.getHandler(), context.getClass()];
    try {
      if (this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC_ROUTE, targets)) {
        // Marked so @CurrentUser() can say why it refuses; a context without a carrier stays open.
        if (hasCarrier(context)) setCaller(context, PUBLIC_HANDLER);
        return true;
      }
      // Before any token is looked at: a context the guard cannot keep a caller in is a setup error.
      carrierOf(context);
      const roles = this.reflector.getAllAndOverride<string[] | undefined>(REQUIRED_ROLES, targets);
      const aal = this.reflector.getAllAndOverride<AssuranceLevel | undefined>(REQUIRED_AAL, targets);
      const maxAge = this.reflector.getAllAndOverride<number | undefined>(MAX_AUTH_AGE, targets);
      const { token, from } = findToken(context, this.verifier.tokenSources);
      const restricted = !!roles?.length || aal !== undefined || maxAge !== undefined;
      if (!token && !restricted && this.reflector.getAllAndOverride<boolean | undefined>(IS_OPTIONAL_AUTH, targets)) {
        setCaller(context, null);
        return true;
      }
      if (from === 'cookie' && !passesCsrfCheck(httpRequestOf(context), context.getType())) throw this.verifier.refusal('csrf');
      const user = await this.verifier.verify(token);
      if (roles?.length && !roles.some((role) => user.roles.includes(role))) {
        throw this.verifier.refusal('role', `needs one of ${JSON.stringify(roles)}, has ${JSON.stringify(user.roles)}`);
      }
      // After the role: a caller who lacks it gains nothing by proving a factor.
      if (aal !== undefined || maxAge !== undefined) this.verifier.checkAssurance(user, { aal, maxAge });
      setCaller(context, user);
      return true;
    } catch (error) {
      if (!(error instanceof AuthClientError)) throw error;
      throw transportError(context, error);
    }
  }
}

function hasCarrier(context: ExecutionContext): boolean {
  try {
    return !!carrierOf(context);
  } catch {
    return false;
  }
}

/** The guard's first name, kept so existing apps keep working; `GatehouseGuard` does not clash with @nestjs/passport's AuthGuard. */
export { GatehouseGuard as AuthGuard };
