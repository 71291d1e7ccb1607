import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';

import { APP_CONFIG, type AppConfig } from '../../platform/config/app-config.js';
import { carrierOf, type AuthCarrier } from '../../shared/access/auth-carrier.js';
import { IS_PUBLIC } from '../../shared/access/decorators.js';
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
  constructor(
    private readonly reflector: Reflector,
    private readonly verified: VerifiedTokensCache,
    private readonly keys: SigningKeysService,
    private readonly authState: AuthStateService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, [context.getHandler(), context.getClass()]);
    if (isPublic) return true;
    const carrier = carrierOf(context);
    // A write authenticated by cookie must pass the CSRF check; bearer tokens cannot be forged by a browser.
    if (context.getType() === 'http' && accessTokenCookie(carrier)) assertCsrfSafe(carrier, this.config);
    const token = bearerToken(carrier);
    // A token passport-jwt verified before needs only the live-session check.
    const claims = token ? this.verified.get(token, (kid) => this.keys.isLive(kid)) : undefined;
    if (claims) {
      carrier.user = await this.authState.resolve(claims);
      return true;
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
