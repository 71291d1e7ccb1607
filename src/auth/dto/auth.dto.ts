import { IsDefined, IsEmail, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import { ConnectionDto, ConnectionField, IsNewPassword, IsPasswordInput, NormalizeString } from '../../common/dto-helpers.js';
import { LOGIN_IDENTIFIER_REQUIRED } from '../../common/validation.js';
import { normalizeEmail, normalizeUsername, USERNAME_PATTERN } from '../../users/normalize.js';

const EMAIL_MESSAGE = 'email must be a valid email address';
const USERNAME_MESSAGE = 'username must be 3-32 characters of a-z, 0-9, ".", "_" or "-"';

export class RegisterDto {
  @NormalizeString(normalizeEmail) @IsEmail({}, { message: EMAIL_MESSAGE }) @MaxLength(254)
  email: string;

  @IsNewPassword()
  password: string;

  @IsOptional() @NormalizeString(normalizeUsername) @IsString() @Matches(USERNAME_PATTERN, { message: USERNAME_MESSAGE })
  username?: string;
}

export class LoginDto {
  @ValidateIf((o: LoginDto) => o.username === undefined || o.email !== undefined)
  @IsDefined({ message: LOGIN_IDENTIFIER_REQUIRED })
  @NormalizeString(normalizeEmail) @IsEmail({}, { message: EMAIL_MESSAGE }) @MaxLength(254)
  email?: string;

  @ValidateIf((o: LoginDto) => o.email === undefined)
  @IsDefined({ message: LOGIN_IDENTIFIER_REQUIRED })
  @NormalizeString(normalizeUsername) @IsString() @Matches(USERNAME_PATTERN, { message: USERNAME_MESSAGE })
  username?: string;

  @IsPasswordInput()
  password: string;

  /** Session lifetime in seconds, capped at MAX_SESSION_TTL. */
  @IsOptional() @IsInt({ message: 'ttl must be a whole number of seconds' }) @Min(60) @Max(10 * 365 * 86400)
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

export class RefreshDto {
  @IsString() @MaxLength(512)
  refreshToken: string;
}

/** Over REST the refresh token may instead come in the gh_refresh cookie (cookie mode). */
export class RestRefreshDto {
  @IsOptional() @IsString() @MaxLength(512)
  refreshToken?: string;
}

export class RpcRefreshDto extends RefreshDto {
  @ConnectionField()
  connection?: ConnectionDto;
}

export class AccessTokenDto {
  @IsString() @MaxLength(8192)
  accessToken: string;
}

export class LoginWithUserDto {
  @IsUUID('all', { message: 'userId must be a UUID' })
  userId: string;

  @ConnectionField()
  connection?: ConnectionDto;
}

export class TokenDto {
  @IsString() @MaxLength(512)
  token: string;
}

export class EmailDto {
  @NormalizeString(normalizeEmail) @IsEmail({}, { message: EMAIL_MESSAGE }) @MaxLength(254)
  email: string;
}

export class ResetPasswordDto {
  @IsString() @MaxLength(512)
  token: string;

  @IsNewPassword()
  password: string;
}

export class ChangePasswordDto {
  @IsPasswordInput()
  currentPassword: string;

  @IsNewPassword()
  newPassword: string;
}

export class RpcChangePasswordDto extends ChangePasswordDto {
  @IsString() @MaxLength(8192)
  accessToken: string;
}

export class ImpersonateDto {
  @IsUUID('all', { message: 'userId must be a UUID' })
  userId: string;
}

export class RpcImpersonateDto extends ImpersonateDto {
  @IsString() @MaxLength(8192)
  accessToken: string;
}
