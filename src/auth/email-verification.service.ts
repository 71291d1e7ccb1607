import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../common/app-error.js';
import { BackgroundTasks } from '../common/background-tasks.service.js';
import { DomainEvents } from '../common/domain-events.service.js';
import { generateOpaqueToken, sha256Hex } from '../common/crypto.js';
import { updateReturning } from '../common/sql.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { MailOutbox } from '../mail/mail-outbox.service.js';
import { RevocationFeed } from '../sessions/revocation-feed.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { PublicUser, toPublicUser } from '../users/user.mapper.js';
import type { UserEntity } from '../users/user.entity.js';
import { UsersService } from '../users/users.service.js';

export const invalidToken = (): AppError => new AppError(ErrorCode.INVALID_TOKEN, 'invalid or expired token');

/** Proves an address: single-use tokens bound to user and address, stored hashed, mailed as links. */
@Injectable()
export class EmailVerificationService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly outbox: MailOutbox,
    private readonly feed: RevocationFeed,
    private readonly background: BackgroundTasks,
    private readonly events: DomainEvents,
    private readonly sessions: SessionsService,
  ) {}

  /**
   * Issues a token and queues its mail in the caller's transaction, unless the address is throttled.
   * With `pendingPasswordHash` (a sign-up for an address whose account is unverified), verifying the
   * token also sets that password: the account goes to whoever proves the mailbox.
   */
  async issue(em: EntityManager, user: Pick<UserEntity, 'id' | 'email'>, pendingPasswordHash?: string): Promise<void> {
    if (!(await this.outbox.mayQueue(em, user.email, 'verify_email'))) return;
    const token = generateOpaqueToken();
    await em.query(
      `INSERT INTO email_verification_tokens (token_hash, user_id, email, expires_at, password_hash)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5)`,
      [sha256Hex(token), user.id, user.email, this.config.tokens.emailVerificationTtl, pendingPasswordHash ?? null],
    );
    await this.outbox.queueVerifyEmail(em, user.email, token);
  }

  async verify(token: string): Promise<{ user: PublicUser }> {
    const { user, revoked } = await this.dataSource.transaction(async (em) => {
      const used = await updateReturning<{ user_id: string; email: string; password_hash: string | null }>(em,
        `UPDATE email_verification_tokens SET used_at = now()
          WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
          RETURNING user_id, email, password_hash`,
        [sha256Hex(token)],
      );
      const row = used[0];
      if (!row) throw invalidToken();
      // Bound to the address: a token for an address the user no longer has proves nothing.
      const verified = await this.users.markEmailVerified(em, row.user_id, row.email);
      if (!verified) throw invalidToken();
      if (!row.password_hash) return { user: verified, revoked: undefined };
      // The mailbox owner signed up with this password: it replaces whatever the unverified account had.
      await this.users.updatePasswordHash(em, row.user_id, row.password_hash);
      return { user: verified, revoked: await this.sessions.revokeAllForUserIn(em, row.user_id, { reason: 'email_verified_with_new_password' }) };
    });
    if (revoked) await this.sessions.announceRevoked(revoked);
    await this.feed.awaitDelivery([`user:${user.id}`]);
    this.events.publish('user.email_verified', { userId: user.id });
    return { user: toPublicUser(user) };
  }

  /** Answers at once, whatever the address; a known, unverified one gets a fresh link. */
  requestResend(email: string): void {
    this.background.run('verification resend', async () => {
      const queued = await this.dataSource.transaction(async (em) => {
        const user = await this.users.findByEmail(email, em);
        if (!user || user.emailVerified || user.deactivatedAt) return false;
        await this.issue(em, user);
        return true;
      });
      if (queued) this.outbox.wakeWorker();
    });
  }
}
