import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';

import { AccessTokenDto, TokenDto } from '../auth/dto/auth.dto.js';
import { AcceptedReply } from '../auth/dto/auth.responses.js';
import { ApiMessagePattern } from '../platform/openapi/api-message-pattern.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { CurrentAuth } from '../shared/access/current-auth.decorator.js';
import { Public, RequireRecentAuth } from '../shared/access/decorators.js';
import { ErrorCode } from '../shared/errors/app-error.js';
import { UserEnvelope } from '../users/dto/user.response.js';
import { PublicUser, toPublicUser } from '../users/user.mapper.js';
import { UsersService } from '../users/users.service.js';
import { AccountDeletionService } from './account-deletion.service.js';
import { AccountExport, AccountExportService } from './account-export.service.js';
import { RpcChangeEmailDto, RpcUpdateProfileDto } from './dto/account.dto.js';
import { AccountExportResponse, DeletionScheduled } from './dto/account.responses.js';
import { EmailChangeService } from './email-change.service.js';

/** As over REST: "recent" patterns refuse an impersonation, and an auth_time older than REAUTH_MAX_AGE. */
const RECENT_AUTH_ERRORS = [
  { code: ErrorCode.FORBIDDEN, when: 'the session is an impersonation' },
  { code: ErrorCode.REAUTH_REQUIRED, when: 'no factor proven within REAUTH_MAX_AGE: call auth.reauthenticate' },
];

/** The self-service account patterns: the payload's accessToken names the caller, as the bearer header does over REST. */
@Controller()
export class AccountRpcController {
  constructor(
    private readonly users: UsersService,
    private readonly emailChange: EmailChangeService,
    private readonly exports: AccountExportService,
    private readonly deletion: AccountDeletionService,
  ) {}

  @ApiMessagePattern({
    summary: "Change the accessToken's user's username or display name (null removes either); no other field",
    reply: UserEnvelope,
    errors: [ErrorCode.USERNAME_TAKEN, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @MessagePattern('users.updateProfile')
  async updateProfile(@Payload() dto: RpcUpdateProfileDto, @CurrentAuth() auth: AuthContext): Promise<{ user: PublicUser }> {
    const { username, displayName } = dto;
    return { user: toPublicUser(await this.users.updateProfile(auth.userId, { username, displayName }, auth.sessionId)) };
  }

  @ApiMessagePattern({
    summary: 'Ask to move the account to newEmail; answered alike whatever the address (see POST /auth/email/change)',
    reply: AcceptedReply,
    errors: [...RECENT_AUTH_ERRORS],
  })
  @RequireRecentAuth()
  @MessagePattern('auth.email.change')
  changeEmail(@Payload() dto: RpcChangeEmailDto, @CurrentAuth() auth: AuthContext): { accepted: true } {
    this.emailChange.request(auth, dto.newEmail);
    return { accepted: true };
  }

  @ApiMessagePattern({
    summary: 'Confirm an email change with the token from the mail; every other session of the user ends',
    reply: UserEnvelope,
    errors: [ErrorCode.INVALID_TOKEN, ErrorCode.EMAIL_TAKEN, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @Public()
  @MessagePattern('auth.email.change.confirm')
  confirmEmailChange(@Payload() dto: TokenDto): Promise<{ user: PublicUser }> {
    return this.emailChange.confirm(dto.token);
  }

  @ApiMessagePattern({
    summary: "Everything held about the accessToken's user (see GET /auth/me/export)",
    reply: AccountExportResponse,
    errors: [...RECENT_AUTH_ERRORS, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @RequireRecentAuth()
  @MessagePattern('users.export')
  exportData(@Payload() _dto: AccessTokenDto, @CurrentAuth() auth: AuthContext): Promise<AccountExport> {
    return this.exports.export(auth);
  }

  @ApiMessagePattern({
    summary: "Delete the accessToken's user's account: sessions end at once, data erased after ACCOUNT_DELETION_GRACE",
    reply: DeletionScheduled,
    errors: [...RECENT_AUTH_ERRORS, ErrorCode.LAST_ADMIN, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @RequireRecentAuth()
  @MessagePattern('users.delete')
  deleteAccount(@Payload() _dto: AccessTokenDto, @CurrentAuth() auth: AuthContext): Promise<{ eraseAfter: string }> {
    return this.deletion.request(auth);
  }
}
