import { Inject, Injectable } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { MfaLockoutRepository } from './mfa-lockout.repository.js';

/** Consecutive second-factor failures that lock second-factor verification of an account. */
export const MFA_LOCKOUT_THRESHOLD = 10;

/**
 * Second-factor lockout, per account: 10 consecutive failures (TOTP or recovery code, across
 * challenges) lock second-factor verification for LOCKOUT_DURATION; other accounts are unaffected.
 * As for passwords (LockoutService), an attempt is counted as a failure *before* its code is checked,
 * atomically, so concurrent attempts cannot get past the limit; a success clears the count.
 */
@Injectable()
export class MfaLockoutService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly lockouts: MfaLockoutRepository,
  ) {}

  /**
   * Call before checking a code: counts the attempt as a failure, or refuses it with 429
   * TOO_MANY_REQUESTS (`retryAfter` seconds) while the account is locked. The attempt that is the
   * 10th consecutive one starts the lock; call `succeeded` when its code was right.
   */
  async begin(userId: string): Promise<{ number: number }> {
    const { durationSeconds } = this.config.lockout;
    const counted = await this.lockouts.countAttempt(userId, MFA_LOCKOUT_THRESHOLD, durationSeconds);
    if (counted.number === null) {
      const retryAfter = counted.lockedUntil
        ? Math.max(1, Math.ceil((counted.lockedUntil.getTime() - Date.now()) / 1000))
        : durationSeconds;
      throw new AppError(ErrorCode.TOO_MANY_REQUESTS, 'too many failed attempts; try again later', { retryAfter });
    }
    return { number: counted.number };
  }

  /** The code was right: the run of failures ends (and a lock this attempt started is lifted). */
  succeeded(userId: string): Promise<void> {
    return this.lockouts.clear(userId);
  }

  /** When second-factor verification of the account unlocks; null when it is not locked. */
  lockedUntil(userId: string): Promise<Date | null> {
    return this.lockouts.lockedUntil(userId);
  }
}
