import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppError, ErrorCode } from '../common/app-error.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { PasswordHasher } from './password-hasher.service.js';
import { UsersService } from './users.service.js';

/**
 * Makes sure the configured admin exists at every start: created with role admin and a verified
 * address if missing; an existing account gets the admin role and a verified address, and keeps its
 * password (change it through the API).
 */
@Injectable()
export class BootstrapAdmin implements OnApplicationBootstrap {
  private readonly logger = new Logger(BootstrapAdmin.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const admin = this.config.bootstrapAdmin;
    if (!admin) return;
    let existing = await this.users.findByEmail(admin.email);
    if (!existing) {
      try {
        await this.users.create({ email: admin.email, passwordHash: await this.hasher.hash(admin.password), emailVerified: true, roles: ['user', 'admin'] });
        this.logger.log(`created the bootstrap admin ${admin.email}`);
        return;
      } catch (error) {
        // Another instance created it first.
        if (!(error instanceof AppError && error.code === ErrorCode.EMAIL_TAKEN)) throw error;
        existing = await this.users.findByEmail(admin.email);
      }
    }
    if (existing && (!existing.roles.includes('admin') || !existing.emailVerified)) {
      await this.users.ensureAdmin(existing.id);
      this.logger.log(`gave the bootstrap admin ${admin.email} the admin role and a verified address`);
    }
  }
}
