import { Body, Controller, Get, HttpCode, Patch, Post, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';

import { TokenDto } from '../auth/dto/auth.dto.js';
import { ApiAuthenticated, ApiErrors, BODY_ERRORS, RATE_LIMITED } from '../platform/openapi/api-errors.js';
import { RateLimitGuard } from '../protection/rate-limit.guard.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { CurrentAuth } from '../shared/access/current-auth.decorator.js';
import { Public, RequireRecentAuth } from '../shared/access/decorators.js';
import { ErrorCode } from '../shared/errors/app-error.js';
import { UserEnvelope } from '../users/dto/user.response.js';
import { toPublicUser, type PublicUser } from '../users/user.mapper.js';
import { UsersService } from '../users/users.service.js';
import { AccountDeletionService } from './account-deletion.service.js';
import { AccountExport, AccountExportService } from './account-export.service.js';
import { ChangeEmailDto, UpdateProfileDto } from './dto/account.dto.js';
import { AccountExportResponse, DeletionScheduled } from './dto/account.responses.js';
import { EmailChangeService } from './email-change.service.js';

/** "recent" routes: an impersonation is refused before the handler, and an old proof asks for a new one. */
const RECENT_AUTH_ERRORS = [
  { code: ErrorCode.FORBIDDEN, when: 'the session is an impersonation', message: 'an impersonated session cannot do this' },
  ErrorCode.REAUTH_REQUIRED,
];

/** The caller's own account, under /auth like the rest of the caller's routes. */
@ApiTags('account')
@Controller('auth')
export class AccountController {
  constructor(
    private readonly users: UsersService,
    private readonly emailChange: EmailChangeService,
    private readonly exports: AccountExportService,
    private readonly deletion: AccountDeletionService,
  ) {}

  @ApiOperation({
    summary: "Change the caller's username or display name",
    description:
      'Only `username` and `displayName` are writable (any other field is 400); null removes either. The username follows the ' +
      'registration rules and must be free (409 USERNAME_TAKEN). Rate-limited per client address like the unauthenticated auth routes.',
  })
  @ApiOkResponse({ type: UserEnvelope })
  @ApiAuthenticated()
  @ApiErrors(
    ...BODY_ERRORS,
    { code: ErrorCode.USERNAME_TAKEN, when: 'another account has this username' },
    RATE_LIMITED,
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @UseGuards(RateLimitGuard)
  @Patch('me')
  async updateProfile(@CurrentAuth() auth: AuthContext, @Body() dto: UpdateProfileDto): Promise<{ user: PublicUser }> {
    return { user: toPublicUser(await this.users.updateProfile(auth.userId, dto, auth.sessionId)) };
  }

  @ApiOperation({
    summary: 'Ask to move the account to a new email address (recent authentication)',
    description:
      'Needs a factor proven within REAUTH_MAX_AGE (else 401 REAUTH_REQUIRED: POST /auth/reauthenticate). Always 202, at once, whatever the new address: it gets a confirmation link (`APP_URL/email-change?token=…`, valid ' +
      'EMAIL_VERIFICATION_TTL, once; a newer request voids it) unless another account holds it, whose owner is mailed instead. ' +
      'The current address is told either way and stays the login until the link is used.',
  })
  @ApiAcceptedResponse({ description: 'Accepted; no body.' })
  @ApiAuthenticated()
  @ApiErrors(
    ...BODY_ERRORS,
    {
      code: ErrorCode.VALIDATION_FAILED,
      when: 'newEmail is already the address of this account',
      message: 'validation failed',
      errors: [{ field: 'newEmail', messages: ['newEmail is already the address of this account'] }],
    },
    ...RECENT_AUTH_ERRORS,
    RATE_LIMITED,
  )
  @RequireRecentAuth()
  @UseGuards(RateLimitGuard)
  @Post('email/change')
  @HttpCode(202)
  changeEmail(@CurrentAuth() auth: AuthContext, @Body() dto: ChangeEmailDto): void {
    this.emailChange.request(auth, dto.newEmail);
  }

  @ApiOperation({
    summary: 'Confirm an email change with the token from the mail',
    description:
      'The new address becomes the login, verified. Every session of the user ends but the one that asked for the change; ' +
      'outstanding reset, verification and change links are void.',
  })
  @ApiBody({ type: TokenDto })
  @ApiOkResponse({ type: UserEnvelope })
  @ApiErrors(
    ...BODY_ERRORS,
    { code: ErrorCode.INVALID_TOKEN, when: 'unknown, expired or used link, or the account is deactivated or being deleted' },
    { code: ErrorCode.EMAIL_TAKEN, when: 'another account took the address since the request (the link stays unused)' },
    RATE_LIMITED,
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Public()
  @UseGuards(RateLimitGuard)
  @Post('email/change/confirm')
  @HttpCode(200)
  confirmEmailChange(@Body() dto: TokenDto): Promise<{ user: PublicUser }> {
    return this.emailChange.confirm(dto.token);
  }

  @ApiOperation({
    summary: 'Everything held about the caller, as JSON',
    description:
      'Profile, every stored session, the audit entries about the user, and second-factor status; never a hash, token, secret or code.',
  })
  @ApiOkResponse({ type: AccountExportResponse })
  @ApiAuthenticated()
  @ApiErrors(...RECENT_AUTH_ERRORS, ErrorCode.SERVICE_UNAVAILABLE)
  @RequireRecentAuth()
  @Get('me/export')
  exportData(@CurrentAuth() auth: AuthContext): Promise<AccountExport> {
    return this.exports.export(auth);
  }

  @ApiOperation({
    summary: "Delete the caller's account (recent authentication)",
    description:
      'Needs a factor proven within REAUTH_MAX_AGE (else 401 REAUTH_REQUIRED). Every session ends at once and the account answers like an unknown one from now on (login: 401 INVALID_CREDENTIALS); a ' +
      'notice is mailed. After ACCOUNT_DELETION_GRACE (`eraseAfter`) every row holding its address or personal data is erased and ' +
      'its audit entries lose their addresses. The last active admin cannot delete the account.',
  })
  @ApiAcceptedResponse({ type: DeletionScheduled })
  @ApiAuthenticated()
  @ApiErrors(...RECENT_AUTH_ERRORS, ErrorCode.LAST_ADMIN, ErrorCode.SERVICE_UNAVAILABLE)
  @RequireRecentAuth()
  @Post('me/delete')
  @HttpCode(202)
  deleteAccount(@CurrentAuth() auth: AuthContext): Promise<{ eraseAfter: string }> {
    return this.deletion.request(auth);
  }
}
