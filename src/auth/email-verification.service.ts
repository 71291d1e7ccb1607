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
  ) {}

  /** Issues a token and queues its mail in the caller's transaction, unless the address is throttled. */
  async issue(em: EntityManager, user: Pick<UserEntity, 'id' | 'email'>): Promise<void> {
    if (!(await this.outbox.mayQueue(em, user.email, 'verify_email'))) return;
    const token = generateOpaqueToken();
    await em.query(
      `INSERT INTO email_verification_tokens (token_hash, user_id, email, expires_at)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4))`,
      [sha256Hex(token), user.id, user.email, this.config.tokens.emailVerificationTtl],
    );
    await this.outbox.queueVerifyEmail(em, user.email, token);
  }

  async verify(token: string): Promise<{ user: PublicUser }> {
    const user = await this.dataSource.transaction(async (em) => {
      const used = await updateReturning<{ user_id: string; email: string }>(em,
        `UPDATE email_verification_tokens SET used_at = now()
          WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
          RETURNING user_id, email`,
        [sha256Hex(token)],
      );
      const row = used[0];
      if (!row) throw invalidToken();
      // Bound to the address: a token for an address the user no longer has proves nothing.
      const verified = await this.users.markEmailVerified(em, row.user_id, row.email);
      if (!verified) throw invalidToken();
      return verified;
    });
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
