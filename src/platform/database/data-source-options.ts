import type { DataSourceOptions } from 'typeorm';

import { InitialSchema1763800000000 } from './migrations/1763800000000-initial-schema.js';
import { MailAndRecovery1763900000000 } from './migrations/1763900000000-mail-and-recovery.js';
import { AuditLog1764000000000 } from './migrations/1764000000000-audit-log.js';
import { SigningKeySuperseded1764100000000 } from './migrations/1764100000000-signing-key-superseded.js';
import { LoginAttempts1764200000000 } from './migrations/1764200000000-login-attempts.js';
import { VerificationPendingPassword1764300000000 } from './migrations/1764300000000-verification-pending-password.js';
import { AccountIntegrity1764400000000 } from './migrations/1764400000000-account-integrity.js';
import { SessionAssurance1764500000000 } from './migrations/1764500000000-session-assurance.js';
import { Mfa1764600000000 } from './migrations/1764600000000-mfa.js';
import { UserMfaEnabled1764650000000 } from './migrations/1764650000000-user-mfa-enabled.js';
import { SelfService1764700000000 } from './migrations/1764700000000-self-service.js';

export const MIGRATIONS = [
  InitialSchema1763800000000,
  MailAndRecovery1763900000000,
  AuditLog1764000000000,
  SigningKeySuperseded1764100000000,
  LoginAttempts1764200000000,
  VerificationPendingPassword1764300000000,
  AccountIntegrity1764400000000,
  SessionAssurance1764500000000,
  Mfa1764600000000,
  UserMfaEnabled1764650000000,
  SelfService1764700000000,
];

/**
 * The one set of DataSource options, used by the app and by the TypeORM CLI (ormconfig.ts). The app
 * registers each feature's entities through its module (TypeOrmModule.forFeature, autoLoadEntities);
 * the CLI names them, so that this plumbing imports no feature.
 */
export function dataSourceOptions(
  url: string,
  opts: { poolSize?: number; migrationsRun?: boolean; entities?: DataSourceOptions['entities'] } = {},
): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: opts.entities ?? [],
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    migrationsRun: opts.migrationsRun ?? false,
    synchronize: false,
    // gen_random_uuid() is built in since PostgreSQL 13: no extension to install.
    installExtensions: false,
    // Never 'query' or 'error': TypeORM prints failed queries with their parameters (hashes, tokens).
    logging: ['migration', 'warn'],
    poolSize: opts.poolSize ?? 10,
    extra: {
      // Fail fast while the database is unreachable instead of queueing requests indefinitely.
      connectionTimeoutMillis: 3000,
      // Notice a database host that vanished without closing its connections (a partition, a
      // frozen host) instead of waiting on them for ever.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10000,
      idleTimeoutMillis: 30000,
      application_name: 'gatehouse',
    },
  };
}
