import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

import { APP_CONFIG, type AppConfig } from '../../platform/config/app-config.js';
import { authContextOf } from '../../shared/access/auth-carrier.js';
import { RECENT_AUTH, REQUIRED_AAL } from '../../shared/access/decorators.js';
import { handlerMetadata } from '../../shared/access/handler-metadata.js';
import { AppError, ErrorCode } from '../../shared/errors/app-error.js';

/**
 * Enforces @RequireAal() and @RequireRecentAuth() after JwtAuthGuard has identified the caller, from
 * the verified token's `aal` and `auth_time`: they are the session's (a refresh keeps them), and only
 * a new proof of a factor, which answers with new tokens, moves them.
 */
@Injectable()
export class AssuranceGuard implements CanActivate {
  private readonly requiredAal: (context: ExecutionContext) => number;
  private readonly recentAuth: (context: ExecutionContext) => number | 'default' | false;

  constructor(
    reflector: Reflector,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.requiredAal = handlerMetadata(reflector, REQUIRED_AAL, 1);
    this.recentAuth = handlerMetadata<number | 'default' | false>(reflector, RECENT_AUTH, false);
  }

  canActivate(context: ExecutionContext): boolean {
    const requiredAal = this.requiredAal(context);
    const recent = this.recentAuth(context);
    if (requiredAal <= 1 && recent === false) return true;
    const { claims, isImpersonated } = authContextOf(context);
    const aal = typeof claims.aal === 'number' ? claims.aal : 1;
    if (aal < requiredAal) throw new AppError(ErrorCode.MFA_REQUIRED, 'this needs a session signed in with a second factor');
    if (recent !== false) {
      // An impersonating admin proved none of the user's factors, and cannot re-authenticate as the user.
      if (isImpersonated) throw new AppError(ErrorCode.FORBIDDEN, 'an impersonated session cannot do this');
      const maxAge = recent === 'default' ? this.config.reauthMaxAge : recent;
      const authTime = claims.auth_time;
      if (typeof authTime !== 'number' || Date.now() / 1000 - authTime > maxAge)
        throw new AppError(ErrorCode.REAUTH_REQUIRED, 'please re-authenticate: this needs a recent sign-in');
    }
    return true;
  }
}
