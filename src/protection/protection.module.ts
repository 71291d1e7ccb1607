import { Module } from '@nestjs/common';

import { LockoutService } from './lockout.service.js';
import { LoginAttemptsRepository, PgLoginAttemptsRepository } from './login-attempts.repository.js';
import { RateLimiter } from './rate-limiter.service.js';

/** Defences against guessing and floods: the login lockout and the per-address rate limits. */
@Module({
  providers: [LockoutService, RateLimiter, { provide: LoginAttemptsRepository, useClass: PgLoginAttemptsRepository }],
  exports: [LockoutService, RateLimiter],
})
export class ProtectionModule {}
