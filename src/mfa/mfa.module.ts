import { Module } from '@nestjs/common';

import { UsersModule } from '../users/users.module.js';
import { MfaChallengesRepository, PgMfaChallengesRepository } from './mfa-challenges.repository.js';
import { MfaChallengesService } from './mfa-challenges.service.js';
import { MfaEncryptionKeysRepository, PgMfaEncryptionKeysRepository } from './mfa-encryption-keys.repository.js';
import { MfaEncryption } from './mfa-encryption.service.js';
import { MfaLockoutRepository, PgMfaLockoutRepository } from './mfa-lockout.repository.js';
import { MfaLockoutService } from './mfa-lockout.service.js';
import { PgRecoveryCodesRepository, RecoveryCodesRepository } from './recovery-codes.repository.js';
import { RecoveryCodesService } from './recovery-codes.service.js';
import { PgTotpRepository, TotpRepository } from './totp.repository.js';
import { TotpService } from './totp.service.js';

/**
 * Second factors below the transports: TOTP, recovery codes, the challenge between factors, and the
 * second-factor lockout. The login gate and the routes that use them live in auth.
 */
@Module({
  imports: [UsersModule],
  providers: [
    MfaEncryption,
    TotpService,
    RecoveryCodesService,
    MfaChallengesService,
    MfaLockoutService,
    { provide: MfaEncryptionKeysRepository, useClass: PgMfaEncryptionKeysRepository },
    { provide: TotpRepository, useClass: PgTotpRepository },
    { provide: RecoveryCodesRepository, useClass: PgRecoveryCodesRepository },
    { provide: MfaChallengesRepository, useClass: PgMfaChallengesRepository },
    { provide: MfaLockoutRepository, useClass: PgMfaLockoutRepository },
  ],
  exports: [TotpService, RecoveryCodesService, MfaChallengesService, MfaLockoutService],
})
export class MfaModule {}
