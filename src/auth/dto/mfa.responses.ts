import { ApiProperty, ApiSchema } from '@nestjs/swagger';

import type { TotpSetup } from '../../mfa/totp.service.js';
import type { MfaStatus } from '../mfa-settings.service.js';

// Response shapes for the OpenAPI document; the handlers return plain objects of these shapes.

@ApiSchema({ name: 'TotpStatus' })
export class TotpStatusResponse {
  @ApiProperty({ description: 'A confirmed factor: sign-ins ask for a code. A pending setup is not enabled.' })
  enabled: boolean;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When the factor was confirmed; null when not enabled.' })
  confirmedAt: string | null;
}

@ApiSchema({ name: 'MfaStatus', description: "The caller's second factors; never a secret." })
export class MfaStatusResponse implements MfaStatus {
  @ApiProperty({ type: TotpStatusResponse })
  totp: TotpStatusResponse;

  @ApiProperty({ type: 'integer', minimum: 0, maximum: 10, description: 'Unused recovery codes; 0 without a second factor.' })
  recoveryCodesLeft: number;

  @ApiProperty({ type: 'array', items: { type: 'object' }, maxItems: 0, description: 'Passkeys come in a later release: empty for now.' })
  passkeys: never[];
}

@ApiSchema({ name: 'TotpSetup', description: 'Shown once; the factor stays pending (not enabled) until a code confirms it.' })
export class TotpSetupResponse implements TotpSetup {
  @ApiProperty({ example: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', description: 'The 160-bit secret in base32, for typing into the app.' })
  secret: string;

  @ApiProperty({
    example: 'otpauth://totp/id.example.com:ada%40example.com?issuer=id.example.com&secret=JBSW…&algorithm=SHA1&digits=6&period=30',
    description: 'The same secret as an otpauth:// URL, for a QR code.',
  })
  otpauthUrl: string;
}

@ApiSchema({ name: 'RecoveryCodes', description: 'Shown once: only their hashes are kept.' })
export class RecoveryCodesResponse {
  @ApiProperty({
    type: [String],
    minItems: 10,
    maxItems: 10,
    example: ['k7mq-2xdn-9fha', '…'],
    description: 'Ten single-use codes `xxxx-xxxx-xxxx`, each standing in for one TOTP code; the previous set is void.',
  })
  recoveryCodes: string[];
}

@ApiSchema({ name: 'MfaDisabled' })
export class MfaDisabledReply {
  @ApiProperty({ enum: [true] })
  disabled: true;
}

@ApiSchema({ name: 'MfaReset' })
export class MfaResetReply {
  @ApiProperty({ enum: [true] })
  reset: true;
}
