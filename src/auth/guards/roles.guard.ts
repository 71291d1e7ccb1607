import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

import { authContextOf } from '../../shared/access/auth-carrier.js';
import { ROLES } from '../../shared/access/decorators.js';
import { handlerMetadata } from '../../shared/access/handler-metadata.js';
import { AppError, ErrorCode } from '../../shared/errors/app-error.js';

/**
 * Enforces @Roles() after JwtAuthGuard has identified the caller. The roles are the user's current
 * ones (read with the live session), not the token's, so a demoted admin loses access at once.
 */
@Injectable()
export class RolesGuard implements CanActivate {
  private readonly rolesOf: (context: ExecutionContext) => readonly string[];

  constructor(reflector: Reflector) {
    this.rolesOf = handlerMetadata<readonly string[]>(reflector, ROLES, []);
  }

  canActivate(context: ExecutionContext): boolean {
    const required = this.rolesOf(context);
    if (required.length === 0) return true;
    const auth = authContextOf(context);
    if (!required.some((role) => auth.roles.includes(role))) throw new AppError(ErrorCode.FORBIDDEN, 'insufficient role');
    return true;
  }
}
