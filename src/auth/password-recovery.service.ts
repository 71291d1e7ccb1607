import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppError, ErrorCode, invalidCredentials } from '../shared/errors/app-error.js';
import { BackgroundTasks } from '../platform/lifecycle/background-tasks.service.js';
import { DomainEvents } from '../events/domain-events.service.js';
import { generateOpaqueToken, sha256Hex } from '../shared/crypto.js';
import { updateReturning } from '../platform/database/sql.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { MailOutbox } from '../mail/mail-outbox.service.js';
import { RevocationFeed } from '../sessions/revocation-feed.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { PasswordHasher } from '../users/password-hasher.service.js';
import { assertNotSimilarToIdentity } from '../users/password-policy.js';
import { UsersService } from '../users/users.service.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { EmailVerificationService, invalidToken } from './email-verification.service.js';
import { LockoutService } from '../protection/lockout.service.js';

/** Forgotten password (mailed single-use token), reset with it, and change with the current one. */
@Injectable()
export class PasswordRecoveryService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly hasher: PasswordHasher,
    private readonly outbox: MailOutbox,
    private readonly feed: RevocationFeed,
    private readonly background: BackgroundTasks,
    private readonly events: DomainEvents,
    private readonly lockout: LockoutService,
    private readonly verification: EmailVerificationService,
  ) {}

  /**
   * Answers at once, whatever the address (same answer, same time). For a known address: a new token
   * voids the older ones, and the mail goes out unless the address is throttled.
   */
  requestReset(email: string): void {
    this.background.run('password reset request', async () => {
      const queued = await this.dataSource.transaction(async (em) => {
        const user = await this.users.findByEmail(email, em);
        if (!user) return false;
        if (!(await this.outbox.mayQueue(em, user.email, 'password_reset'))) return false;
        await em.query(`UPDATE password_reset_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL`, [user.id]);
        const token = generateOpaqueToken();
        await em.query(
          `INSERT INTO password_reset_tokens (token_hash, user_id, email, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))`,
          [sha256Hex(token), user.id, user.email, this.config.tokens.passwordResetTtl],
        );
        await this.outbox.queuePasswordReset(em, user.email, token);
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
    const owners: Array<{ email: string; username: string | null }> = await this.dataSource.query(
      `SELECT u.email, u.username FROM password_reset_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()`,
      [sha256Hex(token)],
    );
    if (!owners[0]) throw invalidToken();
    assertNotSimilarToIdentity(password, owners[0]);
    const passwordHash = await this.hasher.hash(password);
    const { userId, revoked, owner } = await this.dataSource.transaction(async (em) => {
      const used = await updateReturning<{ user_id: string; email: string | null }>(em,
        `UPDATE password_reset_tokens SET used_at = now()
          WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
          RETURNING user_id, email`,
        [sha256Hex(token)],
      );
      const row = used[0];
      if (!row) throw invalidToken();
      const user = await this.users.findById(row.user_id, em);
      if (!user) throw invalidToken();
      // The link was mailed to this address: using it proves the mailbox, as a verification link does.
      if (row.email === user.email && !user.emailVerified) await this.users.markEmailVerified(em, user.id, user.email, passwordHash);
      else await this.users.updatePasswordHash(em, user.id, passwordHash);
      await this.verification.voidLinks(em, user.id);
      const revokedSessions = await this.sessions.revokeAllForUserIn(em, user.id, { reason: 'password_reset' });
      await this.outbox.queuePasswordChanged(em, user.email);
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
    const user = await this.users.findByIdWithPassword(auth.userId);
    if (!user) throw invalidCredentials();
    // Guessing the current password with a stolen access token meets the account lockout too.
    const attempt = await this.lockout.begin(this.lockout.changeCounters(user.id));
    const currentHash = user.passwordHash;
    // A voided password (contested sign-up) costs the same dummy verify as a wrong one.
    if (!(await this.hasher.check(currentHash, currentPassword)).ok || !currentHash) {
      await this.lockout.failed(attempt);
      throw invalidCredentials();
    }
    await this.lockout.clearFor(user);
    assertNotSimilarToIdentity(newPassword, user, 'newPassword');
    const passwordHash = await this.hasher.hash(newPassword);
    const revoked = await this.dataSource.transaction(async (em) => {
      // Conditional on the password just checked: a reset racing this change wins, never the change.
      if (!(await this.users.updatePasswordHash(em, user.id, passwordHash, currentHash))) throw invalidCredentials();
      const revokedSessions = await this.sessions.revokeAllForUserIn(em, user.id, { exceptSessionId: auth.sessionId, reason: 'password_changed' });
      await this.verification.voidLinks(em, user.id);
      await this.outbox.queuePasswordChanged(em, user.email);
      return revokedSessions;
    });
    await this.sessions.announceRevoked(revoked);
    await this.feed.awaitDelivery([`user:${user.id}`]);
    this.outbox.wakeWorker();
    this.events.publish('user.password_changed', { userId: user.id, sessionId: auth.sessionId });
  }
}
