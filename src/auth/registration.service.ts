import { Inject, Injectable } from '@nestjs/common';

import { DomainEvents } from '../events/domain-events.service.js';
import { MailOutbox } from '../mail/mail-outbox.service.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { Transactions, type Tx } from '../platform/database/transactions.js';
import { SessionsService, type RevokedSessions } from '../sessions/sessions.service.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { normalizeEmail, normalizeUsername } from '../shared/validation/normalize.js';
import { PasswordHasher } from '../users/password-hasher.service.js';
import { assertNotSimilarToIdentity } from '../users/password-policy.js';
import { PublicUser, toPublicUser } from '../users/user.mapper.js';
import { UsersService } from '../users/users.service.js';
import { EmailVerificationService } from './email-verification.service.js';

export type RegistrationResult = { status: 'verification_sent' } | { user: PublicUser };

interface SignUp {
  email: string;
  password: string;
  username?: string;
}

@Injectable()
export class RegistrationService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly transactions: Transactions,
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly verification: EmailVerificationService,
    private readonly outbox: MailOutbox,
    private readonly events: DomainEvents,
    private readonly sessions: SessionsService,
  ) {}

  /**
   * Creates the user and queues the verification mail in one transaction. With verification
   * required, every address and username gets the same answer after one hash; what the sign-up
   * found (a known address, a taken username) is told only to the mailbox.
   */
  async register(input: SignUp): Promise<RegistrationResult> {
    assertNotSimilarToIdentity(input.password, input);
    const passwordHash = await this.hasher.hash(input.password);
    if (!this.config.requireEmailVerification) {
      const user = await this.transactions.run(async (tx) => {
        const created = await this.users.create({ email: input.email, username: input.username, passwordHash }, tx);
        // The address can still be verified later.
        await this.verification.issue(created, {}, tx);
        return created;
      });
      this.outbox.wakeWorker();
      this.events.publish('user.registered', { userId: user.id });
      return { user: toPublicUser(user) };
    }
    let outcome: Unproven;
    // A sign-up racing another for the same address or username loses on a unique index; the retry
    // sees the winner's committed row and is answered as for a known address or a taken name.
    for (let attempt = 1; ; attempt += 1) {
      try {
        outcome = await this.transactions.run((tx) => this.registerUnproven(input, passwordHash, tx));
        break;
      } catch (error) {
        const lostRace = error instanceof AppError && (error.code === ErrorCode.EMAIL_TAKEN || error.code === ErrorCode.USERNAME_TAKEN);
        if (!lostRace || attempt > 1) throw error;
      }
    }
    if (outcome.revoked) await this.sessions.announceRevoked(outcome.revoked);
    this.outbox.wakeWorker();
    if (outcome.createdId) this.events.publish('user.registered', { userId: outcome.createdId });
    return { status: 'verification_sent' };
  }

  private async registerUnproven(input: SignUp, passwordHash: string, tx: Tx): Promise<Unproven> {
    const email = normalizeEmail(input.email);
    const existing = await this.users.findByEmail(email, tx);
    if (!existing) {
      if (input.username !== undefined && (await this.users.findByUsername(input.username, tx))) {
        if (await this.outbox.mayQueue(tx, email, 'username_taken'))
          await this.outbox.queueUsernameTaken(tx, email, normalizeUsername(input.username));
        return {};
      }
      const created = await this.users.create({ email, username: input.username, passwordHash }, tx);
      await this.verification.issue(created, {}, tx);
      return { createdId: created.id };
    }
    if (existing.deactivatedAt) return {};
    if (existing.emailVerified) {
      if (await this.outbox.mayQueue(tx, email, 'account_exists')) await this.outbox.queueAccountExists(tx, email);
      return {};
    }
    // Contested: a second sign-up for an unproven address. Neither claimant's password stands: the
    // account has none until whoever proves the mailbox chooses one through the link.
    await this.users.voidUnverifiedClaims(existing.id, tx);
    const revoked = await this.sessions.revokeAllForUserIn(tx, existing.id, { reason: 'contested_sign_up' });
    await this.verification.issue(existing, { choosePassword: true }, tx);
    return { revoked };
  }
}

/** What a sign-up with verification on did: a new account, or sessions ended by a contest. */
interface Unproven {
  createdId?: string;
  revoked?: RevokedSessions;
}
