import { Inject, Injectable } from '@nestjs/common';

import { AccountTokensRepository } from '../auth/account-tokens.repository.js';
import { DomainEvents } from '../events/domain-events.service.js';
import { MailOutbox } from '../mail/mail-outbox.service.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { Transactions } from '../platform/database/transactions.js';
import { BackgroundTasks } from '../platform/lifecycle/background-tasks.service.js';
import { RevocationFeed } from '../sessions/revocation-feed.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { generateOpaqueToken } from '../shared/crypto.js';
import { AppError, ErrorCode, validationFailed } from '../shared/errors/app-error.js';
import { normalizeEmail } from '../shared/validation/normalize.js';
import { PublicUser, toPublicUser } from '../users/user.mapper.js';
import { UsersService } from '../users/users.service.js';
import { EmailChangeTokensRepository } from './email-change-tokens.repository.js';

const invalidToken = (): AppError => new AppError(ErrorCode.INVALID_TOKEN, 'invalid or expired token');

/**
 * Moving an account to a new address. The request is answered at once and alike whatever the new
 * address is: the work (and so its timing) happens after the answer. The old address stays the
 * login until the new mailbox confirms through its link.
 */
@Injectable()
export class EmailChangeService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly transactions: Transactions,
    private readonly changes: EmailChangeTokensRepository,
    private readonly tokens: AccountTokensRepository,
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly outbox: MailOutbox,
    private readonly feed: RevocationFeed,
    private readonly background: BackgroundTasks,
    private readonly events: DomainEvents,
  ) {}

  /**
   * The old address is told in every case. A free new address gets a confirmation link (a newer
   * request voids older links); an address held by another account gets, instead, a mail telling its
   * owner that someone tried to use it. Nothing in the answer says which.
   */
  request(auth: AuthContext, newEmail: string): void {
    if (auth.isImpersonated) throw new AppError(ErrorCode.FORBIDDEN, 'an impersonated session cannot change the email address');
    const email = normalizeEmail(newEmail);
    if (email === auth.user.email) {
      throw validationFailed('validation failed', [{ field: 'newEmail', messages: ['newEmail is already the address of this account'] }]);
    }
    this.background.run('email change request', async () => {
      const queued = await this.transactions.run(async (tx) => {
        const user = await this.users.findById(auth.userId, tx);
        if (!user || user.deactivatedAt || user.eraseAfter) return false;
        if (await this.outbox.mayQueue(tx, user.email, 'email_change_requested')) {
          await this.outbox.queueEmailChangeRequested(tx, user.email, email);
        }
        const owner = await this.users.findByEmail(email, tx);
        if (owner) {
          if (!owner.eraseAfter && (await this.outbox.mayQueue(tx, owner.email, 'email_in_use')))
            await this.outbox.queueEmailInUse(tx, owner.email);
          return true;
        }
        if (!(await this.outbox.mayQueue(tx, email, 'email_change'))) return true;
        await this.changes.voidAllForUser(user.id, tx);
        const token = generateOpaqueToken();
        await this.changes.issue(
          token,
          { userId: user.id, email, sessionId: auth.sessionId, ttlSeconds: this.config.tokens.emailVerificationTtl },
          tx,
        );
        await this.outbox.queueEmailChange(tx, email, token);
        return true;
      });
      if (queued) this.outbox.wakeWorker();
    });
    this.events.publish('user.email_change_requested', { userId: auth.userId, sessionId: auth.sessionId });
  }

  /**
   * Makes the link's address the login, verified. Every session of the user ends but the one that
   * asked for the change; outstanding reset, verification and change links are void. An address
   * taken by another account since the request answers EMAIL_TAKEN (the unique index decides).
   */
  async confirm(token: string): Promise<{ user: PublicUser }> {
    const { user, revoked } = await this.transactions.run(async (tx) => {
      const claimed = await this.changes.claim(token, tx);
      if (!claimed) throw invalidToken();
      // Thrown inside the transaction: the token's use is rolled back with it.
      if (!(await this.users.changeEmail(claimed.userId, claimed.email, tx))) throw invalidToken();
      await this.tokens.voidAllForUser('password_reset', claimed.userId, tx);
      await this.tokens.voidAllForUser('email_verification', claimed.userId, tx);
      await this.changes.voidAllForUser(claimed.userId, tx);
      const revokedSessions = await this.sessions.revokeAllForUserIn(tx, claimed.userId, {
        exceptSessionId: claimed.sessionId ?? undefined,
        reason: 'email_changed',
      });
      const changed = await this.users.findById(claimed.userId, tx);
      if (!changed) throw invalidToken();
      return { user: changed, revoked: revokedSessions };
    });
    await this.sessions.announceRevoked(revoked);
    await this.feed.awaitDelivery([`user:${user.id}`]);
    this.events.publish('user.updated', { userId: user.id, details: { fields: ['email'] } });
    return { user: toPublicUser(user) };
  }
}
