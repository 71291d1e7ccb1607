import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

import { updateReturning } from '../platform/database/sql.js';
import type { Tx } from '../platform/database/transactions.js';
import { sha256Hex } from '../shared/crypto.js';

export interface NewEmailChange {
  userId: string;
  /** The new address, normalised: the token is bound to it. */
  email: string;
  /** The session that asked: it stays signed in when the change ends every other session. */
  sessionId: string;
  ttlSeconds: number;
}

export interface ClaimedEmailChange {
  userId: string;
  email: string;
  sessionId: string | null;
}

/**
 * The links of requested address changes. A token is stored only as its SHA-256 hash and is live
 * while neither used nor expired; as with verification links, one use, bound to user and address.
 */
@Injectable()
export class EmailChangeTokensRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async issue(token: string, change: NewEmailChange, tx: Tx): Promise<void> {
    await tx.query(
      `INSERT INTO email_change_tokens (token_hash, user_id, email, session_id, expires_at)
       VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
      [sha256Hex(token), change.userId, change.email, change.sessionId, change.ttlSeconds],
    );
  }

  /** Uses a live token, once: of concurrent claims, one gets the change, the others null. */
  async claim(token: string, tx: Tx): Promise<ClaimedEmailChange | null> {
    const rows = await updateReturning<{ user_id: string; email: string; session_id: string | null }>(
      tx,
      `UPDATE email_change_tokens SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
        RETURNING user_id, email, session_id`,
      [sha256Hex(token)],
    );
    const row = rows[0];
    return row ? { userId: row.user_id, email: row.email, sessionId: row.session_id } : null;
  }

  /** Every unused change link of the user stops working. */
  async voidAllForUser(userId: string, tx?: Tx): Promise<void> {
    await (tx ?? this.dataSource.manager).query(`UPDATE email_change_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL`, [
      userId,
    ]);
  }
}
