import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SessionsModule } from '../sessions/sessions.module.js';
import { UsersModule } from '../users/users.module.js';
import { AccessTokensService } from './access-tokens.service.js';
import { AuthController } from './auth.controller.js';
import { AuthRpcController } from './auth.rpc.controller.js';
import { AuthStateCache } from './auth-state.cache.js';
import { AuthStateService } from './auth-state.service.js';
import { CredentialsService } from './credentials.service.js';
import { JwtAuthGuard } from './guards/jwt-auth.guard.js';
import { RolesGuard } from './guards/roles.guard.js';
import { JwksController } from './jwks.controller.js';
import { LockoutService } from './lockout.service.js';
import { RateLimiter } from './rate-limiter.service.js';
import { LoginService } from './login.service.js';
import { RegistrationService } from './registration.service.js';
import { EmailVerificationService } from './email-verification.service.js';
import { ImpersonationService } from './impersonation.service.js';
import { PasswordRecoveryService } from './password-recovery.service.js';
import { MailModule } from '../mail/mail.module.js';
import { BackgroundTasks } from '../common/background-tasks.service.js';
import { SigningKeyEntity } from './signing-key.entity.js';
import { SigningKeysService } from './signing-keys.service.js';
import { JwtStrategy } from './strategies/jwt.strategy.js';
import { VerifiedTokensCache } from './verified-tokens.cache.js';
import { LocalStrategy } from './strategies/local.strategy.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([SigningKeyEntity]),
    PassportModule,
    // Keys are passed per call (KeyObjects from SigningKeysService), never configured globally.
    JwtModule.register({}),
    UsersModule,
    SessionsModule,
    MailModule,
  ],
  controllers: [AuthController, AuthRpcController, JwksController],
  providers: [
    SigningKeysService,
    AccessTokensService,
    AuthStateCache,
    AuthStateService,
    CredentialsService,
    RegistrationService,
    EmailVerificationService,
    PasswordRecoveryService,
    ImpersonationService,
    BackgroundTasks,
    LoginService,
    LockoutService,
    RateLimiter,
    LocalStrategy,
    JwtStrategy,
    VerifiedTokensCache,
    // In this order: identify the caller, then check its roles.
    { provide: APP_GUARD, useClass: JwtAuthGuard },
    { provide: APP_GUARD, useClass: RolesGuard },
  ],
})
export class AuthModule {}
