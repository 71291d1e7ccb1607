import { Inject, Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';

import { DomainEvents } from '../events/domain-events.service.js';
import { USER_DEACTIVATED, type DomainEvent } from '../events/events.js';
import { MailOutbox } from '../mail/mail-outbox.service.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { Transactions, type Tx } from '../platform/database/transactions.js';
import { BackgroundTasks } from '../platform/lifecycle/background-tasks.service.js';
import { LockoutService } from '../protection/lockout.service.js';
import { RevocationFeed } from '../sessions/revocation-feed.service.js';
import { SessionsService, type RevokedSessions } from '../sessions/sessions.service.js';
import { generateOpaqueToken } from '../shared/crypto.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { PasswordHasher } from '../users/password-hasher.service.js';
import { assertNotSimilarToIdentity } from '../users/password-policy.js';
import type { UserEntity } from '../users/user.entity.js';
import { PublicUser, toPublicUser } from '../users/user.mapper.js';
import { UsersService } from '../users/users.service.js';
import { AccountTokensRepository } from './account-tokens.repository.js';

export const invalidToken = (): AppError => new AppError(ErrorCode.INVALID_TOKEN, 'invalid or expired token');

const passwordRequired = (): AppError =>
  new AppError(ErrorCode.PASSWORD_REQUIRED, 'choose a password to verify this address', {
    errors: [{ field: 'password', messages: ['this link needs the password you choose now'] }],
  });

/**
 * Proves an address: single-use tokens bound to user and address, stored hashed, mailed as links.
 * A link never carries a password: an uncontested sign-up keeps the one it chose, a contested one
 * (see RegistrationService) has none until the clicker chooses it, and once the address is verified
 * (or the password reset or changed, or the account deactivated) every outstanding link is void.
 */
@Injectable()
export class EmailVerificationService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly transactions: Transactions,
    private readonly tokens: AccountTokensRepository,
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly outbox: MailOutbox,
    private readonly feed: RevocationFeed,
    private readonly background: BackgroundTasks,
    private readonly events: DomainEvents,
    private readonly sessions: SessionsService,
    private readonly lockout: LockoutService,
  ) {}

  /**
   * Issues a token and queues its mail in the caller's transaction, unless the address is throttled.
   * `choosePassword`: the account's password is voided, so the mail says the link asks for one.
   */
  async issue(user: Pick<UserEntity, 'id' | 'email'>, opts: { choosePassword?: boolean }, tx: Tx): Promise<void> {
    if (!(await this.outbox.mayQueue(tx, user.email, 'verify_email'))) return;
    const token = generateOpaqueToken();
    await this.tokens.issue(
      'email_verification',
      token,
      { userId: user.id, email: user.email, ttlSeconds: this.config.tokens.emailVerificationTtl },
      tx,
    );
    await this.outbox.queueVerifyEmail(tx, user.email, token, opts.choosePassword ?? false);
  }

  /**
   * Verifies the address of the token. With `password`, the clicker (who proves the mailbox now)
   * sets the account's password; without it, a link of a contested sign-up answers PASSWORD_REQUIRED
   * and stays usable. A password set here signs the account out everywhere and is mailed as a change.
   */
  async verify(token: string, password?: string): Promise<{ user: PublicUser }> {
    // Checked and hashed before the token is used, so a refused password leaves the link usable.
    let passwordHash: string | undefined;
    if (password !== undefined) {
      const owner = await this.tokens.findOwner('email_verification', token);
      if (!owner) throw invalidToken();
      assertNotSimilarToIdentity(password, owner);
      passwordHash = await this.hasher.hash(password);
    }
    const { user, revoked } = await this.transactions.run(async (tx) => {
      const claimed = await this.tokens.claim('email_verification', token, tx);
      // Verification tokens are always bound to an address.
      if (!claimed || claimed.email === null) throw invalidToken();
      const { userId, email } = claimed;
      const state = await this.users.lockForUpdate(userId, tx);
      // Bound to the address, and worth nothing once it is verified: a late click changes nothing.
      if (!state || state.email !== email || state.emailVerified || state.deactivated) throw invalidToken();
      // Thrown inside the transaction: the token's use is rolled back with it.
      if (state.passwordVoided && passwordHash === undefined) throw passwordRequired();
      const verified = await this.users.markEmailVerified(userId, email, passwordHash, tx);
      if (!verified) throw invalidToken();
      await this.voidLinks(userId, tx);
      if (passwordHash === undefined) return { user: verified, revoked: undefined };
      const revokedSessions: RevokedSessions = await this.sessions.revokeAllForUserIn(tx, userId, {
        reason: 'email_verified_with_new_password',
      });
      await this.outbox.queuePasswordChanged(tx, verified.email);
      return { user: verified, revoked: revokedSessions };
    });
    if (revoked) {
      await this.sessions.announceRevoked(revoked);
      await this.lockout.clearFor(user);
      this.outbox.wakeWorker();
    }
    await this.feed.awaitDelivery([`user:${user.id}`]);
    this.events.publish('user.email_verified', { userId: user.id });
    return { user: toPublicUser(user) };
  }

  /** Every outstanding link of the user stops working (verification, reset, change, deactivation). */
  async voidLinks(userId: string, tx?: Tx): Promise<void> {
    await this.tokens.voidAllForUser('email_verification', userId, tx);
  }

  @OnEvent(USER_DEACTIVATED, { promisify: true })
  async onUserDeactivated(event: DomainEvent): Promise<void> {
    if (event.userId) await this.voidLinks(event.userId);
  }

  /** Answers at once, whatever the address; a known, unverified one gets a fresh link. */
  requestResend(email: string): void {
    this.background.run('verification resend', async () => {
      const queued = await this.transactions.run(async (tx) => {
        const user = await this.users.findByEmail(email, tx);
        if (!user || user.emailVerified || user.deactivatedAt) return false;
        const state = await this.users.lockForUpdate(user.id, tx);
        if (!state) return false;
        await this.issue(user, { choosePassword: state.passwordVoided }, tx);
        return true;
      });
      if (queued) this.outbox.wakeWorker();
    });
  }
}
