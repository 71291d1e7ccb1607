import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

import { queryWithTimeout, updateReturning } from '../platform/database/sql.js';
import type { Tx } from '../platform/database/transactions.js';
import type { MailKind } from './templates.js';

/** A mail to queue. */
export interface MailToQueue {
  kind: MailKind;
  recipient: string;
  subject: string;
  text: string;
  html: string;
}

/** The mail not yet sent, and how long the oldest due one has waited (null: none is due). */
export interface MailBacklog {
  pending: number;
  oldestDueSeconds: number | null;
}

/** A mail a worker has claimed for sending; `attempts` includes this one. */
export interface ClaimedMail {
  id: string;
  recipient: string;
  subject: string;
  text: string;
  html: string;
  attempts: number;
}

/**
 * The mail outbox. Queueing takes part in the caller's transaction (the `tx` first parameter), so a
 * mail exists exactly when the change that causes it commits; the worker's methods stand alone.
 */
export abstract class MailOutboxRepository {
  /**
   * Takes a lock on the kind and address, held until `tx` ends, then counts the mails of that kind
   * queued for the address within the last `withinSeconds` (sent or not). Concurrent transactions
   * counting for the same kind and address so run one after the other.
   */
  abstract lockAndCountRecent(tx: Tx, query: { kind: MailKind; recipient: string; withinSeconds: number }): Promise<number>;

  /** Queues a mail, due at once. */
  abstract enqueue(tx: Tx, mail: MailToQueue): Promise<void>;

  /**
   * Claims up to `limit` due mails, oldest due first: pending ones whose time has come and claims
   * that ran out. A claim lasts `leaseSeconds`; concurrent claims never take the same mail.
   */
  abstract claimDue(query: { limit: number; leaseSeconds: number }): Promise<ClaimedMail[]>;

  /** The mail went out: it is never claimed again, and its body (a live token) is dropped. */
  abstract markSent(id: string): Promise<void>;

  /** The attempt failed: the mail is due again after `delayMs`. */
  abstract reschedule(id: string, retry: { delayMs: number; error: string }): Promise<void>;

  /** Given up: never claimed again, and its body is dropped. */
  abstract markFailed(id: string, error: string): Promise<void>;

  /** The mails not yet sent: waiting, being sent, or waiting for a retry. */
  abstract countPending(): Promise<number>;

  /**
   * The mails not yet sent, and the age of the oldest due one: pending since its time came, or
   * claimed since its claim ran out. Given up (rejected) after `timeoutMs`, for probes.
   */
  abstract backlog(query: { timeoutMs: number }): Promise<MailBacklog>;
}

interface ClaimedRow {
  id: string;
  recipient: string;
  subject: string;
  text_body: string;
  html_body: string;
  attempts: number;
}

@Injectable()
export class PgMailOutboxRepository implements MailOutboxRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async lockAndCountRecent(tx: Tx, query: { kind: MailKind; recipient: string; withinSeconds: number }): Promise<number> {
    // Transaction-scoped, so concurrent requests cannot both pass the last free slot.
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`mail:${query.kind}:${query.recipient}`]);
    const rows: Array<{ n: number }> = await tx.query(
      `SELECT count(*)::int AS n FROM mail_outbox WHERE recipient = $1 AND kind = $2 AND created_at > now() - make_interval(secs => $3)`,
      [query.recipient, query.kind, query.withinSeconds],
    );
    return rows[0]?.n ?? 0;
  }

  async enqueue(tx: Tx, mail: MailToQueue): Promise<void> {
    await tx.query(`INSERT INTO mail_outbox (kind, recipient, subject, text_body, html_body) VALUES ($1, $2, $3, $4, $5)`, [
      mail.kind,
      mail.recipient,
      mail.subject,
      mail.text,
      mail.html,
    ]);
  }

  async claimDue(query: { limit: number; leaseSeconds: number }): Promise<ClaimedMail[]> {
    // SKIP LOCKED: any number of workers share the work and never take the same row.
    const rows = await updateReturning<ClaimedRow>(
      this.dataSource.manager,
      `UPDATE mail_outbox SET status = 'sending', attempts = attempts + 1, locked_until = now() + make_interval(secs => $2)
        WHERE id IN (
          SELECT id FROM mail_outbox
           WHERE (status = 'pending' AND next_attempt_at <= now()) OR (status = 'sending' AND locked_until < now())
           ORDER BY next_attempt_at
           LIMIT $1
           FOR UPDATE SKIP LOCKED)
        RETURNING id, recipient, subject, text_body, html_body, attempts`,
      [query.limit, query.leaseSeconds],
    );
    return rows.map((r) => ({
      id: r.id,
      recipient: r.recipient,
      subject: r.subject,
      text: r.text_body,
      html: r.html_body,
      attempts: r.attempts,
    }));
  }

  async markSent(id: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'sent', sent_at = now(), locked_until = NULL, text_body = NULL, html_body = NULL, last_error = NULL
        WHERE id = $1`,
      [id],
    );
  }

  async reschedule(id: string, retry: { delayMs: number; error: string }): Promise<void> {
    await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'pending', locked_until = NULL, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000), last_error = $3
        WHERE id = $1`,
      [id, retry.delayMs, retry.error],
    );
  }

  async markFailed(id: string, error: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'failed', locked_until = NULL, text_body = NULL, html_body = NULL, last_error = $2 WHERE id = $1`,
      [id, error],
    );
  }

  async countPending(): Promise<number> {
    // On the partial index of unsent mail.
    const rows: Array<{ n: number }> = await this.dataSource.query(
      `SELECT count(*)::int AS n FROM mail_outbox WHERE status IN ('pending', 'sending')`,
    );
    return rows[0]?.n ?? 0;
  }

  async backlog(query: { timeoutMs: number }): Promise<MailBacklog> {
    const [row] = await queryWithTimeout<{ pending: number; oldest_due: number | null }>(
      this.dataSource,
      `SELECT count(*)::int AS pending,
              floor(EXTRACT(EPOCH FROM now() - min(CASE WHEN status = 'pending' THEN next_attempt_at ELSE locked_until END)
                FILTER (WHERE (status = 'pending' AND next_attempt_at <= now()) OR (status = 'sending' AND locked_until < now()))))::int AS oldest_due
         FROM mail_outbox WHERE status IN ('pending', 'sending')`,
      query.timeoutMs,
    );
    return { pending: row?.pending ?? 0, oldestDueSeconds: row?.oldest_due ?? null };
  }
}
