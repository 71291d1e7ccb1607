import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayUnique, IsArray, IsOptional, IsString, Matches, MaxLength } from 'class-validator';

import { EMAIL_PROPERTY, USERNAME_PROPERTY } from '../../platform/openapi/property-docs.js';
import { PageQueryDto } from '../../shared/paging.js';
import { IsEmailAddress, NormalizeString } from '../../shared/validation/dto-helpers.js';
import { normalizeEmail, normalizeUsername, USERNAME_PATTERN } from '../../shared/validation/normalize.js';

export class ListUsersQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ ...EMAIL_PROPERTY, description: 'Only the user with this address (exact, after normalisation).' })
  @IsOptional()
  @NormalizeString(normalizeEmail)
  @IsEmailAddress()
  @MaxLength(254)
  email?: string;

  @ApiPropertyOptional({ ...USERNAME_PROPERTY, description: 'Only the user with this username (exact, after normalisation).' })
  @IsOptional()
  @NormalizeString(normalizeUsername)
  @IsString()
  @Matches(USERNAME_PATTERN, { message: 'username must be 3-32 characters of a-z, 0-9, ".", "_" or "-"' })
  username?: string;
}

export const ROLE_PATTERN = /^[a-z][a-z0-9_:-]{0,31}$/;

export class SetRolesDto {
  @ApiProperty({
    type: 'array',
    items: { type: 'string', pattern: ROLE_PATTERN.source },
    maxItems: 20,
    uniqueItems: true,
    example: ['user', 'admin'],
    description: 'The complete new list of roles (replaces the old one).',
  })
  @IsArray()
  @ArrayMaxSize(20)
  @ArrayUnique()
  @IsString({ each: true })
  @Matches(ROLE_PATTERN, { each: true, message: 'each role must be 1-32 characters of a-z, 0-9, "_", ":" or "-", starting with a letter' })
  roles: string[];
}
