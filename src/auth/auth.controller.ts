import { Body, Controller, Get, HttpCode, Inject, Post, Req, Res, UseGuards } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { connectionOf } from '../platform/http/http-connection.js';
import {
  ApiAuthenticated,
  ApiErrors,
  BODY_ERRORS,
  RATE_LIMITED,
  WEAK_NEW_PASSWORD,
  WEAK_PASSWORD,
} from '../platform/openapi/api-errors.js';
import { RateLimitGuard } from '../protection/rate-limit.guard.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { CurrentAuth } from '../shared/access/current-auth.decorator.js';
import { Public, Roles } from '../shared/access/decorators.js';
import { ErrorCode, validationFailed } from '../shared/errors/app-error.js';
import { LOGIN_IDENTIFIER_REQUIRED } from '../shared/validation/validation.js';
import { UserEnvelope } from '../users/dto/user.response.js';
import type { PublicUser } from '../users/user.mapper.js';
import { assertCsrfSafe, clearTokenCookies, refreshTokenCookie, setTokenCookies } from './auth-cookies.js';
import { LOGIN_OUTCOMES } from './auth.openapi.js';
import type { VerifiedUser } from './credentials.service.js';
import {
  ChangePasswordDto,
  EmailDto,
  ImpersonateDto,
  LoginDto,
  MfaVerifyDto,
  ReauthenticateDto,
  RegisterDto,
  ResetPasswordDto,
  RestRefreshDto,
  VerifyEmailDto,
} from './dto/auth.dto.js';
import { LoginResultResponse, VerificationSent } from './dto/auth.responses.js';
import { EmailVerificationService } from './email-verification.service.js';
import { LoginGuard } from './guards/login.guard.js';
import { ImpersonationService } from './impersonation.service.js';
import { LoginResult, LoginService, type MfaRequired } from './login.service.js';
import { PasswordRecoveryService } from './password-recovery.service.js';
import { ReauthenticationService } from './reauthentication.service.js';
import { RegistrationResult, RegistrationService } from './registration.service.js';
import { SecondFactorService } from './second-factor.service.js';

/** A LoginResult; in cookie mode without the refresh token, which then travels only as a cookie. */
type LoginResponse =
  LoginResult | (Omit<LoginResult, 'tokens'> & { tokens: Omit<LoginResult['tokens'], 'refreshToken'>; csrfToken: string });

