import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';

import { DomainEvents } from '../events/domain-events.service.js';
import { USER_CREDENTIALS_RESET } from '../events/events.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { DatabaseConnection } from '../platform/database/database-connection.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { PasswordHasher } from './password-hasher.service.js';
import { UsersService } from './users.service.js';

/**
 * Makes sure the configured admin exists at every start: created with role admin and a verified
 * address if missing. An existing *verified* account (its owner proved the mailbox) gets the admin
 * role and keeps its password. An existing *unverified* account proves nothing about who created it,
 * so it gets the configured password and loses its sessions before it is made admin: nobody can
 * squat the address in advance and inherit the admin role. With the database unreachable at start,
 * this happens once it is connected.
 */
@Injectable()
export class BootstrapAdmin implements OnApplicationBootstrap {
  private readonly logger = new Logger(BootstrapAdmin.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly events: EventEmitter2,
    private readonly database: DatabaseConnection,
    private readonly domainEvents: DomainEvents,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const admin = this.config.bootstrapAdmin;
    if (!admin) return;
    await this.database.whenConnected('creating the bootstrap admin', () => this.ensure(admin));
  }

  private async ensure(admin: NonNullable<AppConfig['bootstrapAdmin']>): Promise<void> {
    let existing = await this.users.findByEmail(admin.email);
    if (!existing) {
      try {
        const created = await this.users.create({
          email: admin.email,
          passwordHash: await this.hasher.hash(admin.password),
          emailVerified: true,
          roles: ['user', 'admin'],
        });
        this.domainEvents.publish('user.roles_changed', {
          userId: created.id,
          details: { roles: created.roles, reason: 'bootstrap_admin' },
        });
        this.logger.log(`created the bootstrap admin ${admin.email}`);
        return;
      } catch (error) {
        // Another instance created it first.
        if (!(error instanceof AppError && error.code === ErrorCode.EMAIL_TAKEN)) throw error;
        existing = await this.users.findByEmail(admin.email);
      }
    }
    if (!existing) return;
    if (!existing.emailVerified) {
      await this.users.ensureAdmin(existing.id, await this.hasher.hash(admin.password));
      await this.events.emitAsync(USER_CREDENTIALS_RESET, { userId: existing.id });
      this.logger.warn(
        `the bootstrap admin address ${admin.email} had an unverified account: it now has the configured password and its sessions were revoked`,
      );
    } else if (!existing.roles.includes('admin')) {
      await this.users.ensureAdmin(existing.id);
      this.logger.log(`gave the bootstrap admin ${admin.email} the admin role`);
    }
  }
}
