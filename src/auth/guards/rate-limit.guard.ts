import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../../common/app-error.js';
import { connectionOf } from '../../common/http-connection.js';
import { RateLimiter } from '../rate-limiter.service.js';

/**
 * Per-address limit on the unauthenticated auth routes (HTTP only: message patterns come from the
 * trusted network, and login over RPC obeys the account lockout instead). The address honours
 * X-Forwarded-For only with TRUST_PROXY.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(private readonly limiter: RateLimiter) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const address = connectionOf(context.switchToHttp().getRequest<FastifyRequest>()).ip ?? 'unknown';
    const retryAfter = await this.limiter.hit(address);
    if (retryAfter !== undefined) throw new AppError(ErrorCode.TOO_MANY_REQUESTS, 'too many requests; try again later', { retryAfter });
    return true;
  }
}
