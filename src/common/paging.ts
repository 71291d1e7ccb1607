import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { validationFailed } from './app-error.js';

/** Query fields shared by the paged admin lists. */
export class PageQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 50, description: 'Page size.' })
  @IsOptional() @Type(() => Number) @IsInt({ message: 'limit must be a whole number from 1 to 100' }) @Min(1) @Max(100)
  limit?: number;

  @ApiPropertyOptional({ maxLength: 200, description: 'The nextCursor of the previous page.' })
  @IsOptional() @IsString() @MaxLength(200)
  cursor?: string;
}

export const DEFAULT_PAGE_SIZE = 50;

/** An opaque cursor for keyset paging on (time, id), newest first. */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { at: string; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!at || !id || !/^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(at) || !/^[0-9a-f-]{36}$/i.test(id)) {
    throw validationFailed('validation failed', [{ field: 'cursor', messages: ['cursor is not valid'] }]);
  }
  return { at, id };
}
