import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';

import { AccountModule } from './account/account.module.js';
import { AuditModule } from './audit/audit.module.js';
import { AuthModule } from './auth/auth.module.js';
import { EventsModule } from './events/events.module.js';
import { loadConfig } from './platform/config/app-config.js';
import { ConfigModule } from './platform/config/config.module.js';
import { GATEHOUSE_OPTIONS, type GatehouseOptions } from './platform/config/gatehouse-options.js';
import { DatabaseModule } from './platform/database/database.module.js';
import { AllErrorsFilter } from './platform/http/exception-filters.js';
import { HealthModule } from './platform/observability/health/health.module.js';
import { LoggingModule } from './platform/observability/logging/logging.module.js';
import { MetricsModule } from './platform/observability/metrics/metrics.module.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { createValidationPipe } from './shared/validation/validation.js';
import { UsersModule } from './users/users.module.js';

/** The whole service as one module; main.ts wraps it, and an app needing hooks imports it itself. */
@Module({})
export class GatehouseModule {
  static forRoot(options: GatehouseOptions = {}): DynamicModule {
    const config = options.config ?? loadConfig();
    return {
      module: GatehouseModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule,
        EventEmitterModule.forRoot(),
        EventsModule,
        DatabaseModule,
        MetricsModule,
        UsersModule,
        SessionsModule,
        AuthModule,
        AccountModule,
        HealthModule,
        AuditModule,
      ],
      providers: [
        { provide: GATEHOUSE_OPTIONS, useValue: options },
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useClass: AllErrorsFilter },
      ],
      exports: [GATEHOUSE_OPTIONS],
      global: true,
    };
  }
}
