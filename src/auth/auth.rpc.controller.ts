import { Controller } from '@nestjs/common';
import { BaseRpcContext, Ctx, MessagePattern, Payload, RedisContext } from '@nestjs/microservices';

import { ApiMessagePattern } from '../platform/openapi/api-message-pattern.js';
import { RevokedReply } from '../sessions/dto/session.response.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { CurrentAuth } from '../shared/access/current-auth.decorator.js';
import { Public, Roles } from '../shared/access/decorators.js';
import { ErrorCode } from '../shared/errors/app-error.js';
import { UserEnvelope } from '../users/dto/user.response.js';
import type { PublicUser } from '../users/user.mapper.js';
import {
  AccessTokenDto,
  EmailDto,
  LoginWithUserDto,
  MfaVerifyDto,
  RegisterDto,
  ResetPasswordDto,
  RpcChangePasswordDto,
  RpcImpersonateDto,
  RpcLoginDto,
  RpcReauthenticateDto,
  RpcRefreshDto,
  VerifyEmailDto,
} from './dto/auth.dto.js';
import {
  AcceptedReply,
  ChangedReply,
  LoginResultResponse,
  MfaRequiredResponse,
  ResetReply,
  VerificationSent,
  VerifiedAccessToken,
} from './dto/auth.responses.js';
import { EmailVerificationService } from './email-verification.service.js';
import { ImpersonationService } from './impersonation.service.js';
import { LoginResult, LoginService, type MfaRequired } from './login.service.js';
import { PasswordRecoveryService } from './password-recovery.service.js';
import { ReauthenticationService } from './reauthentication.service.js';
import { RegistrationResult, RegistrationService } from './registration.service.js';
import { SecondFactorService } from './second-factor.service.js';

/** A signed-in caller proving the password again (change, re-authentication) meets the lockout. */
const WRONG_PASSWORDS_LOCKED_OUT = {
  code: ErrorCode.TOO_MANY_REQUESTS,
  when: 'the account is locked out after LOCKOUT_THRESHOLD wrong passwords; `retryAfter` seconds',
};

/** The auth message patterns: the same services as the REST controller, for sibling services. */
@Controller()
export class AuthRpcController {
  constructor(
    private readonly registration: RegistrationService,
    private readonly login: LoginService,
    private readonly verification: EmailVerificationService,
    private readonly recovery: PasswordRecoveryService,
    private readonly impersonation: ImpersonationService,
    private readonly reauthentication: ReauthenticationService,
    private readonly secondFactor: SecondFactorService,
  ) {}

