import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppError, ErrorCode } from '../common/app-error.js';
import { updateReturning } from '../common/sql.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { normalizeEmail, normalizeUsername } from '../users/normalize.js';

export interface Attempt {
  key: string;
  /** This attempt's number in the current run of failures (1-based). */
  number: number;
}

/**
 * Account lockout: after LOCKOUT_THRESHOLD consecutive failures for one account (or, for an unknown
 * identifier, for that normalised email or username, so answers reveal nothing), password checks
 * for it answer TOO_MANY_REQUESTS for LOCKOUT_DURATION, the correct password included. Each attempt
 * is counted atomically *before* the password is hashed, so concurrent attempts cannot exceed the
 * threshold. Kept in PostgreSQL: shared by instances, survives restarts. Never permanent; a success
 * or a completed password reset clears it.
 */
@Injectable()
export class LockoutService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: MetricsService,
  ) {}

  /** The lock key: the account when it exists, else the identifier that was tried. */
  static keyOf(login: { email?: string; username?: string }, userId?: string): string {
    if (userId) return `user:${userId}`;
    return login.email !== undefined ? `email:${normalizeEmail(login.email)}` : `username:${normalizeUsername(login.username ?? '')}`;
  }

  /** Counts an attempt before the password is checked; refuses it while locked or beyond the threshold. */
  async begin(key: string): Promise<Attempt> {
    const { threshold, durationSeconds } = this.config.lockout;
    const rows: Array<{ failures: number; retry_after: number | null }> = await this.dataSource.query(
      `WITH counted AS (
         INSERT INTO login_attempts AS a (key, failures, locked_until, updated_at) VALUES ($1, 1, NULL, now())
         ON CONFLICT (key) DO UPDATE SET
           -- a lock that has run out starts a fresh count; an active one is never cleared here
           failures = CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now() THEN 1 ELSE a.failures + 1 END,
           locked_until = CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now() THEN NULL ELSE a.locked_until END,
           updated_at = now()
         RETURNING failures, locked_until)
       SELECT failures,
              CASE WHEN locked_until > now() THEN ceil(extract(epoch FROM locked_until - now()))::int
                   WHEN failures > $2 THEN $3::int END AS retry_after
         FROM counted`,
      [key, threshold, durationSeconds],
    );
    const row = rows[0];
    if (!row) throw new Error('login attempt not counted');
    if (row.retry_after) {
      if (row.failures > threshold) await this.lock(key);
      throw new AppError(ErrorCode.TOO_MANY_REQUESTS, 'too many failed attempts; try again later', { retryAfter: row.retry_after });
    }
    return { key, number: row.failures };
  }

  /** The attempt failed: the one that reaches the threshold starts the lock (and is still answered as a failure). */
  async failed(attempt: Attempt): Promise<void> {
    if (attempt.number >= this.config.lockout.threshold) await this.lock(attempt.key);
  }

  /** The attempt succeeded: the run of failures is over. */
  async succeeded(attempt: Attempt): Promise<void> {
    await this.clear([attempt.key]);
  }

  async clear(keys: string[]): Promise<void> {
    await this.dataSource.query(`DELETE FROM login_attempts WHERE key = ANY($1)`, [keys]);
  }

  /** For a completed password reset: the account is unlocked. */
  clearFor(user: { id: string }): Promise<void> {
    return this.clear([LockoutService.keyOf({}, user.id)]);
  }

  private async lock(key: string): Promise<void> {
    const locked = await updateReturning(this.dataSource,
      `UPDATE login_attempts SET locked_until = now() + make_interval(secs => $2)
        WHERE key = $1 AND (locked_until IS NULL OR locked_until <= now())
        RETURNING key`,
      [key, this.config.lockout.durationSeconds],
    );
    // Only the attempt that started the lock counts it; concurrent ones find it in place.
    if (locked.length > 0) this.metrics.accountLocked();
  }
}
