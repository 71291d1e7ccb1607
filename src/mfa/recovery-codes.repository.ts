import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { updateReturning } from '../platform/database/sql.js';
import type { Tx } from '../platform/database/transactions.js';

/** A recovery code to store: its lookup prefix and the argon2id hash of the whole code. */
export interface NewRecoveryCode {
  lookup: string;
  codeHash: string;
}

/** Recovery codes, stored as hashes and found by (user, lookup). */
export abstract class RecoveryCodesRepository {
  /** The unused code of the user with this lookup: its id and hash. */
  abstract findUnused(userId: string, lookup: string): Promise<{ id: string; codeHash: string } | null>;

  /** Marks the code used unless it is used (or gone) already: true for exactly one of concurrent uses. */
  abstract markUsed(id: string): Promise<boolean>;

  /** The user's unused codes. */
  abstract countUnused(userId: string): Promise<number>;

  /**
   * Replaces the user's codes with these, in one transaction: the old set is void once it commits,
   * and concurrent replacements leave exactly one whole set.
   */
  abstract replaceAll(userId: string, codes: NewRecoveryCode[]): Promise<void>;

  abstract deleteAll(userId: string, tx?: Tx): Promise<void>;
}

/** The key space of the advisory locks this repository takes (with the user's hash as the second key). */
const REPLACE_LOCK_SPACE = 0x6d666172; // "mfar"

@Injectable()
export class PgRecoveryCodesRepository implements RecoveryCodesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async findUnused(userId: string, lookup: string): Promise<{ id: string; codeHash: string } | null> {
    const [row]: Array<{ id: string; code_hash: string }> = await this.dataSource.query(
      `SELECT id, code_hash FROM mfa_recovery_codes WHERE user_id = $1 AND lookup = $2 AND used_at IS NULL`,
      [userId, lookup],
    );
    return row ? { id: row.id, codeHash: row.code_hash } : null;
  }

  async markUsed(id: string): Promise<boolean> {
    const rows = await updateReturning(
      this.dataSource,
      `UPDATE mfa_recovery_codes SET used_at = now() WHERE id = $1 AND used_at IS NULL RETURNING id`,
      [id],
    );
    return rows.length > 0;
  }

  async countUnused(userId: string): Promise<number> {
    const [row]: Array<{ n: number }> = await this.dataSource.query(
      `SELECT count(*)::int AS n FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL`,
      [userId],
    );
    return row?.n ?? 0;
  }

  replaceAll(userId: string, codes: NewRecoveryCode[]): Promise<void> {
    return this.dataSource.transaction(async (em) => {
      // Two replacements at once would each delete only the rows their snapshot sees and keep both
      // new sets: the second waits here until the first has committed.
      await em.query(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, [REPLACE_LOCK_SPACE, userId]);
      await em.query(`DELETE FROM mfa_recovery_codes WHERE user_id = $1`, [userId]);
      await em.query(`INSERT INTO mfa_recovery_codes (user_id, lookup, code_hash) SELECT $1, * FROM unnest($2::text[], $3::text[])`, [
        userId,
        codes.map((c) => c.lookup),
        codes.map((c) => c.codeHash),
      ]);
    });
  }

  async deleteAll(userId: string, tx?: Tx): Promise<void> {
    await (tx ?? this.dataSource.manager).query(`DELETE FROM mfa_recovery_codes WHERE user_id = $1`, [userId]);
  }
}
