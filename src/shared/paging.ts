import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min, registerDecorator } from 'class-validator';

import { validationFailed } from './errors/app-error.js';

const CURSOR_MESSAGE = 'cursor is not valid';

/** A cursor this service issued: refused by the pipe before it can reach a query. */
function IsPageCursor(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isPageCursor',
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: CURSOR_MESSAGE },
      validator: { validate: (value: unknown) => typeof value === 'string' && parseCursor(value) !== undefined },
    });
}

/** Query fields shared by the paged admin lists. */
export class PageQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 50, description: 'Page size.' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be a whole number from 1 to 100' })
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ maxLength: 200, description: 'The nextCursor of the previous page.' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @IsPageCursor()
  cursor?: string;
}

export const DEFAULT_PAGE_SIZE = 50;

/** An opaque cursor for keyset paging on (time, id), newest first. */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`).toString('base64url');
}

const CURSOR_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The position a cursor names, or undefined unless it is exactly what encodeCursor makes of a real
 * instant and a UUID: anything looser (a 13th month, 36 hyphens) reached PostgreSQL's casts as a 500.
 */
export function parseCursor(cursor: string): { at: string; id: string } | undefined {
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (parts.length !== 2) return undefined;
  const [at, id] = parts;
  if (!CURSOR_TIME.test(at) || !UUID.test(id) || encodeCursor(at, id) !== cursor) return undefined;
  // A calendar date and time that exist (no 30 February, no hour 24), from year 1 on as PostgreSQL has it.
  const time = Date.parse(at);
  if (Number.isNaN(time) || at.startsWith('0000') || new Date(time).toISOString().slice(0, 19) !== at.slice(0, 19)) return undefined;
  return { at, id };
}

export function decodeCursor(cursor: string): { at: string; id: string } {
  const position = parseCursor(cursor);
  if (!position) throw validationFailed('validation failed', [{ field: 'cursor', messages: [CURSOR_MESSAGE] }]);
  return position;
}
