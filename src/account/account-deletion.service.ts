import { Inject, Injectable } from '@nestjs/common';

import { AccountTokensRepository } from '../auth/account-tokens.repository.js';
import { DomainEvents } from '../events/domain-events.service.js';
import { MailOutbox } from '../mail/mail-outbox.service.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { Transactions } from '../platform/database/transactions.js';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import { RevocationFeed } from '../sessions/revocation-feed.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { AppError, ErrorCode, unauthorized } from '../shared/errors/app-error.js';
import { UsersService } from '../users/users.service.js';
import { AccountErasureJob } from './account-erasure.job.js';
import { EmailChangeTokensRepository } from './email-change-tokens.repository.js';

/**
 * A user deleting their own account. From the request on, the account is deactivated and marked
 * for erasure: every session ends at once (announced, as logout is), every link is void, and login
 * takes the unknown user's path. The data is erased after ACCOUNT_DELETION_GRACE by the erasure job.
 */
@Injectable()
export class AccountDeletionService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly transactions: Transactions,
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly tokens: AccountTokensRepository,
    private readonly changes: EmailChangeTokensRepository,
    private readonly outbox: MailOutbox,
    private readonly feed: RevocationFeed,
    private readonly events: DomainEvents,
    private readonly metrics: MetricsService,
    private readonly erasure: AccountErasureJob,
  ) {}

  async request(auth: AuthContext): Promise<{ eraseAfter: string }> {
    if (auth.isImpersonated) throw new AppError(ErrorCode.FORBIDDEN, 'an impersonated session cannot delete the account');
    const { eraseAfter, revoked } = await this.transactions.run(async (tx) => {
      const user = await this.users.findById(auth.userId, tx);
      if (!user || user.eraseAfter) throw unauthorized('session is no longer valid');
      // Someone must be left to run the service.
      if (user.roles.includes('admin') && (await this.users.countOtherActiveAdmins(user.id, tx)) === 0) {
        throw new AppError(ErrorCode.LAST_ADMIN, 'the last active admin cannot delete the account');
      }
      const scheduled = await this.users.scheduleErasure(user.id, this.config.accountDeletionGrace, tx);
      if (!scheduled) throw unauthorized('session is no longer valid');
      const revokedSessions = await this.sessions.revokeAllForUserIn(tx, user.id, { reason: 'account_deleted' });
      await this.tokens.voidAllForUser('password_reset', user.id, tx);
      await this.tokens.voidAllForUser('email_verification', user.id, tx);
      await this.changes.voidAllForUser(user.id, tx);
      await this.outbox.queueAccountDeletion(tx, user.email, scheduled);
      return { eraseAfter: scheduled, revoked: revokedSessions };
    });
    await this.sessions.announceRevoked(revoked);
    await this.feed.awaitDelivery([`user:${auth.userId}`]);
    this.outbox.wakeWorker();
    this.metrics.accountDeletionRequested();
    this.events.publish('user.deletion_requested', {
      userId: auth.userId,
      sessionId: auth.sessionId,
      details: { eraseAfter: eraseAfter.toISOString() },
    });
    if (this.config.accountDeletionGrace === 0) this.erasure.wake();
    return { eraseAfter: eraseAfter.toISOString() };
  }
}
