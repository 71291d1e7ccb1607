import { Inject, Injectable } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import {
  accountExistsMail, MailKind, passwordChangedMail, passwordResetMail, RenderedMail, usernameTakenMail, verifyEmailChoosePasswordMail, verifyEmailMail,
} from './templates.js';

/** Emitted after a transaction that queued mail commits, to wake the worker at once. */
export const MAIL_QUEUED = 'mail.queued';

/** Per address and hour; beyond it the mail is silently not sent (the answer never changes). */
const HOURLY_LIMIT: Partial<Record<MailKind, number>> = { verify_email: 5, password_reset: 5, account_exists: 5, username_taken: 5 };

/**
 * Queues account mail as outbox rows, inside the caller's transaction: the mail exists exactly when
 * the change that causes it is committed. The worker delivers it later, with retries.
 */
@Injectable()
export class MailOutbox {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly events: EventEmitter2,
  ) {}

  verifyLink(token: string): string {
    return `${this.config.appUrl}/verify-email?token=${encodeURIComponent(token)}`;
  }

  resetLink(token: string): string {
    return `${this.config.appUrl}/reset-password?token=${encodeURIComponent(token)}`;
  }

  /**
   * Whether another mail of this kind may go to this address now. Takes a transaction-scoped lock
   * on the address, so concurrent requests cannot both pass the last free slot.
   */
  async mayQueue(em: EntityManager, to: string, kind: MailKind): Promise<boolean> {
    const limit = HOURLY_LIMIT[kind];
    if (limit === undefined) return true;
    await em.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`mail:${kind}:${to}`]);
    const rows: Array<{ n: number }> = await em.query(
      `SELECT count(*)::int AS n FROM mail_outbox WHERE recipient = $1 AND kind = $2 AND created_at > now() - interval '1 hour'`,
      [to, kind],
    );
    return (rows[0]?.n ?? 0) < limit;
  }

  /** With `choosePassword`, the mail says the link asks for a new password (a contested sign-up). */
  queueVerifyEmail(em: EntityManager, to: string, token: string, choosePassword = false): Promise<void> {
    const render = choosePassword ? verifyEmailChoosePasswordMail : verifyEmailMail;
    return this.queue(em, to, render(this.verifyLink(token), this.config.tokens.emailVerificationTtl));
  }

  queueUsernameTaken(em: EntityManager, to: string, username: string): Promise<void> {
    return this.queue(em, to, usernameTakenMail(username));
  }

  queueAccountExists(em: EntityManager, to: string): Promise<void> {
    return this.queue(em, to, accountExistsMail(`${this.config.appUrl}/forgot-password`));
  }

  queuePasswordReset(em: EntityManager, to: string, token: string): Promise<void> {
    return this.queue(em, to, passwordResetMail(this.resetLink(token), this.config.tokens.passwordResetTtl));
  }

  queuePasswordChanged(em: EntityManager, to: string): Promise<void> {
    return this.queue(em, to, passwordChangedMail(`${this.config.appUrl}/forgot-password`));
  }

  /** Wakes the worker; call after the transaction that queued mail has committed. */
  wakeWorker(): void {
    this.events.emit(MAIL_QUEUED);
  }

  private async queue(em: EntityManager, to: string, mail: RenderedMail): Promise<void> {
    await em.query(
      `INSERT INTO mail_outbox (kind, recipient, subject, text_body, html_body) VALUES ($1, $2, $3, $4, $5)`,
      [mail.kind, to, mail.subject, mail.text, mail.html],
    );
  }
}