/** A signed-in caller proving the password again (change, re-authentication) meets the lockout. */
const WRONG_PASSWORDS_LOCKED_OUT = {
  code: ErrorCode.TOO_MANY_REQUESTS,
  when: 'the account is locked out after LOCKOUT_THRESHOLD wrong passwords; `Retry-After` header',
  message: 'too many failed attempts; try again later',
};

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(
    private readonly registration: RegistrationService,
    private readonly login: LoginService,
    private readonly verification: EmailVerificationService,
    private readonly recovery: PasswordRecoveryService,
    private readonly impersonation: ImpersonationService,
    private readonly reauthentication: ReauthenticationService,
    private readonly secondFactor: SecondFactorService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** In cookie mode the tokens also go out as cookies, and the refresh token only as a cookie. */
  private deliver(result: LoginResult, reply: FastifyReply): LoginResponse {
    if (!this.config.authCookies) return result;
    const csrfToken = setTokenCookies(reply, result.tokens);
    const { refreshToken: _cookieOnly, ...tokens } = result.tokens;
    return { ...result, tokens, csrfToken };
  }

  @ApiOperation({
    summary: 'Register a user',
    description:
      'A verification link is mailed either way. With REQUIRE_EMAIL_VERIFICATION on (the default) the answer is 202 for every ' +
      'address and username alike; what the sign-up found is told only to the mailbox: a verified address gets an "account exists" mail, ' +
      'a taken username a "username taken" mail (no account is made), and a second sign-up for an unverified address voids every password ' +
      'and username of that account and mails a link that asks the clicker to choose the password. ' +
      'With it off: 201 with the user, or 409 EMAIL_TAKEN / USERNAME_TAKEN.',
  })
  @ApiAcceptedResponse({ type: VerificationSent, description: 'REQUIRE_EMAIL_VERIFICATION on: accepted; check the mailbox.' })
  @ApiCreatedResponse({ type: UserEnvelope, description: 'REQUIRE_EMAIL_VERIFICATION off: the new user.' })
  @ApiErrors(
    ...BODY_ERRORS,
    WEAK_PASSWORD,
    { code: ErrorCode.EMAIL_TAKEN, when: 'the address is registered already (only with REQUIRE_EMAIL_VERIFICATION off)' },
    {
      code: ErrorCode.USERNAME_TAKEN,
      when: 'the username is taken (only with REQUIRE_EMAIL_VERIFICATION off; with it on, the mailbox is told instead)',
    },
    RATE_LIMITED,
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Public()
  @UseGuards(RateLimitGuard)
  @Post('register')
  async register(@Body() dto: RegisterDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<RegistrationResult> {
    const result = await this.registration.register(dto);
    void reply.status('user' in result ? 201 : 202);
    return result;
  }

  @ApiOperation({
    summary: 'Log in with email or username and password',
    description:
      'Opens a session. After LOCKOUT_THRESHOLD consecutive failures for one account, it is refused with 429 for LOCKOUT_DURATION ' +
      '(a completed password reset ends the lock). In cookie mode the tokens are also set as cookies and the refresh token is left out of the body.',
  })
  @ApiBody({ type: LoginDto })
  @ApiOkResponse({
    schema: LOGIN_OUTCOMES,
    description: 'The session (LoginResult), or for a user with a second factor the step to complete it (MfaRequired), with no tokens.',
  })
  @ApiErrors(
    ...BODY_ERRORS,
    {
      code: ErrorCode.VALIDATION_FAILED,
      when: 'neither email nor username: message `username or email is required`, `errors` naming both',
      message: LOGIN_IDENTIFIER_REQUIRED,
      errors: [
        { field: 'email', messages: [LOGIN_IDENTIFIER_REQUIRED] },
        { field: 'username', messages: [LOGIN_IDENTIFIER_REQUIRED] },
      ],
    },
    ErrorCode.INVALID_CREDENTIALS,
    ErrorCode.EMAIL_NOT_VERIFIED,
    ErrorCode.USER_DEACTIVATED,
    RATE_LIMITED,
    {
      code: ErrorCode.TOO_MANY_REQUESTS,
      when: 'the account is locked out after LOCKOUT_THRESHOLD failures (an unknown address is answered alike); `Retry-After` header',
      message: 'too many failed attempts; try again later',
    },
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Public()
  @UseGuards(RateLimitGuard, LoginGuard)
  @Post('login')
  @HttpCode(200)
  async signIn(
    @Req() request: FastifyRequest & { user: VerifiedUser; body: LoginDto },
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<LoginResponse | MfaRequired> {
    // The body was validated into a LoginDto by LoginGuard, before the password check.
    const result = await this.login.completeFirstFactor(request.user.user, {
      amr: ['pwd'],
      ttl: request.body.ttl,
      connection: connectionOf(request),
      checkedPasswordHash: request.user.checkedPasswordHash,
    });
    return 'mfaRequired' in result ? result : this.deliver(result, reply);
  }

  @ApiOperation({
    summary: 'Complete a sign-in with the second factor',
    description:
      'Takes the mfaToken a first factor answered and a code of the second factor: the 6 digits of the authenticator app (`totp`) or an ' +
      'unused recovery code (`recovery_code`, which is then spent and mailed about). Answers the session the first factor asked for, at `aal` 2. ' +
      'The mfaToken works once, lives 5 minutes and dies after 5 wrong codes; 10 consecutive wrong codes for an account lock its second ' +
      'factor for LOCKOUT_DURATION. In cookie mode the tokens are also set as cookies and the refresh token is left out of the body.',
  })
  @ApiOkResponse({ type: LoginResultResponse })
  @ApiErrors(
    ...BODY_ERRORS,
    { code: ErrorCode.INVALID_MFA_CODE, when: 'a wrong or used code', message: 'invalid code' },
    {
      code: ErrorCode.INVALID_MFA_CODE,
      when: 'an unknown, used or expired mfaToken, one that took 5 wrong codes, or whose password changed since',
      message: 'invalid or expired mfaToken: sign in again',
    },
    {
      code: ErrorCode.TOO_MANY_REQUESTS,
      when: "the account's second factor is locked after 10 consecutive wrong codes; `Retry-After` header",
      message: 'too many failed attempts; try again later',
    },
    RATE_LIMITED,
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Public()
  @UseGuards(RateLimitGuard)
  @Post('mfa/verify')
  @HttpCode(200)
  async verifySecondFactor(@Body() dto: MfaVerifyDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<LoginResponse> {
    return this.deliver(await this.secondFactor.verify(dto), reply);
  }

  @ApiOperation({
    summary: 'Exchange a refresh token for a new token pair',
    description:
      'Same session, new access and refresh tokens; the presented refresh token stops working. Presenting it again after ' +
      'REFRESH_REUSE_INTERVAL revokes the whole session. In cookie mode the token may come from the gh_refresh cookie instead, with the CSRF check.',
  })
  @ApiOkResponse({ type: LoginResultResponse })
  @ApiErrors(...BODY_ERRORS, ErrorCode.INVALID_REFRESH_TOKEN, ErrorCode.REFRESH_TOKEN_REUSED, RATE_LIMITED, ErrorCode.SERVICE_UNAVAILABLE)
  @Public()
  @UseGuards(RateLimitGuard)
  @Post('refresh')
  @HttpCode(200)
  async refresh(
    @Body() dto: RestRefreshDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<LoginResponse> {
    let token = dto.refreshToken;
    if (token === undefined && this.config.authCookies) {
      // From the cookie: a cookie-authenticated write, so the CSRF check applies.
      token = refreshTokenCookie(request);
      if (token !== undefined) assertCsrfSafe(request, this.config);
    }
    if (token === undefined)
      throw validationFailed('validation failed', [{ field: 'refreshToken', messages: ['refreshToken is required'] }]);
    return this.deliver(await this.login.refresh(token, connectionOf(request)), reply);
  }

  @ApiOperation({
    summary: 'End the current session',
    description: 'Its access tokens stop working at once; cookie mode clears the cookies.',
  })
  @ApiNoContentResponse({ description: 'The session is revoked.' })
  @ApiAuthenticated()
  @ApiErrors(ErrorCode.SERVICE_UNAVAILABLE)
  @Post('logout')
  @HttpCode(204)
  async logout(@CurrentAuth() auth: AuthContext, @Res({ passthrough: true }) reply: FastifyReply): Promise<void> {
    await this.login.logout(auth);
    if (this.config.authCookies) clearTokenCookies(reply);
  }

  @ApiOperation({ summary: 'The calling user' })
  @ApiOkResponse({ type: UserEnvelope })
  @ApiAuthenticated()
  @ApiErrors(ErrorCode.SERVICE_UNAVAILABLE)
  @Get('me')
  me(@CurrentAuth() auth: AuthContext): { user: PublicUser } {
    return { user: auth.user };
  }

  @ApiOperation({
    summary: 'Verify an email address with the token from the mail',
    description:
      'The token works once; verifying voids every other link of the account. ' +
      "The link of a contested sign-up (a second sign-up for the unverified address) needs `password`, which becomes the account's; " +
      'without it: 400 PASSWORD_REQUIRED and the link stays usable. A password given with any link replaces the account\'s (a "password changed" notice is mailed).',
  })
  @ApiOkResponse({ type: UserEnvelope })
  @ApiErrors(
    ...BODY_ERRORS,
    ErrorCode.INVALID_TOKEN,
    ErrorCode.PASSWORD_REQUIRED,
    WEAK_PASSWORD,
    RATE_LIMITED,
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Public()
  @UseGuards(RateLimitGuard)
  @Post('email/verify')
  @HttpCode(200)
  verifyEmail(@Body() dto: VerifyEmailDto): Promise<{ user: PublicUser }> {
    return this.verification.verify(dto.token, dto.password);
  }

  @ApiOperation({
    summary: 'Mail a new verification link',
    description: 'Answered alike whether or not the address is known or already verified.',
  })
  @ApiAcceptedResponse({ description: 'Accepted; no body.' })
  @ApiErrors(...BODY_ERRORS, RATE_LIMITED)
  @Public()
  @UseGuards(RateLimitGuard)
  @Post('email/resend')
  @HttpCode(202)
  resendVerification(@Body() dto: EmailDto): void {
    this.verification.requestResend(dto.email);
  }

  @ApiOperation({
    summary: 'Mail a password reset link',
    description:
      'Answered alike whether or not the address is known. The token lives PASSWORD_RESET_TTL (30 minutes), works once, and a newer request voids older tokens.',
  })
  @ApiAcceptedResponse({ description: 'Accepted; no body.' })
  @ApiErrors(...BODY_ERRORS, RATE_LIMITED)
  @Public()
  @UseGuards(RateLimitGuard)
  @Post('password/forgot')
  @HttpCode(202)
  forgotPassword(@Body() dto: EmailDto): void {
    this.recovery.requestReset(dto.email);
  }

  @ApiOperation({
    summary: 'Set a new password with the token from the reset mail',
    description: 'Every session of the user is revoked, and a lockout ends.',
  })
  @ApiNoContentResponse({ description: 'The password is replaced.' })
  @ApiErrors(...BODY_ERRORS, WEAK_PASSWORD, ErrorCode.INVALID_TOKEN, RATE_LIMITED, ErrorCode.SERVICE_UNAVAILABLE)
  @Public()
  @UseGuards(RateLimitGuard)
  @Post('password/reset')
  @HttpCode(204)
  async resetPassword(@Body() dto: ResetPasswordDto): Promise<void> {
    await this.recovery.reset(dto.token, dto.password);
  }

  @ApiOperation({
    summary: 'Act as another user (admin)',
    description:
      'A session of the target lasting at most an hour, its tokens marked `isImpersonated` with `act.sub` the admin; always answered in the body, never as cookies.',
  })
  @ApiOkResponse({ type: LoginResultResponse })
  @ApiAuthenticated()
  @ApiErrors(
    ...BODY_ERRORS,
    { code: ErrorCode.FORBIDDEN, when: 'the caller is not an admin', message: 'insufficient role' },
    { code: ErrorCode.FORBIDDEN, when: 'the target is the caller, an admin or deactivated', message: 'an admin cannot be impersonated' },
    {
      code: ErrorCode.FORBIDDEN,
      when: 'the calling session is itself impersonated',
      message: 'an impersonated session cannot impersonate',
    },
    { code: ErrorCode.NOT_FOUND, when: 'no user has this id', message: 'user not found' },
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Roles('admin')
  @Post('impersonate')
  @HttpCode(200)
  async impersonate(@CurrentAuth() auth: AuthContext, @Body() dto: ImpersonateDto, @Req() request: FastifyRequest): Promise<LoginResult> {
    // Always in the body: the admin's browser must not swap its own cookies for the target's.
    return this.impersonation.impersonate(auth, dto.userId, connectionOf(request));
  }

  @ApiOperation({
    summary: 'Prove a factor again (the password, or a code of the authenticator app), for the routes that need a recent sign-in',
    description:
      'Same session, new access and refresh tokens whose `auth_time` is now (the presented refresh token stops working). ' +
      'Routes marked "recent" answer 401 REAUTH_REQUIRED when the last proof is older than REAUTH_MAX_AGE. ' +
      'A wrong password counts toward the account lockout.',
  })
  @ApiOkResponse({ type: LoginResultResponse })
  @ApiAuthenticated()
  @ApiErrors(
    ...BODY_ERRORS,
    { code: ErrorCode.INVALID_CREDENTIALS, when: 'the password is wrong' },
    {
      code: ErrorCode.INVALID_MFA_CODE,
      when: 'the code is wrong or used, or the user has no confirmed authenticator app',
      message: 'invalid code',
    },
    { code: ErrorCode.FORBIDDEN, when: 'the session is an impersonation', message: 'an impersonated session cannot re-authenticate' },
    WRONG_PASSWORDS_LOCKED_OUT,
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Post('reauthenticate')
  @HttpCode(200)
  async reauthenticate(
    @CurrentAuth() auth: AuthContext,
    @Body() dto: ReauthenticateDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<LoginResponse> {
    return this.deliver(await this.reauthentication.reauthenticate(auth, dto), reply);
  }

  @ApiOperation({ summary: "Change the caller's password", description: 'Every other session of the user is revoked; a notice is mailed.' })
  @ApiNoContentResponse({ description: 'The password is replaced.' })
  @ApiAuthenticated()
  @ApiErrors(
    ...BODY_ERRORS,
    WEAK_NEW_PASSWORD,
    { code: ErrorCode.INVALID_CREDENTIALS, when: 'currentPassword is wrong (counted toward the lockout; no mail)' },
    { code: ErrorCode.FORBIDDEN, when: 'the session is an impersonation', message: 'an impersonated session cannot change the password' },
    WRONG_PASSWORDS_LOCKED_OUT,
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Post('password/change')
  @HttpCode(204)
  async changePassword(@CurrentAuth() auth: AuthContext, @Body() dto: ChangePasswordDto): Promise<void> {
    await this.recovery.change(auth, dto.currentPassword, dto.newPassword);
  }
}
