import { Inject, Injectable } from '@nestjs/common';

import { DomainEvents } from '../events/domain-events.service.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { Transactions } from '../platform/database/transactions.js';
import { loginFailureReason, MetricsService } from '../platform/observability/metrics/metrics.service.js';
import { LockoutService } from '../protection/lockout.service.js';
import type { ConnectionInfo } from '../shared/connection.js';
import { AppError, ErrorCode, invalidCredentials } from '../shared/errors/app-error.js';
import { PasswordHasher } from '../users/password-hasher.service.js';
import type { UserEntity } from '../users/user.entity.js';
import { UsersService } from '../users/users.service.js';

/** A user who proved the password; the hash checked is kept for the session insert's guard. */
export interface VerifiedUser {
  user: Omit<UserEntity, 'passwordHash'>;
  checkedPasswordHash: string;
}

export interface PasswordLogin {
  email?: string;
  username?: string;
  password: string;
}

/** Checks a login's password. Unknown user and wrong password are one answer at one cost. */
@Injectable()
export class CredentialsService {
  constructor(
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly events: DomainEvents,
    private readonly lockout: LockoutService,
    private readonly transactions: Transactions,
    private readonly metrics: MetricsService,
  ) {}

  async verify(login: PasswordLogin, connection?: ConnectionInfo): Promise<VerifiedUser> {
    try {
      return await this.check(login, connection);
    } catch (error) {
      this.metrics.loginFailed(loginFailureReason(error));
      throw error;
    }
  }

  private async check(login: PasswordLogin, connection?: ConnectionInfo): Promise<VerifiedUser> {
    const user = await this.users.findByLoginWithPassword(login);
    // Counted before any hashing: a locked account costs nothing, whatever password is tried.
    const attempt = await this.lockout.begin(this.lockout.loginCounters(login, user ?? undefined));
    // With no user, a dummy hash is verified so the miss takes as long as a wrong password.
    const { ok, needsRehash } = await this.hasher.check(user?.passwordHash, login.password);
    if (!user || !ok || !user.passwordHash) {
      await this.lockout.failed(attempt);
      this.events.publish('user.login_failed', {
        userId: user?.id ?? null,
        ip: connection?.ip ?? null,
        userAgent: connection?.userAgent ?? null,
      });
      throw invalidCredentials();
    }
    await this.lockout.clearFor(user);
    // Account state is revealed only to whoever proved the password.
    if (user.deactivatedAt) throw new AppError(ErrorCode.USER_DEACTIVATED, 'this account is deactivated');
    if (this.config.requireEmailVerification && !user.emailVerified) {
      throw new AppError(ErrorCode.EMAIL_NOT_VERIFIED, 'the email address is not verified');
    }
    const { passwordHash: _hash, ...rest } = user;
    const checkedPasswordHash = needsRehash ? await this.upgradeHash(user.id, user.passwordHash, login.password) : user.passwordHash;
    // The hash leaves this service only as the session insert's guard, never on the user object.
    return { user: rest, checkedPasswordHash };
  }

  /**
   * Checks the password of a signed-in caller proving it again (password change, re-authentication).
   * Guessing it with a stolen access token meets the account lockout too; a wrong and a voided
   * password (contested sign-up) are one answer at one cost.
   */
  async confirmPassword(userId: string, password: string): Promise<{ user: UserEntity; checkedPasswordHash: string }> {
    const user = await this.users.findByIdWithPassword(userId);
    if (!user) throw invalidCredentials();
    const attempt = await this.lockout.begin(this.lockout.changeCounters(user.id));
    const { ok } = await this.hasher.check(user.passwordHash, password);
    if (!ok || !user.passwordHash) {
      await this.lockout.failed(attempt);
      throw invalidCredentials();
    }
    await this.lockout.clearFor(user);
    return { user, checkedPasswordHash: user.passwordHash };
  }

  /** A legacy (bcrypt) or weaker argon2 hash is replaced by argon2id on a successful login. */
  private async upgradeHash(userId: string, oldHash: string, password: string): Promise<string> {
    const newHash = await this.hasher.hash(password);
    const replaced = await this.transactions.run((tx) => this.users.updatePasswordHash(userId, newHash, oldHash, tx));
    return replaced ? newHash : oldHash;
  }
}
