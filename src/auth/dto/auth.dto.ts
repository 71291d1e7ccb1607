import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDefined, IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, ValidateIf } from 'class-validator';

import {
  ACCESS_TOKEN_PROPERTY,
  EMAIL_PROPERTY,
  NEW_PASSWORD_PROPERTY,
  PASSWORD_INPUT_PROPERTY,
  USERNAME_PROPERTY,
  UUID_PROPERTY,
} from '../../platform/openapi/property-docs.js';
import {
  ConnectionDto,
  ConnectionField,
  IsEmailAddress,
  IsNewPassword,
  IsOmittable,
  IsPasswordInput,
  NormalizeString,
} from '../../shared/validation/dto-helpers.js';
import { normalizeEmail, normalizeUsername, USERNAME_PATTERN } from '../../shared/validation/normalize.js';
import { LOGIN_IDENTIFIER_REQUIRED, StringFields } from '../../shared/validation/validation.js';

const REAUTH_PROOF_REQUIRED = 'send password or code';
const TOTP_CODE_PROPERTY = { type: 'string', pattern: '^[0-9]{6}$', example: '492039' } as const;

const USERNAME_MESSAGE = 'username must be 3-32 characters of a-z, 0-9, ".", "_" or "-"';

export class RegisterDto {
  @ApiProperty(EMAIL_PROPERTY)
  @NormalizeString(normalizeEmail)
  @IsEmailAddress()
  @MaxLength(254)
  email: string;

  @ApiProperty(NEW_PASSWORD_PROPERTY)
  @IsNewPassword()
  password: string;

  @ApiPropertyOptional(USERNAME_PROPERTY)
  @IsOmittable()
  @NormalizeString(normalizeUsername)
  @IsString()
  @Matches(USERNAME_PATTERN, { message: USERNAME_MESSAGE })
  username?: string;
}

export class LoginDto {
  @ApiPropertyOptional({ ...EMAIL_PROPERTY, description: 'The email, or else `username`: one of the two is required.' })
  @ValidateIf((o: LoginDto) => o.username === undefined || o.email !== undefined)
  @IsDefined({ message: LOGIN_IDENTIFIER_REQUIRED })
  @NormalizeString(normalizeEmail)
  @IsEmailAddress()
  @MaxLength(254)
  email?: string;

  @ApiPropertyOptional({ ...USERNAME_PROPERTY, description: 'The username, when no `email` is sent.' })
  @ValidateIf((o: LoginDto) => o.email === undefined)
  @IsDefined({ message: LOGIN_IDENTIFIER_REQUIRED })
  @NormalizeString(normalizeUsername)
  @IsString()
  @Matches(USERNAME_PATTERN, { message: USERNAME_MESSAGE })
  username?: string;

  @ApiProperty(PASSWORD_INPUT_PROPERTY)
  @IsPasswordInput()
  password: string;

  /** Session lifetime in seconds, capped at MAX_SESSION_TTL. */
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 60,
    maximum: 10 * 365 * 86400,
    example: 86400,
    description: 'Lifetime of this session in seconds (default SESSION_TTL), capped at MAX_SESSION_TTL.',
  })
  @IsOptional()
  @IsInt({ message: 'ttl must be a whole number of seconds' })
  @Min(60)
  @Max(10 * 365 * 86400)
  ttl?: number;

  /** What passport-local reads as the username field: the email, or else the username. */
  get identifier(): string | undefined {
    return this.email ?? this.username;
  }
}

export class RpcLoginDto extends LoginDto {
  @ConnectionField()
  connection?: ConnectionDto;
}

@StringFields()
export class RefreshDto {
  @ApiProperty({ maxLength: 512, description: 'The refresh token of the last LoginResult; it is rotated.' })
  @MaxLength(512)
  @IsString()
  refreshToken: string;
}

/** Over REST the refresh token may instead come in the gh_refresh cookie (cookie mode). */
@StringFields()
export class RestRefreshDto {
  @ApiPropertyOptional({
    maxLength: 512,
    description:
      'The refresh token of the last LoginResult; it is rotated. Required, except in cookie mode where the gh_refresh cookie may carry it instead.',
  })
  // Checked bottom-up: the type first, so a null or a number is told "must be a string".
  @IsOmittable()
  @MaxLength(512)
  @IsString()
  refreshToken?: string;
}

export class RpcRefreshDto extends RefreshDto {
  @ConnectionField()
  connection?: ConnectionDto;
}