  @ApiMessagePattern({
    summary: 'Register a user; answers like REST: { user } with REQUIRE_EMAIL_VERIFICATION off, { status: "verification_sent" } with it on',
    reply: { oneOf: [UserEnvelope, VerificationSent] },
    errors: [ErrorCode.EMAIL_TAKEN, ErrorCode.USERNAME_TAKEN, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @Public()
  @MessagePattern('auth.register')
  register(@Payload() dto: RegisterDto): Promise<RegistrationResult> {
    return this.registration.register(dto);
  }

  @ApiMessagePattern({
    summary:
      'Log in with email or username and password; not rate-limited, but obeys the account lockout (retryAfter in the error). ' +
      'A user with a second factor gets MfaRequired (no tokens): complete with auth.mfa.verify',
    reply: { oneOf: [LoginResultResponse, MfaRequiredResponse] },
    errors: [
      ErrorCode.INVALID_CREDENTIALS,
      ErrorCode.EMAIL_NOT_VERIFIED,
      ErrorCode.USER_DEACTIVATED,
      { code: ErrorCode.TOO_MANY_REQUESTS, when: 'the account is locked out after LOCKOUT_THRESHOLD failures; `retryAfter` seconds' },
      ErrorCode.SERVICE_UNAVAILABLE,
    ],
  })
  @Public()
  @MessagePattern('auth.login')
  signIn(@Payload() dto: RpcLoginDto): Promise<LoginResult | MfaRequired> {
    return this.login.loginWithPassword(dto, dto.connection);
  }

  @ApiMessagePattern({
    summary: 'Rotate a refresh token: same session, new token pair',
    reply: LoginResultResponse,
    errors: [ErrorCode.INVALID_REFRESH_TOKEN, ErrorCode.REFRESH_TOKEN_REUSED, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @Public()
  @MessagePattern('auth.refresh')
  refresh(@Payload() dto: RpcRefreshDto): Promise<LoginResult> {
    return this.login.refresh(dto.refreshToken, dto.connection);
  }

  /** Guarded: the payload's accessToken is verified exactly as a bearer header over REST. */
  @ApiMessagePattern({ summary: 'End the session of the access token', reply: RevokedReply, errors: [ErrorCode.SERVICE_UNAVAILABLE] })
  @MessagePattern('auth.logout')
  async logout(@Payload() _dto: AccessTokenDto, @CurrentAuth() auth: AuthContext): Promise<{ revoked: true }> {
    await this.login.logout(auth);
    return { revoked: true };
  }

  @ApiMessagePattern({
    summary: 'Verify an access token against its live session (a revoked session is refused at once)',
    reply: VerifiedAccessToken,
    errors: [ErrorCode.SERVICE_UNAVAILABLE],
  })
  @MessagePattern('auth.verify')
  verify(@Payload() _dto: AccessTokenDto, @CurrentAuth() auth: AuthContext): Omit<AuthContext, 'impersonatorId'> {
    const { userId, sessionId, roles, isImpersonated, claims, user } = auth;
    return { userId, sessionId, roles, isImpersonated, claims, user };
  }

  /** Trusted callers only: opens a session without a password. */
  @ApiMessagePattern({
    summary: 'Open a session for a user without a password (trusted callers, as accounts-js loginWithUser)',
    reply: LoginResultResponse,
    errors: [ErrorCode.NOT_FOUND, ErrorCode.USER_DEACTIVATED, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @Public()
  @MessagePattern('auth.loginWithUser')
  loginWithUser(@Payload() dto: LoginWithUserDto, @Ctx() context: BaseRpcContext): Promise<LoginResult> {
    return this.login.loginWithUser(dto.userId, dto.connection, context instanceof RedisContext ? 'redis' : 'tcp');
  }

  @ApiMessagePattern({
    summary: 'Verify an email address with the token from the mail',
    reply: UserEnvelope,
    errors: [ErrorCode.INVALID_TOKEN, ErrorCode.PASSWORD_REQUIRED, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @Public()
  @MessagePattern('auth.email.verify')
  verifyEmail(@Payload() dto: VerifyEmailDto): Promise<{ user: PublicUser }> {
    return this.verification.verify(dto.token, dto.password);
  }

  @ApiMessagePattern({ summary: 'Mail a new verification link; answered alike whether or not the address is known', reply: AcceptedReply })
  @Public()
  @MessagePattern('auth.email.resend')
  resendVerification(@Payload() dto: EmailDto): { accepted: true } {
    this.verification.requestResend(dto.email);
    return { accepted: true };
  }

  @ApiMessagePattern({ summary: 'Mail a password reset link; answered alike whether or not the address is known', reply: AcceptedReply })
  @Public()
  @MessagePattern('auth.password.forgot')
  forgotPassword(@Payload() dto: EmailDto): { accepted: true } {
    this.recovery.requestReset(dto.email);
    return { accepted: true };
  }

  @ApiMessagePattern({
    summary: 'Set a new password with the token from the reset mail; every session of the user ends',
    reply: ResetReply,
    errors: [ErrorCode.INVALID_TOKEN, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @Public()
  @MessagePattern('auth.password.reset')
  async resetPassword(@Payload() dto: ResetPasswordDto): Promise<{ reset: true }> {
    await this.recovery.reset(dto.token, dto.password);
    return { reset: true };
  }

  /** Guarded and admin only: the payload's accessToken must be an admin's. */
  @ApiMessagePattern({
    summary: "Act as another user; the accessToken must be an admin's (not oneself, another admin or a deactivated user)",
    reply: LoginResultResponse,
    errors: [
      {
        code: ErrorCode.FORBIDDEN,
        when: 'the target is the caller, an admin or deactivated, or the calling session is itself impersonated',
      },
      { code: ErrorCode.NOT_FOUND, when: 'no user has this id' },
      ErrorCode.SERVICE_UNAVAILABLE,
    ],
  })
  @Roles('admin')
  @MessagePattern('auth.impersonate')
  impersonate(@Payload() dto: RpcImpersonateDto, @CurrentAuth() auth: AuthContext): Promise<LoginResult> {
    return this.impersonation.impersonate(auth, dto.userId);
  }

  /** Guarded: the payload's accessToken names the caller, as over REST. */
  @ApiMessagePattern({
    summary: "Change the password of the accessToken's user; every other session ends",
    reply: ChangedReply,
    errors: [
      { code: ErrorCode.INVALID_CREDENTIALS, when: 'currentPassword is wrong' },
      { code: ErrorCode.FORBIDDEN, when: 'the session is an impersonation' },
      WRONG_PASSWORDS_LOCKED_OUT,
      ErrorCode.SERVICE_UNAVAILABLE,
    ],
  })
  @MessagePattern('auth.password.change')
  async changePassword(@Payload() dto: RpcChangePasswordDto, @CurrentAuth() auth: AuthContext): Promise<{ changed: true }> {
    await this.recovery.change(auth, dto.currentPassword, dto.newPassword);
    return { changed: true };
  }

  /** Guarded: the payload's accessToken names the caller and its session. */
  @ApiMessagePattern({
    summary: "Prove a factor again: the accessToken's session gets auth_time now and a new token pair",
    reply: LoginResultResponse,
    errors: [
      { code: ErrorCode.INVALID_CREDENTIALS, when: 'the password is wrong' },
      { code: ErrorCode.FORBIDDEN, when: 'the session is an impersonation' },
      WRONG_PASSWORDS_LOCKED_OUT,
      ErrorCode.SERVICE_UNAVAILABLE,
    ],
  })
  @MessagePattern('auth.reauthenticate')
  reauthenticate(@Payload() dto: RpcReauthenticateDto, @CurrentAuth() auth: AuthContext): Promise<LoginResult> {
    return this.reauthentication.reauthenticate(auth, { password: dto.password, code: dto.code });
  }

  @ApiMessagePattern({
    summary: 'Complete a sign-in with the second factor: the mfaToken of auth.login (or another first factor) and a code',
    reply: LoginResultResponse,
    errors: [
      { code: ErrorCode.INVALID_MFA_CODE, when: 'a wrong or used code; an unknown, used or expired mfaToken' },
      {
        code: ErrorCode.TOO_MANY_REQUESTS,
        when: "the account's second factor is locked after 10 consecutive wrong codes; `retryAfter` seconds",
      },
      ErrorCode.SERVICE_UNAVAILABLE,
    ],
  })
  @Public()
  @MessagePattern('auth.mfa.verify')
  verifySecondFactor(@Payload() dto: MfaVerifyDto): Promise<LoginResult> {
    return this.secondFactor.verify(dto);
  }
}
