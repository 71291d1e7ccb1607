import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';

import type { TotpSetup } from '../mfa/totp.service.js';
import {
  ApiAdmin,
  ApiAuthenticated,
  ApiErrors,
  BODY_ERRORS,
  RECENT_AUTH_ERRORS,
  SECOND_FACTOR_REQUIRED,
  type DocumentedError,
} from '../platform/openapi/api-errors.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { CurrentAuth } from '../shared/access/current-auth.decorator.js';
import { RequireAal, RequireRecentAuth, Roles } from '../shared/access/decorators.js';
import { ErrorCode, notFound } from '../shared/errors/app-error.js';
import { ConfirmTotpDto } from './dto/mfa.dto.js';
import { MfaStatusResponse, RecoveryCodesResponse, TotpSetupResponse } from './dto/mfa.responses.js';
import { MfaSettingsService, type MfaStatus } from './mfa-settings.service.js';

const FACTOR_ON: DocumentedError = {
  code: ErrorCode.FORBIDDEN,
  when: 'a confirmed second factor exists already: turn it off first',
  message: 'a second factor is on already; turn it off first',
};

/** The 10th consecutive wrong code locks second-factor checks of the account (MfaLockoutService). */
const MFA_LOCKED: DocumentedError = {
  code: ErrorCode.TOO_MANY_REQUESTS,
  when: 'second-factor checks of the account are locked after 10 consecutive wrong codes, for LOCKOUT_DURATION; `Retry-After` header',
  message: 'too many failed attempts; try again later',
};

@ApiTags('second factor')
@Controller('auth/mfa')
export class MfaController {
  constructor(private readonly mfa: MfaSettingsService) {}

  @ApiOperation({
    summary: "The caller's second factors",
    description:
      'Whether TOTP is on (a pending setup is not), and how many recovery codes are left. `passkeys` is empty until passkeys arrive.',
  })
  @ApiOkResponse({ type: MfaStatusResponse })
  @ApiAuthenticated()
  @ApiErrors(ErrorCode.SERVICE_UNAVAILABLE)
  @Get()
  status(@CurrentAuth() auth: AuthContext): Promise<MfaStatus> {
    return this.mfa.status(auth.userId);
  }

  @ApiOperation({
    summary: 'Start a TOTP setup',
    description:
      'A new secret, shown once, pending until POST /auth/mfa/totp/confirm; a new setup replaces a pending one. ' +
      'Needs a recent sign-in (REAUTH_MAX_AGE); refused while a confirmed factor exists.',
  })
  @ApiOkResponse({ type: TotpSetupResponse })
  @ApiAuthenticated()
  @ApiErrors(...RECENT_AUTH_ERRORS, FACTOR_ON, ErrorCode.SERVICE_UNAVAILABLE)
  @RequireRecentAuth()
  @Post('totp/setup')
  @HttpCode(200)
  startSetup(@CurrentAuth() auth: AuthContext): Promise<TotpSetup> {
    return this.mfa.startTotpSetup(auth);
  }

  @ApiOperation({
    summary: 'Confirm the TOTP setup with a code: the second factor is on',
    description:
      'Answers 10 recovery codes, shown once. Every other session of the user is revoked; this session gets `aal` 2, `otp` and `mfa` ' +
      'in its `amr` and `auth_time` now, which its tokens carry from the next refresh (the current access token keeps its claims). ' +
      'A notice is mailed. Wrong codes count toward the second-factor lockout.',
  })
  @ApiOkResponse({ type: RecoveryCodesResponse })
  @ApiAuthenticated()
  @ApiErrors(
    ...BODY_ERRORS,
    { code: ErrorCode.INVALID_MFA_CODE, when: 'the code is wrong, too old or used, or no setup is pending' },
    FACTOR_ON,
    {
      code: ErrorCode.FORBIDDEN,
      when: 'the session is an impersonation',
      message: 'an impersonated session cannot turn on a second factor',
    },
    MFA_LOCKED,
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Post('totp/confirm')
  @HttpCode(200)
  confirm(@CurrentAuth() auth: AuthContext, @Body() dto: ConfirmTotpDto): Promise<{ recoveryCodes: string[] }> {
    return this.mfa.confirmTotp(auth, dto.code);
  }

  @ApiOperation({
    summary: 'Turn the TOTP second factor off',
    description:
      'The factor and its recovery codes are removed and a notice is mailed. Needs a session signed in with the second factor (`aal` 2) ' +
      'and a recent sign-in. Sessions are kept. Answered alike when no factor is on.',
  })
  @ApiNoContentResponse({ description: 'No second factor is on.' })
  @ApiAuthenticated()
  @ApiErrors(SECOND_FACTOR_REQUIRED, ...RECENT_AUTH_ERRORS, ErrorCode.SERVICE_UNAVAILABLE)
  @RequireAal(2)
  @RequireRecentAuth()
  @Delete('totp')
  @HttpCode(204)
  async disable(@CurrentAuth() auth: AuthContext): Promise<void> {
    await this.mfa.disableTotp(auth);
  }

  @ApiOperation({
    summary: 'Replace the recovery codes',
    description:
      'A new set of 10, shown once; the old set stops working at once. Needs `aal` 2, a recent sign-in and a second factor that is on.',
  })
  @ApiOkResponse({ type: RecoveryCodesResponse })
  @ApiAuthenticated()
  @ApiErrors(
    SECOND_FACTOR_REQUIRED,
    ...RECENT_AUTH_ERRORS,
    { code: ErrorCode.FORBIDDEN, when: 'no second factor is on', message: 'no second factor is on' },
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @RequireAal(2)
  @RequireRecentAuth()
  @Post('recovery-codes')
  @HttpCode(200)
  regenerateRecoveryCodes(@CurrentAuth() auth: AuthContext): Promise<{ recoveryCodes: string[] }> {
    return this.mfa.regenerateRecoveryCodes(auth);
  }
}

// Any id that is not a UUID is simply not found.
function UserId(): ParameterDecorator {
  return Param('id', new ParseUUIDPipe({ exceptionFactory: () => notFound('user not found') }));
}

@ApiTags('users (admin)')
@Roles('admin')
@Controller('users')
export class AdminMfaController {
  constructor(private readonly mfa: MfaSettingsService) {}

  @ApiOperation({
    summary: "Turn a user's second factor off (admin)",
    description:
      'For a user who lost both the device and the recovery codes: the factor and the codes are removed, the user is mailed ' +
      '(saying an administrator did it) and `user.mfa_disabled` is audited with the admin as actor. The user keeps their sessions. ' +
      "An admin's own factor is turned off with DELETE /auth/mfa/totp instead. Answered alike when no factor is on.",
  })
  @ApiParam({ name: 'id', format: 'uuid', description: "The user's id (anything else is not found)." })
  @ApiNoContentResponse({ description: 'No second factor is on for the user.' })
  @ApiAdmin()
  @ApiErrors(
    { code: ErrorCode.NOT_FOUND, when: 'no user has this id', message: 'user not found' },
    {
      code: ErrorCode.FORBIDDEN,
      when: "the id is the caller's own",
      message: 'turn your own second factor off with DELETE /auth/mfa/totp',
    },
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Delete(':id/mfa')
  @HttpCode(204)
  async reset(@UserId() id: string, @CurrentAuth() auth: AuthContext): Promise<void> {
    await this.mfa.resetForUser(id, auth.userId);
  }
}