@StringFields()
export class AccessTokenDto {
  @ApiProperty(ACCESS_TOKEN_PROPERTY)
  @IsString()
  @MaxLength(8192)
  accessToken: string;
}

export class LoginWithUserDto {
  @ApiProperty(UUID_PROPERTY)
  @IsUUID('all', { message: 'userId must be a UUID' })
  userId: string;

  @ConnectionField()
  connection?: ConnectionDto;
}

export class TokenDto {
  @ApiProperty({ maxLength: 512, description: 'The token from the link in the mail.' })
  @IsString()
  @MaxLength(512)
  token: string;
}

export class VerifyEmailDto extends TokenDto {
  @ApiPropertyOptional({
    ...NEW_PASSWORD_PROPERTY,
    description:
      "Required (400 PASSWORD_REQUIRED without it) when the link is of a contested sign-up; when given, it becomes the account's password.",
  })
  @IsOmittable()
  @IsNewPassword()
  password?: string;
}

export class EmailDto {
  @ApiProperty(EMAIL_PROPERTY)
  @NormalizeString(normalizeEmail)
  @IsEmailAddress()
  @MaxLength(254)
  email: string;
}

export class ResetPasswordDto {
  @ApiProperty({ maxLength: 512, description: 'The token from the reset link in the mail; works once.' })
  @IsString()
  @MaxLength(512)
  token: string;

  @ApiProperty(NEW_PASSWORD_PROPERTY)
  @IsNewPassword()
  password: string;
}

export class ChangePasswordDto {
  @ApiProperty(PASSWORD_INPUT_PROPERTY)
  @IsPasswordInput()
  currentPassword: string;

  @ApiProperty(NEW_PASSWORD_PROPERTY)
  @IsNewPassword()
  newPassword: string;
}

export class RpcChangePasswordDto extends ChangePasswordDto {
  @ApiProperty(ACCESS_TOKEN_PROPERTY)
  @IsString()
  @MaxLength(8192)
  accessToken: string;
}

/** One proof: the password, or a code of the user's confirmed TOTP. */
export class ReauthenticateDto {
  @ApiPropertyOptional({ ...PASSWORD_INPUT_PROPERTY, description: "The caller's password; or else `code`." })
  @ValidateIf((o: ReauthenticateDto) => o.code === undefined || o.password !== undefined)
  @IsDefined({ message: REAUTH_PROOF_REQUIRED })
  @IsPasswordInput()
  password?: string;

  @ApiPropertyOptional({ ...TOTP_CODE_PROPERTY, description: "A code of the caller's authenticator app, when no `password` is sent." })
  @ValidateIf((o: ReauthenticateDto) => o.password === undefined)
  @IsDefined({ message: REAUTH_PROOF_REQUIRED })
  @IsString()
  @Matches(/^\d{6}$/, { message: 'code must be the 6 digits of the authenticator app' })
  code?: string;
}

export class RpcReauthenticateDto extends ReauthenticateDto {
  @ApiProperty(ACCESS_TOKEN_PROPERTY)
  @IsString()
  @MaxLength(8192)
  accessToken: string;
}

export const SECOND_FACTOR_METHODS = ['totp', 'recovery_code'] as const;

export class MfaVerifyDto {
  @ApiProperty({ maxLength: 64, description: "The mfaToken of the first factor's answer (single use, 5 minutes)." })
  @IsString()
  @MaxLength(64)
  mfaToken: string;

  @ApiProperty({ enum: SECOND_FACTOR_METHODS, description: 'Which second factor `code` is.' })
  @IsIn(SECOND_FACTOR_METHODS, { message: `method must be one of ${SECOND_FACTOR_METHODS.join(', ')}` })
  method: (typeof SECOND_FACTOR_METHODS)[number];

  @ApiProperty({
    maxLength: 64,
    example: '492039',
    description: 'The 6 digits of the authenticator app (`totp`), or a recovery code such as `abcd-efgh-jkmn` (`recovery_code`).',
  })
  @IsString()
  @MaxLength(64)
  code: string;
}

export class ImpersonateDto {
  @ApiProperty({ ...UUID_PROPERTY, description: 'The user to act as: not oneself, not an admin, not deactivated.' })
  @IsUUID('all', { message: 'userId must be a UUID' })
  userId: string;
}

export class RpcImpersonateDto extends ImpersonateDto {
  @ApiProperty({ ...ACCESS_TOKEN_PROPERTY, description: "An admin's access token." })
  @IsString()
  @MaxLength(8192)
  accessToken: string;
}
