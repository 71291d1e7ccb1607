import { Body, Controller, Get, HttpCode, Inject, Post, Req, Res, UseGuards } from '@nestjs/common';
import { validationFailed } from '../common/app-error.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { assertCsrfSafe, clearTokenCookies, refreshTokenCookie, setTokenCookies } from './auth-cookies.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { connectionOf } from '../common/http-connection.js';
import type { PublicUser } from '../users/user.mapper.js';
import type { VerifiedUser } from './credentials.service.js';
import type { AuthContext } from './auth-context.js';
import { CurrentAuth } from './current-auth.decorator.js';
import { Public, Roles } from './decorators.js';
import { ImpersonationService } from './impersonation.service.js';
import { ChangePasswordDto, EmailDto, ImpersonateDto, type LoginDto, RegisterDto, ResetPasswordDto, RestRefreshDto, TokenDto } from './dto/auth.dto.js';
import { EmailVerificationService } from './email-verification.service.js';
import { PasswordRecoveryService } from './password-recovery.service.js';
import { LoginGuard } from './guards/login.guard.js';
import { RateLimitGuard } from './guards/rate-limit.guard.js';
import { LoginResult, LoginService } from './login.service.js';
import { RegistrationResult, RegistrationService } from './registration.service.js';

/** A LoginResult; in cookie mode without the refresh token, which then travels only as a cookie. */
type LoginResponse = LoginResult | (Omit<LoginResult, 'tokens'> & { tokens: Omit<LoginResult['tokens'], 'refreshToken'>; csrfToken: string });

@Controller('auth')
export class AuthController {
  constructor(
    private readonly registration: RegistrationService,
    private readonly login: LoginService,
    private readonly verification: EmailVerificationService,
    private readonly recovery: PasswordRecoveryService,
    private readonly impersonation: ImpersonationService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** In cookie mode the tokens also go out as cookies, and the refresh token only as a cookie. */
  private deliver(result: LoginResult, reply: FastifyReply): LoginResponse {
    if (!this.config.authCookies) return result;
    const csrfToken = setTokenCookies(reply, result.tokens);
    const { refreshToken: _cookieOnly, ...tokens } = result.tokens;
    return { ...result, tokens, csrfToken };
  }

  @Public()
  @UseGuards(RateLimitGuard)
  @Post('register')
  async register(@Body() dto: RegisterDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<RegistrationResult> {
    const result = await this.registration.register(dto);
    void reply.status('user' in result ? 201 : 202);
    return result;
  }

  @Public()
  @UseGuards(RateLimitGuard, LoginGuard)
  @Post('login')
  @HttpCode(200)
  async signIn(@Req() request: FastifyRequest & { user: VerifiedUser; body: LoginDto }, @Res({ passthrough: true }) reply: FastifyReply): Promise<LoginResponse> {
    // The body was validated into a LoginDto by LoginGuard, before the password check.
    const result = await this.login.startSession(request.user.user, {
      ttl: request.body.ttl,
      connection: connectionOf(request),
      checkedPasswordHash: request.user.checkedPasswordHash,
    });
    return this.deliver(result, reply);
  }

  @Public()
  @UseGuards(RateLimitGuard)
  @Post('refresh')
  @HttpCode(200)
  async refresh(@Body() dto: RestRefreshDto, @Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<LoginResponse> {
    let token = dto.refreshToken;
    if (token === undefined && this.config.authCookies) {
      // From the cookie: a cookie-authenticated write, so the CSRF check applies.
      token = refreshTokenCookie(request);
      if (token !== undefined) assertCsrfSafe(request, this.config);
    }
    if (token === undefined) throw validationFailed('validation failed', [{ field: 'refreshToken', messages: ['refreshToken is required'] }]);
    return this.deliver(await this.login.refresh(token, connectionOf(request)), reply);
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@CurrentAuth() auth: AuthContext, @Res({ passthrough: true }) reply: FastifyReply): Promise<void> {
    await this.login.logout(auth);
    if (this.config.authCookies) clearTokenCookies(reply);
  }

  @Get('me')
  me(@CurrentAuth() auth: AuthContext): { user: PublicUser } {
    return { user: auth.user };
  }

  @Public()
  @UseGuards(RateLimitGuard)
  @Post('email/verify')
  @HttpCode(200)
  verifyEmail(@Body() dto: TokenDto): Promise<{ user: PublicUser }> {
    return this.verification.verify(dto.token);
  }

  @Public()
  @UseGuards(RateLimitGuard)
  @Post('email/resend')
  @HttpCode(202)
  resendVerification(@Body() dto: EmailDto): void {
    this.verification.requestResend(dto.email);
  }

  @Public()
  @UseGuards(RateLimitGuard)
  @Post('password/forgot')
  @HttpCode(202)
  forgotPassword(@Body() dto: EmailDto): void {
    this.recovery.requestReset(dto.email);
  }

  @Public()
  @UseGuards(RateLimitGuard)
  @Post('password/reset')
  @HttpCode(204)
  async resetPassword(@Body() dto: ResetPasswordDto): Promise<void> {
    await this.recovery.reset(dto.token, dto.password);
  }

  @Roles('admin')
  @Post('impersonate')
  @HttpCode(200)
  async impersonate(@CurrentAuth() auth: AuthContext, @Body() dto: ImpersonateDto, @Req() request: FastifyRequest): Promise<LoginResult> {
    // Always in the body: the admin's browser must not swap its own cookies for the target's.
    return this.impersonation.impersonate(auth, dto.userId, connectionOf(request));
  }

  @Post('password/change')
  @HttpCode(204)
  async changePassword(@CurrentAuth() auth: AuthContext, @Body() dto: ChangePasswordDto): Promise<void> {
    await this.recovery.change(auth, dto.currentPassword, dto.newPassword);
  }
}
