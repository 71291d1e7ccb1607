import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { PublicUser } from '../users/user.mapper.js';
import type { AuthContext } from './auth-context.js';
import { CurrentAuth } from './current-auth.decorator.js';
import { Public, Roles } from './decorators.js';
import {
  AccessTokenDto, EmailDto, RpcImpersonateDto, LoginWithUserDto, RegisterDto, ResetPasswordDto, RpcChangePasswordDto, RpcLoginDto, RpcRefreshDto, TokenDto,
} from './dto/auth.dto.js';
import { EmailVerificationService } from './email-verification.service.js';
import { ImpersonationService } from './impersonation.service.js';
import { PasswordRecoveryService } from './password-recovery.service.js';
import { LoginResult, LoginService } from './login.service.js';
import { RegistrationResult, RegistrationService } from './registration.service.js';

/** The auth message patterns: the same services as the REST controller, for sibling services. */
@Controller()
export class AuthRpcController {
  constructor(
    private readonly registration: RegistrationService,
    private readonly login: LoginService,
    private readonly verification: EmailVerificationService,
    private readonly recovery: PasswordRecoveryService,
    private readonly impersonation: ImpersonationService,
  ) {}

  @Public()
  @MessagePattern('auth.register')
  register(@Payload() dto: RegisterDto): Promise<RegistrationResult> {
    return this.registration.register(dto);
  }

  @Public()
  @MessagePattern('auth.login')
  signIn(@Payload() dto: RpcLoginDto): Promise<LoginResult> {
    return this.login.loginWithPassword(dto, dto.connection);
  }

  @Public()
  @MessagePattern('auth.refresh')
  refresh(@Payload() dto: RpcRefreshDto): Promise<LoginResult> {
    return this.login.refresh(dto.refreshToken, dto.connection);
  }

  /** Guarded: the payload's accessToken is verified exactly as a bearer header over REST. */
  @MessagePattern('auth.logout')
  async logout(@Payload() _dto: AccessTokenDto, @CurrentAuth() auth: AuthContext): Promise<{ revoked: true }> {
    await this.login.logout(auth);
    return { revoked: true };
  }

  @MessagePattern('auth.verify')
  verify(@Payload() _dto: AccessTokenDto, @CurrentAuth() auth: AuthContext): Omit<AuthContext, 'impersonatorId'> {
    const { userId, sessionId, roles, isImpersonated, claims, user } = auth;
    return { userId, sessionId, roles, isImpersonated, claims, user };
  }

  /** Trusted callers only: opens a session without a password. */
  @Public()
  @MessagePattern('auth.loginWithUser')
  loginWithUser(@Payload() dto: LoginWithUserDto): Promise<LoginResult> {
    return this.login.loginWithUser(dto.userId, dto.connection);
  }

  @Public()
  @MessagePattern('auth.email.verify')
  verifyEmail(@Payload() dto: TokenDto): Promise<{ user: PublicUser }> {
    return this.verification.verify(dto.token);
  }

  @Public()
  @MessagePattern('auth.email.resend')
  resendVerification(@Payload() dto: EmailDto): { accepted: true } {
    this.verification.requestResend(dto.email);
    return { accepted: true };
  }

  @Public()
  @MessagePattern('auth.password.forgot')
  forgotPassword(@Payload() dto: EmailDto): { accepted: true } {
    this.recovery.requestReset(dto.email);
    return { accepted: true };
  }

  @Public()
  @MessagePattern('auth.password.reset')
  async resetPassword(@Payload() dto: ResetPasswordDto): Promise<{ reset: true }> {
    await this.recovery.reset(dto.token, dto.password);
    return { reset: true };
  }

  /** Guarded and admin only: the payload's accessToken must be an admin's. */
  @Roles('admin')
  @MessagePattern('auth.impersonate')
  impersonate(@Payload() dto: RpcImpersonateDto, @CurrentAuth() auth: AuthContext): Promise<LoginResult> {
    return this.impersonation.impersonate(auth, dto.userId);
  }

  /** Guarded: the payload's accessToken names the caller, as over REST. */
  @MessagePattern('auth.password.change')
  async changePassword(@Payload() dto: RpcChangePasswordDto, @CurrentAuth() auth: AuthContext): Promise<{ changed: true }> {
    await this.recovery.change(auth, dto.currentPassword, dto.newPassword);
    return { changed: true };
  }
}
