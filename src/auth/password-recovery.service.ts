import { Inject, Injectable } from '@nestjs/common';

import { DomainEvents } from '../events/domain-events.service.js';
import { MailOutbox } from '../mail/mail-outbox.service.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { Transactions } from '../platform/database/transactions.js';
import { BackgroundTasks } from '../platform/lifecycle/background-tasks.service.js';
import { LockoutService } from '../protection/lockout.service.js';
import { RevocationFeed } from '../sessions/revocation-feed.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { generateOpaqueToken } from '../shared/crypto.js';
import { AppError, ErrorCode, invalidCredentials } from '../shared/errors/app-error.js';
import { PasswordHasher } from '../users/password-hasher.service.js';
import { assertNotSimilarToIdentity } from '../users/password-policy.js';
import { UsersService } from '../users/users.service.js';
import { AccountTokensRepository } from './account-tokens.repository.js';
import { CredentialsService } from './credentials.service.js';
import { EmailVerificationService, invalidToken } from './email-verification.service.js';

/** Forgotten password (mailed single-use token), reset with it, and change with the current one. */
@Injectable()
export class PasswordRecoveryService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly transactions: Transactions,
    private readonly tokens: AccountTokensRepository,
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly hasher: PasswordHasher,
    private readonly outbox: MailOutbox,
    private readonly feed: RevocationFeed,
    private readonly background: BackgroundTasks,
    private readonly events: DomainEvents,
    private readonly lockout: LockoutService,
    private readonly verification: EmailVerificationService,
    private readonly credentials: CredentialsService,
  ) {}

  /**
   * Answers at once, whatever the address (same answer, same time). For a known address: a new token
   * voids the older ones, and the mail goes out unless the address is throttled.
   */
  requestReset(email: string): void {
    this.background.run('password reset request', async () => {
      const queued = await this.transactions.run(async (tx) => {
        const user = await this.users.findByEmail(email, tx);
        // An account being deleted is as good as gone: no link that could look like a way back.
        if (!user || user.eraseAfter) return false;
        if (!(await this.outbox.mayQueue(tx, user.email, 'password_reset'))) return false;
        await this.tokens.voidAllForUser('password_reset', user.id, tx);
        const token = generateOpaqueToken();
        await this.tokens.issue(
          'password_reset',
          token,
          { userId: user.id, email: user.email, ttlSeconds: this.config.tokens.passwordResetTtl },
          tx,
        );
        await this.outbox.queuePasswordReset(tx, user.email, token);
        return true;
      });
      if (queued) this.outbox.wakeWorker();
    });
  }

  /**
   * Sets a new password with a reset token and signs the user out everywhere. The new password is
   * validated before this is called, so a refused password never consumes the token. Returns no
   * tokens (no auto-login) and leaves a deactivated account deactivated.
   */
  async reset(token: string, password: string): Promise<void> {
    // Checked before the token is used, so a refused password leaves it usable.
    const tokenOwner = await this.tokens.findOwner('password_reset', token);
    if (!tokenOwner) throw invalidToken();
    assertNotSimilarToIdentity(password, tokenOwner);
    const passwordHash = await this.hasher.hash(password);
    const { userId, revoked, owner } = await this.transactions.run(async (tx) => {
      const claimed = await this.tokens.claim('password_reset', token, tx);
      if (!claimed) throw invalidToken();
      const user = await this.users.findById(claimed.userId, tx);
      if (!user) throw invalidToken();
      // The link was mailed to this address: using it proves the mailbox, as a verification link does.
      if (claimed.email === user.email && !user.emailVerified) await this.users.markEmailVerified(user.id, user.email, passwordHash, tx);
      else await this.users.updatePasswordHash(user.id, passwordHash, undefined, tx);
      await this.verification.voidLinks(user.id, tx);
      const revokedSessions = await this.sessions.revokeAllForUserIn(tx, user.id, { reason: 'password_reset' });
      await this.outbox.queuePasswordChanged(tx, user.email);
      return { userId: user.id, revoked: revokedSessions, owner: user };
    });
    await this.sessions.announceRevoked(revoked);
    await this.feed.awaitDelivery([`user:${userId}`]);
    // A reset works while the account is locked out, and ends the lock.
    await this.lockout.clearFor(owner);
    this.outbox.wakeWorker();
    this.events.publish('user.password_reset', { userId });
  }

  /** Changes the password of the caller, who proves the current one; every other session ends. */
  async change(auth: AuthContext, currentPassword: string, newPassword: string): Promise<void> {
    if (auth.isImpersonated) throw new AppError(ErrorCode.FORBIDDEN, 'an impersonated session cannot change the password');
    const { user, checkedPasswordHash: currentHash } = await this.credentials.confirmPassword(auth.userId, currentPassword);
    assertNotSimilarToIdentity(newPassword, user, 'newPassword');
    const passwordHash = await this.hasher.hash(newPassword);
    const revoked = await this.transactions.run(async (tx) => {
      // Conditional on the password just checked: a reset racing this change wins, never the change.
      if (!(await this.users.updatePasswordHash(user.id, passwordHash, currentHash, tx))) throw invalidCredentials();
      const revokedSessions = await this.sessions.revokeAllForUserIn(tx, user.id, {
        exceptSessionId: auth.sessionId,
        reason: 'password_changed',
      });
      await this.verification.voidLinks(user.id, tx);
      await this.outbox.queuePasswordChanged(tx, user.email);
      return revokedSessions;
    });
    await this.sessions.announceRevoked(revoked);
    await this.feed.awaitDelivery([`user:${user.id}`]);
    this.outbox.wakeWorker();
    this.events.publish('user.password_changed', { userId: user.id, sessionId: auth.sessionId });
  }
}
