import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { preparedQuery, updateReturning } from '../platform/database/sql.js';
import type { Tx } from '../platform/database/transactions.js';

/** A user's TOTP factor as stored: the sealed secret, pending while `confirmedAt` is null. */
export interface StoredTotp {
  secretEnc: Buffer;
  confirmedAt: Date | null;
  lastStep: number | null;
}

/**
 * TOTP factors, one per user. Every change is one conditional statement, so concurrent setups,
 * confirmations and code checks cannot interleave into a state none of them asked for.
 */
export abstract class TotpRepository {
  abstract find(userId: string): Promise<StoredTotp | null>;

  /** Whether the user has a confirmed factor: one primary-key lookup (it runs on every login). */
  abstract hasConfirmed(userId: string): Promise<boolean>;

  /**
   * Stores a pending factor with this secret, replacing a pending one; false (nothing stored) when
   * the user has a confirmed factor.
   */
  abstract savePending(userId: string, secretEnc: Buffer): Promise<boolean>;

  /**
   * Confirms the pending factor holding exactly this secret, recording `step` as its last accepted
   * step; false when it is gone, confirmed already, or was replaced by another setup meanwhile.
   */
  abstract confirm(userId: string, secretEnc: Buffer, step: number): Promise<boolean>;

  /**
   * Claims a time step of the confirmed factor holding this secret: true for exactly one of any
   * number of concurrent claims of one step, false when the step is at or before the last claimed.
   */
  abstract claimStep(userId: string, secretEnc: Buffer, step: number): Promise<boolean>;

  /** Removes the user's factor, pending or confirmed; true when there was one. */
  abstract delete(userId: string, tx?: Tx): Promise<boolean>;
}

interface TotpRow {
  secret_enc: Buffer;
  confirmed_at: Date | null;
  last_step: string | null;
}

@Injectable()
export class PgTotpRepository implements TotpRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async find(userId: string): Promise<StoredTotp | null> {
    const [row]: TotpRow[] = await this.dataSource.query(`SELECT secret_enc, confirmed_at, last_step FROM mfa_totp WHERE user_id = $1`, [
      userId,
    ]);
    return row
      ? { secretEnc: row.secret_enc, confirmedAt: row.confirmed_at, lastStep: row.last_step === null ? null : Number(row.last_step) }
      : null;
  }

  async hasConfirmed(userId: string): Promise<boolean> {
    // Prepared: parsed and planned once per connection, since every login asks.
    const rows = await preparedQuery<{ one: number }>(
      this.dataSource,
      'mfa_totp_has_confirmed',
      `SELECT 1 AS one FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL`,
      [userId],
    );
    return rows.length > 0;
  }

  async savePending(userId: string, secretEnc: Buffer): Promise<boolean> {
    const rows = await updateReturning(
      this.dataSource,
      `INSERT INTO mfa_totp AS t (user_id, secret_enc) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET secret_enc = EXCLUDED.secret_enc, last_step = NULL, created_at = now(), updated_at = now()
        WHERE t.confirmed_at IS NULL
       RETURNING user_id`,
      [userId, secretEnc],
    );
    return rows.length > 0;
  }

  async confirm(userId: string, secretEnc: Buffer, step: number): Promise<boolean> {
    const rows = await updateReturning(
      this.dataSource,
      `UPDATE mfa_totp SET confirmed_at = now(), last_step = $3, updated_at = now()
        WHERE user_id = $1 AND secret_enc = $2 AND confirmed_at IS NULL
        RETURNING user_id`,
      [userId, secretEnc, step],
    );
    return rows.length > 0;
  }

  async claimStep(userId: string, secretEnc: Buffer, step: number): Promise<boolean> {
    // The conditional update is the claim: row locking lets one of concurrent claims of a step win.
    const rows = await updateReturning(
      this.dataSource,
      `UPDATE mfa_totp SET last_step = $3, updated_at = now()
        WHERE user_id = $1 AND secret_enc = $2 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $3)
        RETURNING user_id`,
      [userId, secretEnc, step],
    );
    return rows.length > 0;
  }

  async delete(userId: string, tx?: Tx): Promise<boolean> {
    const rows = await updateReturning(tx ?? this.dataSource.manager, `DELETE FROM mfa_totp WHERE user_id = $1 RETURNING user_id`, [
      userId,
    ]);
    return rows.length > 0;
  }
}
