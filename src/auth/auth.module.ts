import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';

import { MailModule } from '../mail/mail.module.js';
import { MfaModule } from '../mfa/mfa.module.js';
import { BackgroundTasks } from '../platform/lifecycle/background-tasks.service.js';
import { ProtectionModule } from '../protection/protection.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { TokensModule } from '../tokens/tokens.module.js';
import { UsersModule } from '../users/users.module.js';
import { AccountTokensRepository, PgAccountTokensRepository } from './account-tokens.repository.js';
import { AuthStateCache } from './auth-state.cache.js';
import { AuthStateService } from './auth-state.service.js';
import { AuthController } from './auth.controller.js';
import { AuthRpcController } from './auth.rpc.controller.js';
import { CredentialsService } from './credentials.service.js';
import { EmailVerificationService } from './email-verification.service.js';
import { AssuranceGuard } from './guards/assurance.guard.js';
import { JwtAuthGuard } from './guards/jwt-auth.guard.js';
import { RolesGuard } from './guards/roles.guard.js';
import { ImpersonationService } from './impersonation.service.js';
import { LoginService } from './login.service.js';
import { MfaSettingsService } from './mfa-settings.service.js';
import { AdminMfaController, MfaController } from './mfa.controller.js';
import { MfaRpcController } from './mfa.rpc.controller.js';
import { PasswordRecoveryService } from './password-recovery.service.js';
import { ReauthenticationService } from './reauthentication.service.js';
import { RegistrationService } from './registration.service.js';
import { SecondFactorService } from './second-factor.service.js';
import { JwtStrategy } from './strategies/jwt.strategy.js';
import { LocalStrategy } from './strategies/local.strategy.js';
import { VerifiedTokensCache } from './verified-tokens.cache.js';

@Module({
  imports: [PassportModule, UsersModule, SessionsModule, TokensModule, ProtectionModule, MailModule, MfaModule],
  controllers: [AuthController, AuthRpcController, MfaController, AdminMfaController, MfaRpcController],
  providers: [
    { provide: AccountTokensRepository, useClass: PgAccountTokensRepository },
    AuthStateCache,
    AuthStateService,
    CredentialsService,
    RegistrationService,
    EmailVerificationService,
    PasswordRecoveryService,
    ImpersonationService,
    BackgroundTasks,
    LoginService,
    ReauthenticationService,
    SecondFactorService,
    MfaSettingsService,
    LocalStrategy,
    JwtStrategy,
    VerifiedTokensCache,
    // In this order: identify the caller, then check its roles, then how (and how lately) it authenticated.
    { provide: APP_GUARD, useClass: JwtAuthGuard },
    { provide: APP_GUARD, useClass: RolesGuard },
    { provide: APP_GUARD, useClass: AssuranceGuard },
  ],
  // The link tokens: a confirmed email change and a deletion void them too.
  exports: [AccountTokensRepository, BackgroundTasks],
})
export class AuthModule {}
