import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { updateReturning } from '../platform/database/sql.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import { normalizeEmail, normalizeUsername } from '../shared/validation/normalize.js';

/** One more failure; a lock that has run out starts a fresh count, an active one is never cleared here. */
const COUNT_ONE_MORE = `
  failures = CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now() THEN 1 ELSE a.failures + 1 END,
  locked_until = CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now() THEN NULL ELSE a.locked_until END,
  updated_at = now()`;

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

  /**
   * Counts an attempt before the password is checked; refuses it while any of its counters is locked
   * or beyond its limit. An attempt refused on its first counter (the identifier, or the password
   * change) is not counted on the account: refused attempts on a locked username must not lock the
   * account, and so its email, which would tell that the two belong together.
   */
  async begin(counters: Counter[]): Promise<Attempt> {
    const [first, account] = counters;
    if (!first) throw new Error('an attempt needs a counter');
    const rows: Array<{ key: string; failures: number | null; locked_for: number | null }> = await this.dataSource.query(
      `WITH locked AS (
         SELECT key, ceil(extract(epoch FROM locked_until - now()))::int AS locked_for
           FROM login_attempts WHERE key = ANY($1::text[]) AND locked_until > now()),
       first_counted AS (
         INSERT INTO login_attempts AS a (key, failures, locked_until, updated_at)
         SELECT $2, 1, NULL, now() WHERE NOT EXISTS (SELECT 1 FROM locked)
         ON CONFLICT (key) DO UPDATE SET ${COUNT_ONE_MORE}
         RETURNING key, failures, locked_until),
       account_counted AS (
         INSERT INTO login_attempts AS a (key, failures, locked_until, updated_at)
         SELECT $3, 1, NULL, now() WHERE $3::text IS NOT NULL
            AND EXISTS (SELECT 1 FROM first_counted WHERE failures <= $4 AND (locked_until IS NULL OR locked_until <= now()))
         ON CONFLICT (key) DO UPDATE SET ${COUNT_ONE_MORE}
         RETURNING key, failures, locked_until)
       SELECT key, failures, CASE WHEN locked_until > now() THEN ceil(extract(epoch FROM locked_until - now()))::int END AS locked_for
         FROM (SELECT * FROM first_counted UNION ALL SELECT * FROM account_counted) AS counted
       UNION ALL
       SELECT key, NULL, locked_for FROM locked`,
      [counters.map((c) => c.key), first.key, account?.key ?? null, first.limit],
    );
    let retryAfter = Math.max(0, ...rows.map((r) => r.locked_for ?? 0));
    const counted: Attempt['counters'] = [];
    for (const c of counters) {
      const number = rows.find((r) => r.key === c.key && r.failures !== null)?.failures;
      if (number === undefined || number === null) continue;
      counted.push({ ...c, number });
      if (number > c.limit) {
        // Concurrent attempts got past the limit before the lock was set: this one starts it.
        await this.lock(c.key);
        retryAfter = Math.max(retryAfter, this.config.lockout.durationSeconds);
      }
    }
    if (retryAfter > 0 || counted.length === 0) {
      throw new AppError(ErrorCode.TOO_MANY_REQUESTS, 'too many failed attempts; try again later', { retryAfter: retryAfter || this.config.lockout.durationSeconds });
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
