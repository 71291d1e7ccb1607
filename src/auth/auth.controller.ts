import { Body, Controller, Get, HttpCode, Post, Req, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { connectionOf } from '../common/http-connection.js';
import type { PublicUser } from '../users/user.mapper.js';
import type { VerifiedUser } from './credentials.service.js';
import type { AuthContext } from './auth-context.js';
import { CurrentAuth } from './current-auth.decorator.js';
import { Public, Roles } from './decorators.js';
import { ImpersonationService } from './impersonation.service.js';
import { ChangePasswordDto, EmailDto, ImpersonateDto, type LoginDto, RefreshDto, RegisterDto, ResetPasswordDto, TokenDto } from './dto/auth.dto.js';
import { EmailVerificationService } from './email-verification.service.js';
import { PasswordRecoveryService } from './password-recovery.service.js';
import { LoginGuard } from './guards/login.guard.js';
import { RateLimitGuard } from './guards/rate-limit.guard.js';
import { LoginResult, LoginService } from './login.service.js';
import { RegistrationResult, RegistrationService } from './registration.service.js';

@Controller('auth')
export class AuthController {
  constructor(
    private readonly registration: RegistrationService,
    private readonly login: LoginService,
    private readonly verification: EmailVerificationService,
    private readonly recovery: PasswordRecoveryService,
    private readonly impersonation: ImpersonationService,
  ) {}

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
  signIn(@Req() request: FastifyRequest & { user: VerifiedUser; body: LoginDto }): Promise<LoginResult> {
    // The body was validated into a LoginDto by LoginGuard, before the password check.
    return this.login.startSession(request.user.user, {
      ttl: request.body.ttl,
      connection: connectionOf(request),
      checkedPasswordHash: request.user.checkedPasswordHash,
    });
  }

  @Public()
  @UseGuards(RateLimitGuard)
  @Post('refresh')
  @HttpCode(200)
  refresh(@Body() dto: RefreshDto, @Req() request: FastifyRequest): Promise<LoginResult> {
    return this.login.refresh(dto.refreshToken, connectionOf(request));
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@CurrentAuth() auth: AuthContext): Promise<void> {
    await this.login.logout(auth);
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
  impersonate(@CurrentAuth() auth: AuthContext, @Body() dto: ImpersonateDto, @Req() request: FastifyRequest): Promise<LoginResult> {
    return this.impersonation.impersonate(auth, dto.userId, connectionOf(request));
  }

  @Post('password/change')
  @HttpCode(204)
  async changePassword(@CurrentAuth() auth: AuthContext, @Body() dto: ChangePasswordDto): Promise<void> {
    await this.recovery.change(auth, dto.currentPassword, dto.newPassword);
  }
}
