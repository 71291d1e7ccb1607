import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { updateReturning } from '../platform/database/sql.js';

/** What the first factor asked for, so that the session opened after the second one is that session. */
export interface LoginContext {
  /** The login's requested session lifetime, seconds (already capped), when it gave one. */
  ttl?: number;
  ip: string | null;
  userAgent: string | null;
  /** RFC 8176 methods of the first factor, e.g. ["pwd"]. */
  amr: string[];
  /**
   * For a password first factor: the SHA-256 of the password hash it checked, so that a password
   * changed or reset before the second factor voids the step (the hash itself stays in users).
   */
  passwordFingerprint?: string;
}

/** A challenge to open: the hash of its token, whose it is, and what the first factor asked for. */
export interface NewMfaChallenge {
  tokenHash: string;
  userId: string;
  firstFactor: string;
  loginContext: LoginContext;
  ttlSeconds: number;
}

export interface MfaChallenge {
  id: string;
  userId: string;
  firstFactor: string;
  loginContext: LoginContext;
  attempts: number;
  expiresAt: Date;
}

/**
 * The step between the first and the second factor, found by the SHA-256 of its token. A challenge
 * is live while unexpired, unconsumed and under the wrong-code limit given to each method.
 */
export abstract class MfaChallengesRepository {
  abstract create(input: NewMfaChallenge): Promise<MfaChallenge>;

  abstract findLive(tokenHash: string, maxAttempts: number): Promise<MfaChallenge | null>;

  /** One more wrong code on a live challenge, atomically; the count after it, or null when it was not live. */
  abstract recordWrongCode(id: string, maxAttempts: number): Promise<number | null>;

  /** Consumes a live challenge: exactly one of concurrent calls gets it, the others null. */
  abstract consume(tokenHash: string, maxAttempts: number): Promise<MfaChallenge | null>;

  /** Deletes up to `limit` challenges that expired at least `graceSeconds` ago; how many. */
  abstract purgeExpired(opts: { graceSeconds: number; limit: number }): Promise<number>;
}

interface ChallengeRow {
  id: string;
  user_id: string;
  first_factor: string;
  login_context: LoginContext;
  attempts: number;
  expires_at: Date;
}

const COLUMNS = 'id, user_id, first_factor, login_context, attempts, expires_at';
const LIVE = 'consumed_at IS NULL AND expires_at > now() AND attempts < $2';

const fromRow = (row: ChallengeRow): MfaChallenge => ({
  id: row.id,
  userId: row.user_id,
  firstFactor: row.first_factor,
  loginContext: row.login_context,
  attempts: row.attempts,
  expiresAt: row.expires_at,
});

@Injectable()
export class PgMfaChallengesRepository implements MfaChallengesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async create(input: NewMfaChallenge): Promise<MfaChallenge> {
    const [row]: ChallengeRow[] = await this.dataSource.query(
      `INSERT INTO mfa_challenges (token_hash, user_id, first_factor, login_context, expires_at)
       VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
       RETURNING ${COLUMNS}`,
      [input.tokenHash, input.userId, input.firstFactor, JSON.stringify(input.loginContext), input.ttlSeconds],
    );
    return fromRow(row);
  }

  async findLive(tokenHash: string, maxAttempts: number): Promise<MfaChallenge | null> {
    const [row]: ChallengeRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM mfa_challenges WHERE token_hash = $1 AND ${LIVE}`, [
      tokenHash,
      maxAttempts,
    ]);
    return row ? fromRow(row) : null;
  }

  async recordWrongCode(id: string, maxAttempts: number): Promise<number | null> {
    const [row] = await updateReturning<{ attempts: number }>(
      this.dataSource,
      `UPDATE mfa_challenges SET attempts = attempts + 1 WHERE id = $1 AND ${LIVE} RETURNING attempts`,
      [id, maxAttempts],
    );
    return row?.attempts ?? null;
  }

  async consume(tokenHash: string, maxAttempts: number): Promise<MfaChallenge | null> {
    const [row] = await updateReturning<ChallengeRow>(
      this.dataSource,
      `UPDATE mfa_challenges SET consumed_at = now() WHERE token_hash = $1 AND ${LIVE} RETURNING ${COLUMNS}`,
      [tokenHash, maxAttempts],
    );
    return row ? fromRow(row) : null;
  }

  async purgeExpired(opts: { graceSeconds: number; limit: number }): Promise<number> {
    // SKIP LOCKED: instances purging at the same moment share the rows instead of queueing on them.
    const rows = await updateReturning(
      this.dataSource,
      `DELETE FROM mfa_challenges WHERE id IN (
         SELECT id FROM mfa_challenges WHERE expires_at < now() - make_interval(secs => $1) LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING id`,
      [opts.graceSeconds, opts.limit],
    );
    return rows.length;
  }
}
