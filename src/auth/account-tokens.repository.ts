import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

import { updateReturning } from '../platform/database/sql.js';
import type { Tx } from '../platform/database/transactions.js';
import { sha256Hex } from '../shared/crypto.js';

/** The single-use tokens mailed as links: proving an address, and resetting a password. */
export type AccountTokenKind = 'email_verification' | 'password_reset';

export interface NewAccountToken {
  userId: string;
  /** The address the link is mailed to; the token stays bound to it. */
  email: string;
  ttlSeconds: number;
}

/** What a claimed token was bound to. `email` is null on reset tokens issued before they carried one. */
export interface ClaimedAccountToken {
  userId: string;
  email: string | null;
}

export interface AccountTokenOwner {
  email: string;
  username: string | null;
}

/**
 * Verification and reset tokens. A token is stored only as its SHA-256 hash, and is live while it
 * is neither used nor expired. Methods take the caller's transaction as their last argument.
 */
export abstract class AccountTokensRepository {
  abstract issue(kind: AccountTokenKind, token: string, grant: NewAccountToken, tx?: Tx): Promise<void>;

  /** Uses a live token, once: of concurrent claims, one gets the token's binding, the others null. */
  abstract claim(kind: AccountTokenKind, token: string, tx?: Tx): Promise<ClaimedAccountToken | null>;

  /** Every unused token of the kind the user has is marked used (expired ones too); how many were. */
  abstract voidAllForUser(kind: AccountTokenKind, userId: string, tx?: Tx): Promise<number>;

  /** The user a live token belongs to, without using it. */
  abstract findOwner(kind: AccountTokenKind, token: string, tx?: Tx): Promise<AccountTokenOwner | null>;
}

/** Fixed table names per kind: nothing the caller passes reaches the SQL text. */
const TABLES: Record<AccountTokenKind, string> = {
  email_verification: 'email_verification_tokens',
  password_reset: 'password_reset_tokens',
};

@Injectable()
export class PgAccountTokensRepository implements AccountTokensRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async issue(kind: AccountTokenKind, token: string, grant: NewAccountToken, tx?: Tx): Promise<void> {
    await this.db(tx).query(
      `INSERT INTO ${TABLES[kind]} (token_hash, user_id, email, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))`,
      [sha256Hex(token), grant.userId, grant.email, grant.ttlSeconds],
    );
  }

  async claim(kind: AccountTokenKind, token: string, tx?: Tx): Promise<ClaimedAccountToken | null> {
    // Conditional on the token being live: of two concurrent uses, the second updates nothing.
    const rows = await updateReturning<{ user_id: string; email: string | null }>(
      this.db(tx),
      `UPDATE ${TABLES[kind]} SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
        RETURNING user_id, email`,
      [sha256Hex(token)],
    );
    const row = rows[0];
    return row ? { userId: row.user_id, email: row.email } : null;
  }

  async voidAllForUser(kind: AccountTokenKind, userId: string, tx?: Tx): Promise<number> {
    const rows = await updateReturning<{ user_id: string }>(
      this.db(tx),
      `UPDATE ${TABLES[kind]} SET used_at = now() WHERE user_id = $1 AND used_at IS NULL RETURNING user_id`,
      [userId],
    );
    return rows.length;
  }

  async findOwner(kind: AccountTokenKind, token: string, tx?: Tx): Promise<AccountTokenOwner | null> {
    const rows: AccountTokenOwner[] = await this.db(tx).query(
      `SELECT u.email, u.username FROM ${TABLES[kind]} t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()`,
      [sha256Hex(token)],
    );
    const row = rows[0];
    return row ? { email: row.email, username: row.username } : null;
  }

  private db(tx?: Tx): Pick<Tx, 'query'> {
    return tx ?? this.dataSource.manager;
  }
}
