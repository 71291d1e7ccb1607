import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';

import { APP_CONFIG, type AppConfig } from '../../platform/config/app-config.js';
import { carrierOf, type AuthCarrier } from '../../shared/access/auth-carrier.js';
import { IS_PUBLIC } from '../../shared/access/decorators.js';
import { handlerMetadata } from '../../shared/access/handler-metadata.js';
import { unauthorized } from '../../shared/errors/app-error.js';
import { SigningKeysService } from '../../tokens/signing-keys.service.js';
import { accessTokenCookie, assertCsrfSafe } from '../auth-cookies.js';
import { AuthStateService } from '../auth-state.service.js';
import { bearerToken } from '../strategies/jwt.strategy.js';
import { VerifiedTokensCache } from '../verified-tokens.cache.js';

/**
 * The global guard: every REST route and message pattern needs a valid access token unless marked
 * @Public(). One verifier (passport-jwt) for both transports: the bearer header over HTTP, the
 * payload's `accessToken` over RPC.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  private readonly isPublic: (context: ExecutionContext) => boolean;

  constructor(
    reflector: Reflector,
    private readonly verified: VerifiedTokensCache,
    private readonly keys: SigningKeysService,
    private readonly authState: AuthStateService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
    this.isPublic = handlerMetadata(reflector, IS_PUBLIC, false);
  }

  private readonly isKeyLive = (kid: string): boolean => this.keys.isLive(kid);

  // Not async: on a memoised token and a cached session the answer is synchronous, and Nest then
  // goes on to the next guard without awaiting a promise.
  override canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.isPublic(context)) return true;
    const carrier = carrierOf(context);
    const type = context.getType();
    // A write authenticated by cookie must pass the CSRF check; bearer tokens cannot be forged by a browser.
    if (type === 'http' && accessTokenCookie(carrier)) assertCsrfSafe(carrier, this.config);
    // Over RPC the payload's token as sent. The memo is keyed by the exact token passport-jwt
    // verified: one that is not (whitespace in it, say) misses, and passport-jwt decides as before.
    const token = (type === 'rpc' ? carrier.token : undefined) ?? bearerToken(carrier);
    // A token passport-jwt verified before needs only the live-session check.
    const claims = token ? this.verified.get(token, this.isKeyLive) : undefined;
    if (claims) {
      const cached = this.authState.resolveCached(claims);
      if (cached) {
        carrier.user = cached;
        return true;
      }
      return this.authState.resolve(claims).then((user) => {
        carrier.user = user;
        return true;
      });
    }
    return super.canActivate(context) as Promise<boolean>;
  }

  override getRequest(context: ExecutionContext): AuthCarrier {
    return carrierOf(context);
  }

  override handleRequest<T>(err: unknown, user: T): T {
    if (err) throw err as Error;
    if (!user) throw unauthorized();
    return user;
  }
}
