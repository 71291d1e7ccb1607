import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

/** What counting one second-factor attempt found. */
export interface CountedMfaAttempt {
  /** This attempt's number in the current run of failures (1-based); null when refused (locked). */
  number: number | null;
  /** When the lock runs out, if the account is locked now (this attempt may have started it). */
  lockedUntil: Date | null;
}

/** Consecutive second-factor failures per account, and the lock they start. One statement per method. */
export abstract class MfaLockoutRepository {
  /**
   * Counts an attempt as a failure before its code is checked, in one atomic step: nothing is
   * counted while the account is locked; the attempt that reaches `limit` starts a lock of `seconds`.
   * A lock that has run out starts a fresh count.
   */
  abstract countAttempt(userId: string, limit: number, seconds: number): Promise<CountedMfaAttempt>;

  abstract lockedUntil(userId: string): Promise<Date | null>;

  /** Forgets the account's failures and its lock. */
  abstract clear(userId: string): Promise<void>;
}

@Injectable()
export class PgMfaLockoutRepository implements MfaLockoutRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async countAttempt(userId: string, limit: number, seconds: number): Promise<CountedMfaAttempt> {
    // The upsert's row lock orders concurrent attempts: each gets its own number, none passes a lock.
    const rows: Array<{ failures: number | null; locked_until: Date | null }> = await this.dataSource.query(
      `WITH counted AS (
         INSERT INTO mfa_lockouts AS l (user_id, failures, locked_until, updated_at)
         VALUES ($1, 1, CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $3) END, now())
         ON CONFLICT (user_id) DO UPDATE SET
           failures = CASE WHEN l.locked_until IS NOT NULL THEN 1 ELSE l.failures + 1 END,
           locked_until = CASE WHEN (CASE WHEN l.locked_until IS NOT NULL THEN 1 ELSE l.failures + 1 END) >= $2
                               THEN now() + make_interval(secs => $3) END,
           updated_at = now()
         WHERE l.locked_until IS NULL OR l.locked_until <= now()
         RETURNING failures, locked_until)
       SELECT failures, locked_until FROM counted
       UNION ALL
       SELECT NULL, locked_until FROM mfa_lockouts WHERE user_id = $1 AND NOT EXISTS (SELECT 1 FROM counted)`,
      [userId, limit, seconds],
    );
    const [row] = rows;
    return { number: row?.failures ?? null, lockedUntil: row?.locked_until && row.locked_until > new Date() ? row.locked_until : null };
  }

  async lockedUntil(userId: string): Promise<Date | null> {
    const [row]: Array<{ locked_until: Date }> = await this.dataSource.query(
      `SELECT locked_until FROM mfa_lockouts WHERE user_id = $1 AND locked_until > now()`,
      [userId],
    );
    return row?.locked_until ?? null;
  }

  async clear(userId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM mfa_lockouts WHERE user_id = $1`, [userId]);
  }
}
