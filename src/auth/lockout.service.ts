import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppError, ErrorCode } from '../common/app-error.js';
import { updateReturning } from '../common/sql.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { normalizeEmail, normalizeUsername } from '../users/normalize.js';

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
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: MetricsService,
  ) {}

  /** The counters of a login: the identifier tried, and the account when it exists. */
  loginCounters(login: { email?: string; username?: string }, user?: { id: string }): Counter[] {
    const identifier = login.email !== undefined ? `email:${normalizeEmail(login.email)}` : `username:${normalizeUsername(login.username ?? '')}`;
    return [{ key: identifier, limit: this.config.lockout.threshold }, ...(user ? [this.accountCounter(user.id)] : [])];
  }

  /** The counters of a password change: its own, and the account's. */
  changeCounters(userId: string): Counter[] {
    return [{ key: `change:${userId}`, limit: this.config.lockout.threshold }, this.accountCounter(userId)];
  }

  /** Counts an attempt on every counter before the password is checked; refuses it while any is locked or beyond its limit. */
  async begin(counters: Counter[]): Promise<Attempt> {
    const { durationSeconds } = this.config.lockout;
    const rows: Array<{ key: string; failures: number; locked_for: number | null }> = await this.dataSource.query(
      `WITH counted AS (
         INSERT INTO login_attempts AS a (key, failures, locked_until, updated_at)
         SELECT key, 1, NULL, now() FROM unnest($1::text[]) AS key
         ON CONFLICT (key) DO UPDATE SET
           -- a lock that has run out starts a fresh count; an active one is never cleared here
           failures = CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now() THEN 1 ELSE a.failures + 1 END,
           locked_until = CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now() THEN NULL ELSE a.locked_until END,
           updated_at = now()
         RETURNING key, failures, locked_until)
       SELECT key, failures, CASE WHEN locked_until > now() THEN ceil(extract(epoch FROM locked_until - now()))::int END AS locked_for
         FROM counted`,
      [counters.map((c) => c.key)],
    );
    const counted = counters.map((c) => {
      const row = rows.find((r) => r.key === c.key);
      if (!row) throw new Error('login attempt not counted');
      return { ...c, number: row.failures, lockedFor: row.locked_for };
    });
    let retryAfter = 0;
    for (const c of counted) {
      if (c.lockedFor) retryAfter = Math.max(retryAfter, c.lockedFor);
      else if (c.number > c.limit) {
        await this.lock(c.key);
        retryAfter = Math.max(retryAfter, durationSeconds);
      }
    }
    if (retryAfter > 0) throw new AppError(ErrorCode.TOO_MANY_REQUESTS, 'too many failed attempts; try again later', { retryAfter });
    return { counters: counted.map(({ key, limit, number }) => ({ key, limit, number })) };
  }

  /** The attempt failed: a counter it brings to its limit starts that lock (and it is still answered as a failure). */
  async failed(attempt: Attempt): Promise<void> {
    for (const c of attempt.counters) if (c.number >= c.limit) await this.lock(c.key);
  }

  /** The account proved its password (or a reset did): every counter of it starts again. */
  async clearFor(user: Account): Promise<void> {
    const keys = [`email:${user.email}`, `user:${user.id}`, `change:${user.id}`, ...(user.username ? [`username:${user.username}`] : [])];
    await this.dataSource.query(`DELETE FROM login_attempts WHERE key = ANY($1)`, [keys]);
  }

  private accountCounter(userId: string): Counter {
    return { key: `user:${userId}`, limit: 2 * this.config.lockout.threshold };
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
