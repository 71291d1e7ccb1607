import { Module } from '@nestjs/common';
import { LockoutService } from './lockout.service.js';
import { RateLimiter } from './rate-limiter.service.js';

/** Defences against guessing and floods: the login lockout and the per-address rate limits. */
@Module({
  providers: [LockoutService, RateLimiter],
  exports: [LockoutService, RateLimiter],
})
export class ProtectionModule {}
