import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsString, Matches, MaxLength, ValidateIf } from 'class-validator';

import { ACCESS_TOKEN_PROPERTY, EMAIL_PROPERTY, USERNAME_PROPERTY } from '../../platform/openapi/property-docs.js';
import { HasNoControlCharacters, IsEmailAddress, NORMALIZE_MAX_LENGTH, NormalizeString } from '../../shared/validation/dto-helpers.js';
import {
  DISPLAY_NAME_MAX_LENGTH,
  normalizeDisplayName,
  normalizeEmail,
  normalizeUsername,
  USERNAME_PATTERN,
} from '../../shared/validation/normalize.js';

const USERNAME_MESSAGE = 'username must be 3-32 characters of a-z, 0-9, ".", "_" or "-"';
/** Sent, and not null: null is a value of its own here (it clears the field). */
const isValue = (_object: unknown, value: unknown): boolean => value !== undefined && value !== null;

/** Only these fields are writable here: the email, roles and verification state never are (400 for any other field). */
export class UpdateProfileDto {
  @ApiPropertyOptional({ ...USERNAME_PROPERTY, nullable: true, description: `${USERNAME_PROPERTY.description} Null removes it.` })
  @ValidateIf(isValue)
  @NormalizeString(normalizeUsername)
  // Checked bottom-up: the type first.
  @Matches(USERNAME_PATTERN, { message: USERNAME_MESSAGE })
  @IsString()
  username?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: DISPLAY_NAME_MAX_LENGTH,
    example: 'Ada Lovelace',
    description:
      'Shown to people; NFKC-normalised and trimmed (an empty one is null), at most 64 characters, no control characters or bidirectional overrides. Null removes it.',
  })
  @ValidateIf(isValue)
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && value.length <= NORMALIZE_MAX_LENGTH ? normalizeDisplayName(value) : value,
  )
  // Bidirectional overrides and isolates make a name display as something else than it is.
  @Matches(/^[^\u202A-\u202E\u2066-\u2069]*$/u, {
    message: 'displayName must not contain bidirectional control characters',
  })
  @HasNoControlCharacters('displayName')
  @MaxLength(DISPLAY_NAME_MAX_LENGTH, { message: `displayName must be at most ${DISPLAY_NAME_MAX_LENGTH} characters` })
  @IsString()
  displayName?: string | null;
}

export class RpcUpdateProfileDto extends UpdateProfileDto {
  @ApiProperty(ACCESS_TOKEN_PROPERTY)
  @IsString()
  @MaxLength(8192)
  accessToken: string;
}

export class ChangeEmailDto {
  @ApiProperty({ ...EMAIL_PROPERTY, description: 'The address to move the account to; it must confirm through the mailed link.' })
  @NormalizeString(normalizeEmail)
  @IsEmailAddress({ message: 'newEmail must be a valid email address' })
  @MaxLength(254)
  newEmail: string;
}

export class RpcChangeEmailDto extends ChangeEmailDto {
  @ApiProperty(ACCESS_TOKEN_PROPERTY)
  @IsString()
  @MaxLength(8192)
  accessToken: string;
}
