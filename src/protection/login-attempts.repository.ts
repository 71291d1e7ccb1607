import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

import { updateReturning } from '../platform/database/sql.js';

/** What counting one attempt found. */
export interface CountedAttempt {
  /** The counters the attempt was counted on, each with its number in the current run of failures (1-based). */
  counted: Array<{ key: string; failures: number }>;
  /** Seconds until the longest active lock on any of the keys runs out; 0 when none is locked. */
  lockedForSeconds: number;
}

/**
 * Consecutive failed attempts per counter key, and the lock a counter carries. Every method is one
 * statement of its own: none takes part in a caller's transaction.
 */
export abstract class LoginAttemptsRepository {
  /**
   * Counts one attempt, in one atomic step: nothing is counted while any of `keys` is locked;
   * otherwise `first` is counted, and `account` (when given) too unless `first` is now beyond
   * `firstLimit` or locked. A lock that has run out starts a fresh count; an active one stays.
   */
  abstract countAttempt(input: { keys: string[]; first: string; account?: string; firstLimit: number }): Promise<CountedAttempt>;

  /** Locks the counter for `seconds` unless it is already locked; true when this call set the lock. */
  abstract lock(key: string, seconds: number): Promise<boolean>;

  /** Forgets these counters and their locks. */
  abstract clear(keys: string[]): Promise<void>;
}

/** One more failure; a lock that has run out starts a fresh count, an active one is never cleared here. */
const COUNT_ONE_MORE = `
  failures = CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now() THEN 1 ELSE a.failures + 1 END,
  locked_until = CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now() THEN NULL ELSE a.locked_until END,
  updated_at = now()`;

interface CountRow {
  key: string;
  failures: number | null;
  locked_for: number | null;
}

@Injectable()
export class PgLoginAttemptsRepository implements LoginAttemptsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async countAttempt(input: { keys: string[]; first: string; account?: string; firstLimit: number }): Promise<CountedAttempt> {
    // One statement, so concurrent attempts cannot get past a limit between the check and the count.
    const rows: CountRow[] = await this.dataSource.query(
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
      [input.keys, input.first, input.account ?? null, input.firstLimit],
    );
    return {
      counted: rows.flatMap((r) => (r.failures === null ? [] : [{ key: r.key, failures: r.failures }])),
      lockedForSeconds: Math.max(0, ...rows.map((r) => r.locked_for ?? 0)),
    };
  }

  async lock(key: string, seconds: number): Promise<boolean> {
    const locked = await updateReturning(
      this.dataSource,
      `UPDATE login_attempts SET locked_until = now() + make_interval(secs => $2)
        WHERE key = $1 AND (locked_until IS NULL OR locked_until <= now())
        RETURNING key`,
      [key, seconds],
    );
    return locked.length > 0;
  }

  async clear(keys: string[]): Promise<void> {
    await this.dataSource.query(`DELETE FROM login_attempts WHERE key = ANY($1)`, [keys]);
  }
}
