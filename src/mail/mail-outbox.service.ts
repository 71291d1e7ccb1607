import { Inject, Injectable } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import type { Tx } from '../platform/database/transactions.js';
import { MailOutboxRepository } from './mail-outbox.repository.js';
import {
  accountDeletionMail,
  accountExistsMail,
  emailChangeMail,
  emailChangeRequestedMail,
  emailInUseMail,
  MailKind,
  mfaDisabledMail,
  mfaEnabledMail,
  passwordChangedMail,
  passwordResetMail,
  recoveryCodeUsedMail,
  RenderedMail,
  usernameTakenMail,
  verifyEmailChoosePasswordMail,
  verifyEmailMail,
} from './templates.js';

/** Emitted after a transaction that queued mail commits, to wake the worker at once. */
export const MAIL_QUEUED = 'mail.queued';

/** Per address and hour; beyond it the mail is silently not sent (the answer never changes). */
const HOURLY_LIMIT: Partial<Record<MailKind, number>> = {
  verify_email: 5,
  password_reset: 5,
  account_exists: 5,
  username_taken: 5,
  email_change: 5,
  email_change_requested: 5,
  email_in_use: 5,
};
const HOUR_SECONDS = 3600;

/**
 * Queues account mail as outbox rows, inside the caller's transaction: the mail exists exactly when
 * the change that causes it is committed. The worker delivers it later, with retries.
 */
@Injectable()
export class MailOutbox {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly events: EventEmitter2,
    private readonly mails: MailOutboxRepository,
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
  async mayQueue(tx: Tx, to: string, kind: MailKind): Promise<boolean> {
    const limit = HOURLY_LIMIT[kind];
    if (limit === undefined) return true;
    return (await this.mails.lockAndCountRecent(tx, { kind, recipient: to, withinSeconds: HOUR_SECONDS })) < limit;
  }

  /** With `choosePassword`, the mail says the link asks for a new password (a contested sign-up). */
  queueVerifyEmail(tx: Tx, to: string, token: string, choosePassword = false): Promise<void> {
    const render = choosePassword ? verifyEmailChoosePasswordMail : verifyEmailMail;
    return this.queue(tx, to, render(this.verifyLink(token), this.config.tokens.emailVerificationTtl));
  }

  queueUsernameTaken(tx: Tx, to: string, username: string): Promise<void> {
    return this.queue(tx, to, usernameTakenMail(username));
  }

  queueAccountExists(tx: Tx, to: string): Promise<void> {
    return this.queue(tx, to, accountExistsMail(this.forgotLink()));
  }

  queuePasswordReset(tx: Tx, to: string, token: string): Promise<void> {
    return this.queue(tx, to, passwordResetMail(this.resetLink(token), this.config.tokens.passwordResetTtl));
  }

  queuePasswordChanged(tx: Tx, to: string): Promise<void> {
    return this.queue(tx, to, passwordChangedMail(this.forgotLink()));
  }

  queueMfaEnabled(tx: Tx, to: string): Promise<void> {
    return this.queue(tx, to, mfaEnabledMail(this.forgotLink()));
  }

  /** `byAdmin`: the mail says an administrator turned it off. */
  queueMfaDisabled(tx: Tx, to: string, opts: { byAdmin: boolean }): Promise<void> {
    return this.queue(tx, to, mfaDisabledMail(this.forgotLink(), opts.byAdmin));
  }

  /** After a recovery code was spent: how many of the set are left. */
  queueRecoveryCodeUsed(tx: Tx, to: string, remaining: number): Promise<void> {
    return this.queue(tx, to, recoveryCodeUsedMail(remaining, this.forgotLink()));
  }

  emailChangeLink(token: string): string {
    return `${this.config.appUrl}/email-change?token=${encodeURIComponent(token)}`;
  }

  queueEmailChange(tx: Tx, to: string, token: string): Promise<void> {
    return this.queue(tx, to, emailChangeMail(this.emailChangeLink(token), this.config.tokens.emailVerificationTtl));
  }

  queueEmailChangeRequested(tx: Tx, to: string, newEmail: string): Promise<void> {
    return this.queue(tx, to, emailChangeRequestedMail(newEmail, `${this.config.appUrl}/forgot-password`));
  }

  queueEmailInUse(tx: Tx, to: string): Promise<void> {
    return this.queue(tx, to, emailInUseMail());
  }

  queueAccountDeletion(tx: Tx, to: string, eraseAfter: Date): Promise<void> {
    return this.queue(tx, to, accountDeletionMail(eraseAfter));
  }

  /** Wakes the worker; call after the transaction that queued mail has committed. */
  wakeWorker(): void {
    this.events.emit(MAIL_QUEUED);
  }

  private forgotLink(): string {
    return `${this.config.appUrl}/forgot-password`;
  }

  private async queue(tx: Tx, to: string, mail: RenderedMail): Promise<void> {
    await this.mails.enqueue(tx, { kind: mail.kind, recipient: to, subject: mail.subject, text: mail.text, html: mail.html });
  }
}
