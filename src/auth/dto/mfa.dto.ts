import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, MaxLength } from 'class-validator';

import { ACCESS_TOKEN_PROPERTY } from '../../platform/openapi/property-docs.js';

const TOTP_CODE = /^\d{6}$/;

export class ConfirmTotpDto {
  @ApiProperty({
    type: String,
    pattern: TOTP_CODE.source,
    example: '492039',
    description: 'The 6-digit code the authenticator app shows for the secret of the setup.',
  })
  @Matches(TOTP_CODE, { message: 'code must be 6 digits' })
  @IsString()
  code: string;
}

export class RpcConfirmTotpDto extends ConfirmTotpDto {
  @ApiProperty(ACCESS_TOKEN_PROPERTY)
  @IsString()
  @MaxLength(8192)
  accessToken: string;
}
