import { Inject, Injectable } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { normalizeEmail, normalizeUsername } from '../shared/validation/normalize.js';
import { LoginAttemptsRepository } from './login-attempts.repository.js';

/** One counter an attempt is counted on, and the failures it allows before it locks. */
interface Counter {
  key: string;
  limit: number;
}

export interface Attempt {
  /** The counters, each with this attempt's number in its current run of failures (1-based). */
  counters: Array<Counter & { number: number }>;
}

type Account = { id: string; email: string; username: string | null };

/**
 * Account lockout. Each login attempt is counted on the identifier tried (the normalised email or
 * username, known or not) and, for an existing account, on the account. An identifier locks after
 * LOCKOUT_THRESHOLD consecutive failures; the account after twice that across its identifiers (and
 * wrong current passwords on password change). So locking the username never locks the email, and
 * the answers cannot tell which email and username belong together; an attacker gets at most twice
 * the threshold of guesses per account and lock period. While locked, checks answer
 * TOO_MANY_REQUESTS for LOCKOUT_DURATION, the correct password included. Attempts are counted
 * atomically *before* the password is hashed, so concurrent attempts cannot exceed a limit. Kept in
 * PostgreSQL: shared by instances, survives restarts. Never permanent; a success or a completed
 * password reset clears every counter of the account.
 */
@Injectable()
export class LockoutService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly attempts: LoginAttemptsRepository,
    private readonly metrics: MetricsService,
  ) {}

  /** The counters of a login: the identifier tried, and the account when it exists. */
  loginCounters(login: { email?: string; username?: string }, user?: { id: string }): Counter[] {
    const identifier =
      login.email !== undefined ? `email:${normalizeEmail(login.email)}` : `username:${normalizeUsername(login.username ?? '')}`;
    return [{ key: identifier, limit: this.config.lockout.threshold }, ...(user ? [this.accountCounter(user.id)] : [])];
  }

  /** The counters of a password change: its own, and the account's. */
  changeCounters(userId: string): Counter[] {
    return [{ key: `change:${userId}`, limit: this.config.lockout.threshold }, this.accountCounter(userId)];
  }

  /**
   * Counts an attempt before the password is checked; refuses it while any of its counters is locked
   * or beyond its limit. An attempt refused on its first counter (the identifier, or the password
   * change) is not counted on the account: refused attempts on a locked username must not lock the
   * account, and so its email, which would tell that the two belong together.
   */
  async begin(counters: Counter[]): Promise<Attempt> {
    const [first, account] = counters;
    if (!first) throw new Error('an attempt needs a counter');
    const found = await this.attempts.countAttempt({
      keys: counters.map((c) => c.key),
      first: first.key,
      account: account?.key,
      firstLimit: first.limit,
    });
    let retryAfter = found.lockedForSeconds;
    const counted: Attempt['counters'] = [];
    for (const c of counters) {
      const number = found.counted.find((r) => r.key === c.key)?.failures;
      if (number === undefined) continue;
      counted.push({ ...c, number });
      if (number > c.limit) {
        // Concurrent attempts got past the limit before the lock was set: this one starts it.
        await this.lock(c.key);
        retryAfter = Math.max(retryAfter, this.config.lockout.durationSeconds);
      }
    }
    if (retryAfter > 0 || counted.length === 0) {
      throw new AppError(ErrorCode.TOO_MANY_REQUESTS, 'too many failed attempts; try again later', {
        retryAfter: retryAfter || this.config.lockout.durationSeconds,
      });
    }
    return { counters: counted };
  }

  /** The attempt failed: a counter it brings to its limit starts that lock (and it is still answered as a failure). */
  async failed(attempt: Attempt): Promise<void> {
    for (const c of attempt.counters) if (c.number >= c.limit) await this.lock(c.key);
  }

  /** The account proved its password (or a reset did): every counter of it starts again. */
  async clearFor(user: Account): Promise<void> {
    const keys = [`email:${user.email}`, `user:${user.id}`, `change:${user.id}`, ...(user.username ? [`username:${user.username}`] : [])];
    await this.attempts.clear(keys);
  }

  private accountCounter(userId: string): Counter {
    return { key: `user:${userId}`, limit: 2 * this.config.lockout.threshold };
  }

  private async lock(key: string): Promise<void> {
    const started = await this.attempts.lock(key, this.config.lockout.durationSeconds);
    // Only the attempt that started the lock counts it; concurrent ones find it in place.
    if (started) this.metrics.accountLocked();
  }
}
