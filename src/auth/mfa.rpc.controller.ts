import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';

import type { TotpSetup } from '../mfa/totp.service.js';
import { RECENT_AUTH_ERRORS, SECOND_FACTOR_REQUIRED } from '../platform/openapi/api-errors.js';
import { ApiMessagePattern } from '../platform/openapi/api-message-pattern.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { CurrentAuth } from '../shared/access/current-auth.decorator.js';
import { Public, RequireAal, RequireRecentAuth } from '../shared/access/decorators.js';
import { ErrorCode } from '../shared/errors/app-error.js';
import { UserIdDto } from '../users/dto/users.dto.js';
import { AccessTokenDto } from './dto/auth.dto.js';
import { RpcConfirmTotpDto } from './dto/mfa.dto.js';
import { MfaDisabledReply, MfaResetReply, MfaStatusResponse, RecoveryCodesResponse, TotpSetupResponse } from './dto/mfa.responses.js';
import { MfaSettingsService, type MfaStatus } from './mfa-settings.service.js';

const FACTOR_ON = { code: ErrorCode.FORBIDDEN, when: 'a confirmed second factor exists already: turn it off first' };

/**
 * The second-factor message patterns: the same service as the REST controllers. Guarded ones take
 * the caller from the payload's accessToken, with the same assurance checks as over REST.
 */
@Controller()
export class MfaRpcController {
  constructor(private readonly mfa: MfaSettingsService) {}

  @ApiMessagePattern({
    summary: "The accessToken's user's second factors: { totp: { enabled, confirmedAt }, recoveryCodesLeft, passkeys: [] }",
    reply: MfaStatusResponse,
    errors: [ErrorCode.SERVICE_UNAVAILABLE],
  })
  @MessagePattern('auth.mfa.status')
  status(@Payload() _dto: AccessTokenDto, @CurrentAuth() auth: AuthContext): Promise<MfaStatus> {
    return this.mfa.status(auth.userId);
  }

  @ApiMessagePattern({
    summary: 'Start a TOTP setup (recent sign-in): a secret, shown once, pending until auth.mfa.totp.confirm',
    reply: TotpSetupResponse,
    errors: [...RECENT_AUTH_ERRORS, FACTOR_ON, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @RequireRecentAuth()
  @MessagePattern('auth.mfa.totp.setup')
  startSetup(@Payload() _dto: AccessTokenDto, @CurrentAuth() auth: AuthContext): Promise<TotpSetup> {
    return this.mfa.startTotpSetup(auth);
  }

  @ApiMessagePattern({
    summary:
      "Confirm the TOTP setup with a code: 10 recovery codes, shown once; every other session ends, the accessToken's session gets aal 2 (its tokens from the next refresh)",
    reply: RecoveryCodesResponse,
    errors: [
      { code: ErrorCode.INVALID_MFA_CODE, when: 'the code is wrong, too old or used, or no setup is pending' },
      FACTOR_ON,
      { code: ErrorCode.FORBIDDEN, when: 'the session is an impersonation' },
      {
        code: ErrorCode.TOO_MANY_REQUESTS,
        when: 'second-factor checks of the account are locked after 10 consecutive wrong codes; `retryAfter` seconds',
      },
      ErrorCode.SERVICE_UNAVAILABLE,
    ],
  })
  @MessagePattern('auth.mfa.totp.confirm')
  confirm(@Payload() dto: RpcConfirmTotpDto, @CurrentAuth() auth: AuthContext): Promise<{ recoveryCodes: string[] }> {
    return this.mfa.confirmTotp(auth, dto.code);
  }

  @ApiMessagePattern({
    summary: 'Turn the TOTP second factor off (aal 2, recent sign-in); its recovery codes go with it',
    reply: MfaDisabledReply,
    errors: [SECOND_FACTOR_REQUIRED, ...RECENT_AUTH_ERRORS, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @RequireAal(2)
  @RequireRecentAuth()
  @MessagePattern('auth.mfa.totp.disable')
  async disable(@Payload() _dto: AccessTokenDto, @CurrentAuth() auth: AuthContext): Promise<{ disabled: true }> {
    await this.mfa.disableTotp(auth);
    return { disabled: true };
  }

  @ApiMessagePattern({
    summary: 'Replace the recovery codes (aal 2, recent sign-in): a new set of 10, shown once; the old set is void',
    reply: RecoveryCodesResponse,
    errors: [
      SECOND_FACTOR_REQUIRED,
      ...RECENT_AUTH_ERRORS,
      { code: ErrorCode.FORBIDDEN, when: 'no second factor is on' },
      ErrorCode.SERVICE_UNAVAILABLE,
    ],
  })
  @RequireAal(2)
  @RequireRecentAuth()
  @MessagePattern('auth.mfa.recoveryCodes.regenerate')
  regenerateRecoveryCodes(@Payload() _dto: AccessTokenDto, @CurrentAuth() auth: AuthContext): Promise<{ recoveryCodes: string[] }> {
    return this.mfa.regenerateRecoveryCodes(auth);
  }

  /** Trusted callers only (private network), like the other users.* patterns. */
  @ApiMessagePattern({
    summary: "Turn a user's second factor off (trusted callers): factor and recovery codes removed, the user mailed; sessions kept",
    reply: MfaResetReply,
    errors: [ErrorCode.NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @Public()
  @MessagePattern('users.mfa.reset')
  async reset(@Payload() dto: UserIdDto): Promise<{ reset: true }> {
    await this.mfa.resetForUser(dto.id);
    return { reset: true };
  }
}
