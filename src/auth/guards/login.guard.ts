import { ExecutionContext, Injectable, type PipeTransform } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';

import { invalidCredentials } from '../../shared/errors/app-error.js';
import { createValidationPipe } from '../../shared/validation/validation.js';
import { LoginDto } from '../dto/auth.dto.js';

/**
 * Runs passport-local for POST /auth/login. Guards run before pipes, so the body is validated here
 * first: a malformed login is a 400 with field messages and never reaches the password check.
 */
@Injectable()
export class LoginGuard extends AuthGuard('local') {
  private readonly pipe: PipeTransform = createValidationPipe();

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<{ body: unknown }>();
    request.body = await this.pipe.transform(request.body ?? {}, { type: 'body', metatype: LoginDto });
    return super.canActivate(context) as Promise<boolean>;
  }

  override handleRequest<T>(err: unknown, user: T): T {
    if (err) throw err as Error;
    if (!user) throw invalidCredentials();
    return user;
  }
}
