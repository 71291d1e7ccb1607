import { Module } from '@nestjs/common';

import { AuthModule } from '../auth/auth.module.js';
import { MailModule } from '../mail/mail.module.js';
import { ProtectionModule } from '../protection/protection.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { UsersModule } from '../users/users.module.js';
import { AccountDataRepository } from './account-data.repository.js';
import { AccountDeletionService } from './account-deletion.service.js';
import { AccountErasureJob } from './account-erasure.job.js';
import { AccountExportService } from './account-export.service.js';
import { AccountController } from './account.controller.js';
import { AccountRpcController } from './account.rpc.controller.js';
import { EmailChangeTokensRepository } from './email-change-tokens.repository.js';
import { EmailChangeService } from './email-change.service.js';

/** Self-service: the caller's profile, email change, data export and deletion (with the erasure job). */
@Module({
  imports: [UsersModule, SessionsModule, MailModule, ProtectionModule, AuthModule],
  controllers: [AccountController, AccountRpcController],
  providers: [
    AccountDataRepository,
    EmailChangeTokensRepository,
    EmailChangeService,
    AccountExportService,
    AccountDeletionService,
    AccountErasureJob,
  ],
})
export class AccountModule {}
