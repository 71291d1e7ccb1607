import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  MaxLength,
  registerDecorator,
  ValidateNested,
} from 'class-validator';

import { EMAIL_PROPERTY, USERNAME_PROPERTY, UUID_PROPERTY } from '../../platform/openapi/property-docs.js';
import { IsEmailAddress, IsOmittable, NormalizeString } from '../../shared/validation/dto-helpers.js';
import { normalizeEmail, normalizeUsername, USERNAME_PATTERN } from '../../shared/validation/normalize.js';
import { isSupportedHash } from '../password-hasher.service.js';
import { ROLE_PATTERN } from './admin-users.dto.js';

function IsSupportedHash(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isSupportedHash',
      target: target.constructor,
      propertyName: String(propertyName),
      validator: {
        validate: (value: unknown) => typeof value === 'string' && isSupportedHash(value),
        defaultMessage: () =>
          'passwordHash must be a bcrypt ($2a$, $2b$, $2y$; cost 4-14) or argon2 hash (m at most 262144, t at most 10, p at most 4)',
      },
    });
}

export class UserIdDto {
  @ApiProperty(UUID_PROPERTY)
  @IsUUID('all', { message: 'id must be a UUID' })
  id: string;
}

export class UserEmailDto {
  @ApiProperty(EMAIL_PROPERTY)
  @NormalizeString(normalizeEmail)
  @IsEmailAddress()
  @MaxLength(254)
  email: string;
}

export class ImportedUserDto {
  @ApiProperty(EMAIL_PROPERTY)
  @NormalizeString(normalizeEmail)
  @IsEmailAddress()
  @MaxLength(254)
  email: string;

  @ApiPropertyOptional(USERNAME_PROPERTY)
  @IsOmittable()
  @NormalizeString(normalizeUsername)
  @IsString()
  @Matches(USERNAME_PATTERN, { message: 'username must be 3-32 characters of a-z, 0-9, ".", "_" or "-"' })
  username?: string;

  @ApiProperty({
    example: '$2b$10$…',
    description: 'A bcrypt ($2a$, $2b$, $2y$; cost 4-14) or argon2 hash; replaced by argon2id at the first login.',
  })
  @IsString()
  @IsSupportedHash()
  passwordHash: string;

  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  emailVerified?: boolean;

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', pattern: ROLE_PATTERN.source },
    maxItems: 20,
    uniqueItems: true,
    default: ['user'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @ArrayUnique()
  @Matches(ROLE_PATTERN, { each: true, message: 'each role must be 1-32 characters of a-z, 0-9, "_", ":" or "-"' })
  roles?: string[];
}

export class ImportUsersDto {
  @ApiProperty({ type: () => [ImportedUserDto], minItems: 1, maxItems: 1000 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @ValidateNested({ each: true })
  @Type(() => ImportedUserDto)
  users: ImportedUserDto[];
}
