import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppError, ErrorCode } from '../common/app-error.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { normalizeEmail, normalizeUsername } from '../users/normalize.js';

/**
 * Account lockout: after LOCKOUT_THRESHOLD consecutive failures for one normalised email or username
 * (known or not, so answers reveal nothing), logins for it answer TOO_MANY_REQUESTS for
 * LOCKOUT_DURATION, the correct password included. Kept in PostgreSQL: shared by instances, and it
 * survives restarts. Never permanent; a success or a completed password reset clears it.
 */
@Injectable()
export class LockoutService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  static keyOf(login: { email?: string; username?: string }): string {
    return login.email !== undefined ? `email:${normalizeEmail(login.email)}` : `username:${normalizeUsername(login.username ?? '')}`;
  }

  /** Refuses a locked identifier; tells whether failures are on record (to clear them on success). */
  async check(key: string): Promise<{ hasFailures: boolean }> {
    const rows: Array<{ failures: number; retry_after: number | null }> = await this.dataSource.query(
      `SELECT failures, CASE WHEN locked_until > now() THEN ceil(extract(epoch FROM locked_until - now()))::int END AS retry_after
         FROM login_attempts WHERE key = $1`,
      [key],
    );
    const row = rows[0];
    if (row?.retry_after) {
      throw new AppError(ErrorCode.TOO_MANY_REQUESTS, 'too many failed logins; try again later', { retryAfter: row.retry_after });
    }
    return { hasFailures: row !== undefined };
  }

  /** Counts a failure; the one that reaches the threshold starts the lock (it is still answered as a failure). */
  async recordFailure(key: string): Promise<void> {
    const { threshold, durationSeconds } = this.config.lockout;
    // A lock that has run out starts a fresh count.
    await this.dataSource.query(
      `INSERT INTO login_attempts AS a (key, failures, locked_until, updated_at)
       VALUES ($1, 1, CASE WHEN 1 >= $2 THEN now() + make_interval(secs => $3) END, now())
       ON CONFLICT (key) DO UPDATE SET
         failures = CASE WHEN a.locked_until IS NOT NULL THEN 1 ELSE a.failures + 1 END,
         locked_until = CASE WHEN (CASE WHEN a.locked_until IS NOT NULL THEN 1 ELSE a.failures + 1 END) >= $2
                             THEN now() + make_interval(secs => $3) END,
         updated_at = now()`,
      [key, threshold, durationSeconds],
    );
  }

  async clear(keys: string[]): Promise<void> {
    await this.dataSource.query(`DELETE FROM login_attempts WHERE key = ANY($1)`, [keys]);
  }

  /** For a completed password reset: the account's email and username are unlocked. */
  clearFor(user: { email: string; username: string | null }): Promise<void> {
    return this.clear([LockoutService.keyOf({ email: user.email }), ...(user.username ? [LockoutService.keyOf({ username: user.username })] : [])]);
  }
}
