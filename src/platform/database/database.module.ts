import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from './data-source-options.js';
import { DatabaseConnection } from './database-connection.js';
import { DatabaseReadyGuard } from './database-ready.guard.js';
import { Transactions } from './transactions.js';
import { TypeOrmLogger } from './typeorm-logger.js';

/** Available to every module: services defer their start-up work on it, health and errors read its state. */
@Global()
@Module({ providers: [DatabaseConnection], exports: [DatabaseConnection] })
class DatabaseConnectionModule {}

/** Available to every module: repositories and the services that draw transaction boundaries. */
@Global()
@Module({ providers: [Transactions], exports: [Transactions] })
class TransactionsModule {}

const DATABASE_OPENED = Symbol('DATABASE_OPENED');

@Module({
  imports: [
    DatabaseConnectionModule,
    TransactionsModule,
    TypeOrmModule.forRootAsync({
      imports: [DatabaseConnectionModule],
      inject: [APP_CONFIG, DatabaseConnection],
      useFactory: async (config: AppConfig, connection: DatabaseConnection) => ({
        ...dataSourceOptions(await connection.url(), {
          poolSize: config.database.poolSize,
          migrationsRun: config.database.migrationsRun,
        }),
        // Each feature module registers its own entities (TypeOrmModule.forFeature).
        autoLoadEntities: true,
        logger: new TypeOrmLogger(),
        retryAttempts: 0,
        // DatabaseConnection connects it (below), and may have to keep trying after the start.
        manualInitialization: true,
      }),
    }),
  ],
  providers: [
    {
      // Resolved while the providers are built, so before any onModuleInit hook runs.
      provide: DATABASE_OPENED,
      inject: [getDataSourceToken(), DatabaseConnection],
      useFactory: (dataSource: DataSource, connection: DatabaseConnection) => connection.open(dataSource),
    },
    // Ahead of AuthModule's guards (this module is imported first): nothing is looked up until ready.
    { provide: APP_GUARD, useClass: DatabaseReadyGuard },
  ],
})
export class DatabaseModule {}
