import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppError, ErrorCode } from '../common/app-error.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DomainEvents } from '../common/domain-events.service.js';
import { MailOutbox } from '../mail/mail-outbox.service.js';
import { PasswordHasher } from '../users/password-hasher.service.js';
import { assertNotSimilarToIdentity } from '../users/password-policy.js';
import { normalizeEmail } from '../users/normalize.js';
import { PublicUser, toPublicUser } from '../users/user.mapper.js';
import { UsersService } from '../users/users.service.js';
import { EmailVerificationService } from './email-verification.service.js';

export type RegistrationResult = { status: 'verification_sent' } | { user: PublicUser };

@Injectable()
export class RegistrationService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly verification: EmailVerificationService,
    private readonly outbox: MailOutbox,
    private readonly events: DomainEvents,
  ) {}

  /**
   * Creates the user and queues the verification mail in one transaction. With verification
   * required, a new and an already registered address get the same answer and both pay for one
   * hash: the owner of an existing address gets a fresh link (unverified) or an "account exists"
   * mail (verified), and nothing about the account changes.
   */
  async register(input: { email: string; password: string; username?: string }): Promise<RegistrationResult> {
    assertNotSimilarToIdentity(input.password, input);
    const passwordHash = await this.hasher.hash(input.password);
    const newUser = { email: input.email, username: input.username, passwordHash };
    if (!this.config.requireEmailVerification) {
      const user = await this.dataSource.transaction(async (em) => {
        const created = await this.users.create(newUser, em);
        // The address can still be verified later.
        await this.verification.issue(em, created);
        return created;
      });
      this.outbox.wakeWorker();
      this.events.publish('user.registered', { userId: user.id });
      return { user: toPublicUser(user) };
    }
    let createdId: string | undefined;
    try {
      await this.dataSource.transaction(async (em) => {
        // A taken username is refused alike whether the address is new or known, so the answer
        // tells nothing about the address.
        if (input.username !== undefined) {
          const holder = await this.users.findByUsername(input.username, em);
          if (holder && holder.email !== normalizeEmail(input.email)) throw new AppError(ErrorCode.USERNAME_TAKEN, 'username is taken');
        }
        const existing = await this.users.findByEmail(input.email, em);
        if (!existing) {
          const created = await this.users.create(newUser, em);
          await this.verification.issue(em, created);
          createdId = created.id;
        } else if (existing.deactivatedAt) {
          // Nothing to offer a deactivated account.
        } else if (!existing.emailVerified) {
          // Unproven: the fresh link carries this sign-up's password (see EmailVerificationService.issue).
          await this.verification.issue(em, existing, passwordHash);
        } else if (await this.outbox.mayQueue(em, existing.email, 'account_exists')) {
          await this.outbox.queueAccountExists(em, existing.email);
        }
      });
    } catch (error) {
      // Lost a race with a sign-up of the same address: answer as for an existing one.
      if (!(error instanceof AppError && error.code === ErrorCode.EMAIL_TAKEN)) throw error;
    }
    this.outbox.wakeWorker();
    if (createdId) this.events.publish('user.registered', { userId: createdId });
    return { status: 'verification_sent' };
  }
}
