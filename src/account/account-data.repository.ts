import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

import { AUTH_CHANGES_CHANNEL } from '../events/auth-changes.js';
import type { Tx } from '../platform/database/transactions.js';

/** A session as the export shows it: every one still stored, live or ended. */
export interface ExportedSession {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  revokedAt: string | null;
  revokeReason: string | null;
  ip: string | null;
  userAgent: string | null;
  impersonatorId: string | null;
}

export interface ExportedAuditEntry {
  type: string;
  at: string;
  sessionId: string | null;
  actorId: string | null;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown> | null;
}

/** Status only: never a secret, a hash or a code. */
export interface SecondFactorStatus {
  totp: { enabled: boolean; confirmedAt: string | null };
  recoveryCodesLeft: number;
}

/** An account whose grace period is over, claimed for erasure by one instance. */
export interface AccountToErase {
  id: string;
  email: string;
  username: string | null;
}

/**
 * The map of where an account's personal data lives, across the tables of several features: read
 * for the export, erased after a deletion. One place on purpose: the grey-box test that no row keeps
 * the address checks this list against the whole schema. Rows referencing the user with ON DELETE
 * CASCADE (sessions and refresh tokens, every kind of link token, second factors) go with the user
 * row; the rest is named here.
 */
@Injectable()
export class AccountDataRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async sessionsOf(userId: string): Promise<ExportedSession[]> {
    const rows: Array<{
      id: string;
      created_at: Date;
      last_used_at: Date;
      expires_at: Date;
      revoked_at: Date | null;
      revoke_reason: string | null;
      ip: string | null;
      user_agent: string | null;
      impersonator_id: string | null;
    }> = await this.dataSource.query(
      `SELECT id, created_at, last_used_at, expires_at, revoked_at, revoke_reason, ip, user_agent, impersonator_id
         FROM sessions WHERE user_id = $1 ORDER BY created_at DESC`,
      [userId],
    );
    return rows.map((r) => ({
      id: r.id,
      createdAt: r.created_at.toISOString(),
      lastUsedAt: r.last_used_at.toISOString(),
      expiresAt: r.expires_at.toISOString(),
      revokedAt: r.revoked_at?.toISOString() ?? null,
      revokeReason: r.revoke_reason,
      ip: r.ip,
      userAgent: r.user_agent,
      impersonatorId: r.impersonator_id,
    }));
  }

  /** The audit entries about the user, newest first, up to `limit`. */
  async auditOf(userId: string, limit: number): Promise<ExportedAuditEntry[]> {
    const rows: Array<{
      type: string;
      at: Date;
      session_id: string | null;
      actor_id: string | null;
      ip: string | null;
      user_agent: string | null;
      details: Record<string, unknown> | null;
    }> = await this.dataSource.query(
      `SELECT type, at, session_id, actor_id, ip, user_agent, details FROM audit_log
        WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2`,
      [userId, limit],
    );
    return rows.map((r) => ({
      type: r.type,
      at: r.at.toISOString(),
      sessionId: r.session_id,
      actorId: r.actor_id,
      ip: r.ip,
      userAgent: r.user_agent,
      details: r.details,
    }));
  }

  /**
   * The second factors' status, read from their tables when the MFA feature's migration has made
   * them (counts and times only: the secret and the code hashes are never selected).
   */
  async secondFactorsOf(userId: string): Promise<SecondFactorStatus> {
    const [tables] = await this.dataSource.query<Array<{ totp: string | null; codes: string | null }>>(
      `SELECT to_regclass('mfa_totp')::text AS totp, to_regclass('mfa_recovery_codes')::text AS codes`,
    );
    const status: SecondFactorStatus = { totp: { enabled: false, confirmedAt: null }, recoveryCodesLeft: 0 };
    if (tables?.totp) {
      const rows: Array<{ confirmed_at: Date | null }> = await this.dataSource.query(
        `SELECT confirmed_at FROM mfa_totp WHERE user_id = $1`,
        [userId],
      );
      const confirmedAt = rows[0]?.confirmed_at ?? null;
      status.totp = { enabled: confirmedAt !== null, confirmedAt: confirmedAt?.toISOString() ?? null };
    }
    if (tables?.codes) {
      const rows: Array<{ n: number }> = await this.dataSource.query(
        `SELECT count(*)::int AS n FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL`,
        [userId],
      );
      status.recoveryCodesLeft = rows[0]?.n ?? 0;
    }
    return status;
  }

  /**
   * Up to `limit` accounts whose erasure time has passed and that have no mail still to be sent to
   * their address (the deletion notice goes out first), locked for the transaction: SKIP LOCKED lets
   * every instance run the job, and no two erase the same account.
   */
  async claimDue(limit: number, tx: Tx): Promise<AccountToErase[]> {
    return tx.query(
      `SELECT id, email, username FROM users u
        WHERE erase_after <= now()
          AND NOT EXISTS (SELECT 1 FROM mail_outbox m WHERE m.recipient = u.email AND m.status IN ('pending', 'sending'))
        ORDER BY erase_after
        LIMIT $1
        FOR UPDATE SKIP LOCKED`,
      [limit],
    );
  }

  /** Whether an account is due but waits for mail to its address (checked sooner than the usual period). */
  async anyDueWaiting(): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM users WHERE erase_after <= now() LIMIT 1`);
    return rows.length > 0;
  }

  /**
   * Erases the account in the caller's transaction: mail to any address it held (that no other
   * account holds now), its login-attempt counters, sessions it opened as an impersonating admin,
   * link tokens naming its address, the user row (and with it everything that cascades); its audit
   * entries keep their type and time but lose the address and user agent they were made from.
   */
  async erase(account: AccountToErase, tx: Tx): Promise<void> {
    // The addresses the account held: its own, and the former ones its tokens were bound to.
    const held: Array<{ email: string }> = await tx.query(
      `SELECT $2::text AS email
       UNION SELECT email FROM email_verification_tokens WHERE user_id = $1
       UNION SELECT email FROM password_reset_tokens WHERE user_id = $1 AND email IS NOT NULL
       UNION SELECT email FROM email_change_tokens WHERE user_id = $1`,
      [account.id, account.email],
    );
    const addresses = held.map((r) => r.email);
    await tx.query(
      `DELETE FROM mail_outbox WHERE recipient = ANY($1::text[])
          AND (recipient = $2 OR NOT EXISTS (SELECT 1 FROM users WHERE email = mail_outbox.recipient))`,
      [addresses, account.email],
    );
    const keys = [
      ...addresses.map((a) => `email:${a}`),
      `user:${account.id}`,
      `change:${account.id}`,
      ...(account.username ? [`username:${account.username}`] : []),
    ];
    await tx.query(`DELETE FROM login_attempts WHERE key = ANY($1::text[])`, [keys]);
    await tx.query(`DELETE FROM email_change_tokens WHERE email = $1`, [account.email]);
    await tx.query(`DELETE FROM sessions WHERE impersonator_id = $1`, [account.id]);
    await tx.query(`UPDATE audit_log SET ip = NULL, user_agent = NULL WHERE user_id = $1 OR actor_id = $1`, [account.id]);
    // Announced like every change of a user, so each instance drops what it cached of it.
    await tx.query(
      `WITH gone AS (DELETE FROM users WHERE id = $1 RETURNING id)
       SELECT pg_notify('${AUTH_CHANGES_CHANNEL}', 'user:' || id) FROM gone`,
      [account.id],
    );
  }
}
