import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

import { connectionOf } from '../platform/http/http-connection.js';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { RateLimiter } from './rate-limiter.service.js';

const LOGIN_ROUTE = '/auth/login';

/**
 * Per-address limit on the unauthenticated auth routes (HTTP only: message patterns come from the
 * trusted network, and login over RPC obeys the account lockout instead). The address honours
 * X-Forwarded-For only with TRUST_PROXY.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly metrics: MetricsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const address = connectionOf(request).ip ?? 'unknown';
    const retryAfter = await this.limiter.hit(address);
    if (retryAfter === undefined) return true;
    // A login refused here never reaches the password check, where failed logins are counted.
    if (request.routeOptions.url === LOGIN_ROUTE) this.metrics.loginFailed('rate_limited');
    throw new AppError(ErrorCode.TOO_MANY_REQUESTS, 'too many requests; try again later', { retryAfter });
  }
}
