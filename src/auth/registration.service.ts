import { Inject, Injectable } from '@nestjs/common';
import { AppError, ErrorCode } from '../common/app-error.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { PasswordHasher } from '../users/password-hasher.service.js';
import { PublicUser, toPublicUser } from '../users/user.mapper.js';
import { UsersService } from '../users/users.service.js';

export type RegistrationResult = { status: 'verification_sent' } | { user: PublicUser };

@Injectable()
export class RegistrationService {
  constructor(
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * With verification required, a new and an already registered address get the same answer, and
   * both pay for one hash, so the answer reveals nothing about who has an account.
   */
  async register(input: { email: string; password: string; username?: string }): Promise<RegistrationResult> {
    const passwordHash = await this.hasher.hash(input.password);
    if (!this.config.requireEmailVerification) {
      const user = await this.users.create({ email: input.email, username: input.username, passwordHash });
      return { user: toPublicUser(user) };
    }
    const existing = await this.users.findByEmail(input.email);
    if (existing) return { status: 'verification_sent' };
    try {
      await this.users.create({ email: input.email, username: input.username, passwordHash });
    } catch (error) {
      // Lost a race with a sign-up of the same address: answer as for an existing one.
      if (!(error instanceof AppError && error.code === ErrorCode.EMAIL_TAKEN)) throw error;
    }
    return { status: 'verification_sent' };
  }
}
